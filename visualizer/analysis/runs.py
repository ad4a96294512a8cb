"""The models behind an atlas: their files in the runs directory, their identity, and held-out images.

An atlas records which model and snapshot rendered each image, not where
the model file is: that is ``<runs>/<model>/<snapshot>/model.keras``
(docs/formats.md), with ``<runs>`` from ``--runs``, the config's
``project.runs_dir``, or ``runs/<atlas folder name>``. A model file is
checked against the atlas: every layer the atlas has images of must exist
in it with the channel count the atlas recorded, or it is refused by name.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from visualizer.errors import VtlError

__all__ = [
    "ModelMismatchError",
    "check_model",
    "dataset_facts",
    "file_identity",
    "find_runs_dir",
    "held_out_images",
    "load_model",
    "model_file",
]


class ModelMismatchError(VtlError):
    """A model file does not match the layers the atlas recorded for that model."""


def find_runs_dir(
    atlas_dir: str | os.PathLike, runs: str | os.PathLike | None, config: Any = None
) -> Path | None:
    """The runs directory: `runs` if given, else the config's, else ``runs/<atlas name>`` when it exists."""
    if runs:
        return Path(runs)
    if config is not None:
        return config.resolve_path(config.project.runs_dir)
    guess = Path("runs") / Path(atlas_dir).resolve().name
    return guess if guess.is_dir() else None


def model_file(runs_dir: Path | None, model: str, snapshot: str) -> Path | None:
    """``<runs>/<model>/<snapshot>/model.keras`` when the snapshot is complete (its ``meta.json`` exists)."""
    if runs_dir is None:
        return None
    folder = Path(runs_dir) / model / snapshot
    path = folder / "model.keras"
    return path if path.is_file() and (folder / "meta.json").is_file() else None


_IDENTITY: dict[tuple[str, int, int], str] = {}


def file_identity(path: Path) -> str:
    """The SHA-256 of a model file (remembered per path, size and modification time in this process)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _IDENTITY:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _IDENTITY[key] = digest.hexdigest()
    return _IDENTITY[key]


def check_model(model, path: Path, name: str, expected: dict[str, int]) -> None:  # noqa: ANN001 (a keras.Model)
    """Refuse a model that lacks a layer of the atlas or has another channel count there.

    Raises:
        ModelMismatchError: naming the file, the layer and both counts.
    """
    names = {layer.name for layer in model.layers}
    for layer, channels in sorted(expected.items()):
        if layer not in names:
            raise ModelMismatchError(
                f"{path}: the model file has no layer {layer!r}, which the atlas has images of for model "
                f"{name!r}; it does not match the atlas"
            )
        found = int(model.get_layer(layer).output.shape[-1])
        if found != channels:
            raise ModelMismatchError(
                f"{path}: layer {layer!r} has {found} channels in the model file and {channels} in the "
                "atlas's "
                f"images of model {name!r}; it does not match the atlas"
            )


_MODELS: dict[str, Any] = {}


def load_model(path: Path, name: str, expected: dict[str, int]):  # noqa: ANN201 (a keras.Model)
    """Load a snapshot's model (kept for this process) and `check_model` it against the atlas."""
    from visualizer.models.saved import load_saved_model

    key = file_identity(path)
    if key not in _MODELS:
        if len(_MODELS) >= 8:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = load_saved_model(path)
    model = _MODELS[key]
    check_model(model, path, name, expected)
    return model


def dataset_facts(config: Any, model: str) -> tuple[Any, int] | None:
    """(the opened dataset, its training images) of a model in `config`; None when the config lacks it."""
    from visualizer.data.loader import open_dataset

    if config is None or model not in config.model_names():
        return None
    spec = config.model(model)
    if spec.source == "checkpoint":
        return None
    root = config.resolve_path(spec.dataset.path) if spec.dataset.path else None
    dataset = open_dataset(spec.dataset, root, config.network.image_size, config.project.seed)
    return dataset, dataset.size("train")


def held_out_images(config: Any, model: str, count: int) -> tuple[np.ndarray, str] | None:
    """The first `count` validation images of `model`'s dataset in `config`, and the dataset's name."""
    facts = dataset_facts(config, model)
    if facts is None:
        return None
    from visualizer.data.base import first_validation_images

    dataset = facts[0]
    images = first_validation_images(dataset, count)
    if not len(images):
        return None
    return images, dataset.name
