"""A tiny experiment trained once and shared by the training tests.

Width 0.125 at 32 px: a pretrained parent on the animals world and a child
transferred to the flowers world with snapshots. The runs are written once
per test session into a folder shared by the xdist workers (a file lock
keeps a second worker from training them again).
"""

from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

import pytest

from visualizer.config import load_config

CONFIG = """\
[project]
name = "tiny"
seed = 0
runs_dir = "runs"

[network]
width = 0.125
image_size = 32

[[models]]
name = "parent"
source = "pretrain"
dataset = { kind = "world", world = "animals", validation_size = 160 }
head = "single_dense"
steps = 60
batch_size = 16
learning_rate = 0.003
batch_norm_momentum = 0.8

[[models]]
name = "child"
source = "transfer"
parent = "parent"
dataset = { kind = "world", world = "flowers", validation_size = 34 }
head = "dense"
steps = 6
batch_size = 8
snapshots = [0, 2, 4]
batch_norm_momentum = 0.8
"""


def write_config(root: Path, text: str = CONFIG) -> Path:
    """Write a config as ``<root>/configs/tiny.toml`` (so runs land in ``<root>/runs``)."""
    path = root / "configs" / "tiny.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Path:
    """The root of the tiny experiment, trained (parent and child)."""
    from visualizer.train import train_all

    shared = tmp_path_factory.getbasetemp().parent / "tiny-experiment"
    shared.mkdir(exist_ok=True)
    with open(shared / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / ".done").exists():
            shutil.rmtree(shared / "runs", ignore_errors=True)
            train_all(load_config(write_config(shared)), progress=False)
            (shared / ".done").write_text("ok")
        fcntl.flock(lock, fcntl.LOCK_UN)
    return shared


def copy_parent(trained_root: Path, root: Path) -> Path:
    """A fresh experiment folder holding only the trained parent."""
    shutil.copytree(trained_root / "runs" / "parent", root / "runs" / "parent")
    return write_config(root)


os.environ.setdefault("KERAS_BACKEND", "tensorflow")
