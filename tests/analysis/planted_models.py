"""Small InceptionV1 networks with planted truth, for the analysis tests (not a test module).

A freshly built network has every batch norm at mean 0 and variance 1, so
its convs' tiny outputs leave most channels dead; `calibrated` sets each
batch norm's statistics from images, as training would, so every layer's
channels respond. The pairs below change chosen channels in known ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from visualizer.data.worlds import open_world
from visualizer.models import inception_v1
from visualizer.models.graph import truncate
from visualizer.models.layers import LAYERS

WIDTH = 0.125
SIZE = 48


def world_images(count: int = 48, size: int = SIZE, world: str = "source") -> np.ndarray:
    """`count` validation images of a demo world, float32 in [0, 1]."""
    dataset = open_world(world, size, 0)
    chunks, total = [], 0
    for images, _ in dataset.validation_batches(64):
        chunks.append(images[: count - total])
        total += len(chunks[-1])
        if total >= count:
            break
    return np.concatenate(chunks).astype("float32")


def calibrate(model: keras.Model, images: np.ndarray, layers: Iterable[str] | None = None) -> keras.Model:
    """Set each layer's batch-norm statistics to its conv's mean and variance on `images`, in graph order."""
    for layer in layers or [layer.id for layer in LAYERS]:
        outputs = np.asarray(truncate(model, f"{layer}_conv")(images, training=False), dtype="float64")
        norm = model.get_layer(f"{layer}_bn")
        beta = norm.get_weights()[0]
        norm.set_weights([beta, outputs.mean(axis=(0, 1, 2)), outputs.var(axis=(0, 1, 2)) + 1e-6])
    return model


def calibrated(seed: int, images: np.ndarray, width: float = WIDTH) -> keras.Model:
    """A randomly initialized network whose every channel responds to `images`."""
    keras.utils.set_random_seed(seed)
    model = inception_v1.build(width=width, head="single_dense", num_classes=4)
    return calibrate(model, images)


def clone(model: keras.Model) -> keras.Model:
    """A copy with the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def reinitialize(
    model: keras.Model, layer: str, channels: Iterable[int], images: np.ndarray, seed: int
) -> None:
    """Give `channels` of `layer` fresh random filters (and batch-norm statistics for them)."""
    conv, norm = model.get_layer(f"{layer}_conv"), model.get_layer(f"{layer}_bn")
    (kernel,) = conv.get_weights()
    rng = np.random.default_rng(seed)
    channels = list(channels)
    for channel in channels:
        scale = np.linalg.norm(kernel[..., channel])
        fresh = rng.normal(size=kernel[..., channel].shape)
        kernel[..., channel] = fresh / np.linalg.norm(fresh) * scale
    conv.set_weights([kernel])
    outputs = np.asarray(truncate(model, f"{layer}_conv")(images, training=False), dtype="float64")
    beta, mean, variance = norm.get_weights()
    mean[channels] = outputs.mean(axis=(0, 1, 2))[channels]
    variance[channels] = outputs.var(axis=(0, 1, 2))[channels] + 1e-6
    norm.set_weights([beta, mean, variance])


def duplicate(model: keras.Model, layer: str, pairs: Iterable[tuple[int, int]]) -> None:
    """Make channel `target` of `layer` an exact copy of channel `source`, for each (source, target)."""
    conv, norm = model.get_layer(f"{layer}_conv"), model.get_layer(f"{layer}_bn")
    (kernel,) = conv.get_weights()
    beta, mean, variance = norm.get_weights()
    for source, target in pairs:
        kernel[..., target] = kernel[..., source]
        beta[target], mean[target], variance[target] = beta[source], mean[source], variance[source]
    conv.set_weights([kernel])
    norm.set_weights([beta, mean, variance])


def save_snapshot(
    runs: Path, model: keras.Model, name: str, snapshot: str = "final", iteration: int = 100
) -> Path:
    """Write ``runs/<name>/<snapshot>/model.keras`` and its ``meta.json``, as `vtl train` does."""
    folder = runs / name / snapshot
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    meta = {"model": name, "snapshot": snapshot, "iteration": iteration, "is_final": snapshot == "final"}
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder / "model.keras"


def write_atlas(
    root: Path,
    images: dict[tuple[str, str, str, int], np.ndarray],
    channels: dict[tuple[str, str], int],
    iterations: dict[tuple[str, str], int] | None = None,
    parents: dict[str, str] | None = None,
    infos: dict[tuple[str, str], dict] | None = None,
) -> Path:
    """An atlas of the given images: {(model, snapshot, layer, channel): float image in [0, 1]}.

    Args:
        root: the atlas folder.
        images: the images, method ``lucid``.
        channels: {(model, layer): the layer's channels in that model}.
        iterations: {(model, snapshot): iteration} (default 100, 0 for ``iter_000000``).
        parents: {model: the model it was transferred from}.
        infos: {(model, layer): more model info each image records} (a network's facts,
            `visualizer.atlas.networks.network_info`).
    """
    from visualizer.analysis.spatial import image_metrics
    from visualizer.atlas.catalog import Catalog, ImageRecord
    from visualizer.atlas.keys import ImageKey
    from visualizer.pngio import file_sha256, to_uint8, write_png_atomic

    records = []
    for (model, snapshot, layer, channel), image in sorted(images.items()):
        key = ImageKey(model, snapshot, "lucid", layer, channel)
        pixels = to_uint8(image)
        iteration = (iterations or {}).get((model, snapshot), 0 if snapshot == "iter_000000" else 100)
        info = {
            "channels": channels[(model, layer)],
            "iteration": iteration,
            "is_final": snapshot == "final",
            "parent": (parents or {}).get(model),
            **(infos or {}).get((model, layer), {}),
        }
        record = ImageRecord(key, 1.0, {"size": int(image.shape[0])}, info)
        record.metrics = image_metrics(pixels)
        record.bytes = write_png_atomic(root / key.relpath, pixels, record.png_text())
        record.sha256 = file_sha256(root / key.relpath)
        records.append(record)
    with Catalog(root) as catalog:
        catalog.add_images(records)
    return root
