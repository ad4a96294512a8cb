"""Write a runs directory (docs/formats.md) with tiny untrained models, for atlas tests."""

from __future__ import annotations

import json
from pathlib import Path

TINY_CONFIG = """
[project]
name = "tiny"
seed = 0
runs_dir = "runs"
atlas_dir = "atlas"

[network]
width = 0.125
image_size = 32

[[models]]
name = "imagenet"
source = "pretrain"
dataset = {{ kind = "world", world = "source" }}
head = "single_dense"

[[models]]
name = "celeba"
source = "transfer"
parent = "imagenet"
dataset = {{ kind = "world", world = "faces" }}
snapshots = [0, 10]

[render]
size = {size}
steps = {steps}

[[render.plan]]
models = ["imagenet", "celeba"]
snapshots = "all"
layers = ["Conv2d_2b_1x1", "Mixed_3b_Branch_3_b_1x1"]
channels = "first:{channels}"
"""


def write_tiny_experiment(
    root: Path, size: int = 32, steps: int = 3, channels: int = 3, extra: str = ""
) -> Path:
    """Create ``root/configs/tiny.toml`` (TOML `extra` appended) and untrained snapshots of its models.

    Returns:
        The config path.
    """
    import keras

    from visualizer.models import inception_v1

    (root / "configs").mkdir(parents=True, exist_ok=True)
    config_path = root / "configs" / "tiny.toml"
    config_path.write_text(TINY_CONFIG.format(size=size, steps=steps, channels=channels) + extra)
    snapshots = {
        "imagenet": [("final", 100)],
        "celeba": [("iter_000000", 0), ("iter_000010", 10), ("final", 20)],
    }
    for model_index, (name, entries) in enumerate(snapshots.items()):
        for snapshot, iteration in entries:
            keras.utils.set_random_seed(model_index * 100 + iteration)
            model = inception_v1.build(num_classes=3, head="single_dense", width=0.125)
            folder = root / "runs" / name / snapshot
            folder.mkdir(parents=True, exist_ok=True)
            model.save(folder / "model.keras")
            meta = {
                "model": name,
                "snapshot": snapshot,
                "iteration": iteration,
                "is_final": snapshot == "final",
                "dataset": "tiny world",
                "dataset_kind": "world",
                "num_classes": 3,
                "class_names": ["a", "b", "c"],
                "head": "single_dense",
                "multi_label": False,
                "width": 0.125,
                "image_size": 32,
                "loss": 1.0,
                "metric_name": "accuracy",
                "metric": 0.5,
                "parent": None if name == "imagenet" else "imagenet",
                "config_hash": "test",
                "created": "2026-01-01T00:00:00+00:00",
                "description": f"tiny {name}",
            }
            (folder / "meta.json").write_text(json.dumps(meta))
    return config_path


def other_methods_section(config_path: Path, dist: Path, layer: str = "Mixed_3b_Branch_3_b_1x1") -> str:
    """Render a tiny experiment, build its gallery in `dist`; return channel 0's "Other methods" HTML."""
    from tests.conftest import ROOT
    from visualizer.atlas.job import render_atlas
    from visualizer.config import load_config
    from vtl_gallery.build import build_site

    config = load_config(config_path)
    render_atlas(config, progress=False)
    build_site(
        config.resolve_path(config.project.atlas_dir),
        dist,
        site_src=ROOT / "vtl_gallery" / "site_src",
        workers=1,
        log=lambda _: None,
    )
    text = (dist / "layer" / layer / "0" / "index.html").read_text()
    return text[text.index("<h2>Other methods</h2>") :]
