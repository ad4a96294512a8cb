"""A deterministic fake atlas, written exactly per docs/formats.md.

The site generator's tests and benchmark need an atlas without a GPU or a
trained model: this module writes one. Images are small synthetic textures
(a few sinusoids per channel, seeded from the image key) that carry the same
PNG text chunks a real render writes, and ``catalog.sqlite`` has every table
of the contract. The ``layers`` table lists all 57 layers of the catalogue.

    from fake_atlas import write_fake_atlas, replace_image
    atlas = write_fake_atlas(tmp_path / "atlas")
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from visualizer.atlas.catalog import CATALOG_NAME, Catalog
from visualizer.models.layers import LAYERS, figure6_layers, figure7_layers

__all__ = [
    "BENCHMARK_MODELS",
    "DEFAULT_LAYERS",
    "DEMO_MODELS",
    "DEFAULT_MODELS",
    "FakeModel",
    "ImageKey",
    "replace_image",
    "write_fake_atlas",
]

CREATED = "2020-06-01T00:00:00Z"  # fixed so that the atlas is byte-for-byte deterministic


@dataclass(frozen=True)
class FakeModel:
    """One model of the fake atlas.

    Attributes:
        name: model name (an atlas key component).
        dataset: human-readable dataset name.
        parent: the model it was transferred from, or None for a root.
        snapshots: ``(snapshot, iteration, metric)`` triples, oldest first;
            the last one is the final snapshot.
        layers: layer ids rendered for this model (None: the atlas default).
        channels: channels rendered per layer (None: the atlas default;
            ``-1``: every channel of the full-width layer).
        description: free text.
        dataset_kind: the catalog's ``models.dataset_kind`` (``"world"``: a synthetic world).
        metric_name: the snapshots' validation metric.
        methods: render methods of this model (None: the atlas default).
        extra_methods: more methods on some layers only, as ``(layer id, methods)``
            pairs (the demo renders negative and diverse images for one layer).
        width: the network's width multiplier (the demo's is 0.25): the
            catalog's ``model_layers`` then count that many channels per layer.
            None for a network other than InceptionV1.
        network: the ``models.network`` id ("": not recorded, as in catalogs
            written before networks were); a network other than
            ``inception_v1`` gets ``layers`` rows of its own for its layers.
        network_label: the ``models.network_label``.
    """

    name: str
    dataset: str
    parent: str | None = None
    snapshots: tuple[tuple[str, int, float | None], ...] = (("final", 1000, 0.9),)
    layers: tuple[str, ...] | None = None
    channels: int | None = None
    description: str = ""
    dataset_kind: str = "world"
    metric_name: str = "accuracy"
    methods: tuple[str, ...] | None = None
    extra_methods: tuple[tuple[str, tuple[str, ...]], ...] = ()
    width: float | None = 1.0
    network: str = ""
    network_label: str = ""


DEFAULT_LAYERS: tuple[str, ...] = (
    "Conv2d_1a_7x7",
    "Conv2d_2b_1x1",
    "Mixed_3b_Branch_3_b_1x1",
    "Mixed_4c_Branch_2_b_3x3",
    "Mixed_5b_Branch_3_b_1x1",
)
"""Stem, two figure-7 layers, a figure-6 layer and the deepest figure-7 layer."""

DEFAULT_MODELS: tuple[FakeModel, ...] = (
    FakeModel("imagenet", "ImageNet (synthetic source world)", description="Pretrained parent model"),
    FakeModel("celeba", "CelebA (synthetic faces)", parent="imagenet", snapshots=(("final", 150, 0.87),)),
    FakeModel("flowers17", "Flowers17 (synthetic)", parent="imagenet", snapshots=(("final", 150, 0.74),)),
    FakeModel(
        "celeba_temporal",
        "CelebA (synthetic faces)",
        parent="imagenet",
        snapshots=(
            ("iter_000000", 0, 0.5),
            ("iter_000010", 10, 0.61),
            ("iter_000030", 30, 0.7),
            ("final", 60, 0.8),
        ),
        layers=("Mixed_4c_Branch_2_b_3x3", "Mixed_5b_Branch_3_b_1x1"),
        description="Temporal run with snapshots",
        metric_name="mean_binary_accuracy",
    ),
)

_FIG6_IDS = tuple(layer.id for layer in figure6_layers())

BENCHMARK_MODELS: tuple[FakeModel, ...] = (
    FakeModel("imagenet", "ImageNet", channels=-1, layers=tuple(layer.id for layer in LAYERS)),
    *(
        FakeModel(name, dataset, parent="imagenet", channels=-1, layers=tuple(layer.id for layer in LAYERS))
        for name, dataset in (("celeba", "CelebA"), ("flowers17", "Flowers17"), ("animals", "Animals"))
    ),
    FakeModel(
        "celeba_temporal",
        "CelebA",
        parent="imagenet",
        snapshots=tuple((f"iter_{i:06d}", i, 0.5 + i / 400) for i in (0, 10, 20, 30, 60))
        + (("final", 150, 0.9),),
        layers=_FIG6_IDS,
        channels=24,
    ),
)
"""Four full-width models (4 x 7,280 images) plus a temporal run: 29,984 images."""

_FIG7_IDS = tuple(layer.id for layer in figure7_layers())
_DEMO_EXTRA = (("Mixed_4e_Branch_1_b_3x3", ("negative", "diversity", "negative_examples")),)

DEMO_MODELS: tuple[FakeModel, ...] = (
    FakeModel(
        "imagenet",
        "source world",
        layers=_FIG7_IDS,
        width=0.25,
        methods=("lucid", "examples"),
        extra_methods=_DEMO_EXTRA,
        description="Stand-in for ImageNet: pretrained on the synthetic source world",
    ),
    FakeModel(
        "celeba",
        "faces world",
        parent="imagenet",
        snapshots=(("final", 120, 0.8),),
        layers=_FIG7_IDS,
        width=0.25,
        methods=("lucid", "examples"),
        extra_methods=_DEMO_EXTRA,
        metric_name="mean_binary_accuracy",
    ),
    *(
        FakeModel(
            name,
            f"{world} world",
            parent="imagenet",
            snapshots=(("final", 120, 0.7),),
            layers=_FIG7_IDS,
            width=0.25,
            methods=("lucid", "examples"),
        )
        for name, world in (("flowers17", "flowers"), ("animals", "animals"))
    ),
    FakeModel(
        "celeba_temporal",
        "faces world",
        parent="imagenet",
        snapshots=tuple((f"iter_{i:06d}", i, 0.5 + i / 400) for i in (0, 10, 20, 30, 60, 150))
        + (("final", 250, 0.9),),
        layers=_FIG6_IDS,
        width=0.25,
        methods=("lucid",),
        description="Temporal run on the faces world: snapshots",
        metric_name="mean_binary_accuracy",
    ),
)
"""Shaped like the demo atlas (configs/demo.toml): four models on figure 7's layers (lucid and
dataset examples, three more methods on one layer of two models) and a temporal run on figure 6's
layers, on synthetic worlds, at width 0.25. With 4 channels: 52 channels of 13 layers, as in the demo."""


@dataclass(frozen=True)
class ImageKey:
    """The key of one atlas image (docs/formats.md)."""

    model: str
    snapshot: str
    method: str
    layer: str
    channel: int
    variant: str = ""

    @property
    def path(self) -> str:
        """Atlas-relative path of the image."""
        stem = f"{self.channel:04d}" + (f"~{self.variant}" if self.variant else "")
        return f"images/{self.model}/{self.snapshot}/{self.method}/{self.layer}/{stem}.png"

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "snapshot": self.snapshot,
            "method": self.method,
            "layer": self.layer,
            "channel": self.channel,
            "variant": self.variant,
        }


@dataclass
class _Plan:
    keys: list[ImageKey] = field(default_factory=list)
    model_layers: dict[tuple[str, str], int] = field(default_factory=dict)


def _texture(key: ImageKey, size: int, salt: int = 0) -> np.ndarray:
    """A smooth, colourful, deterministic texture for one key."""
    seed = zlib.crc32(f"{key.path}|{salt}".encode())
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    image = np.zeros((size, size, 3), np.float32)
    # The channel fixes the pattern's period (stable across models, as in the paper);
    # the model and snapshot only shift colours and phases.
    period = 2.0 + (key.channel % 9) * 1.5
    for _ in range(3):
        angle = rng.uniform(0, np.pi)
        wave = np.sin(2 * np.pi * period * (x * np.cos(angle) + y * np.sin(angle)) + rng.uniform(0, 6))
        image += wave[..., None] * (0.35 + rng.uniform(-0.45, 0.45, size=3))
    image += rng.normal(0, 0.08, image.shape)
    return np.clip(127.5 + 90 * image / 3, 0, 255).astype(np.uint8)


def _png_bytes(key: ImageKey, size: int, model: FakeModel, snapshot: tuple, salt: int) -> tuple[bytes, float]:
    objective = round(1.0 + (zlib.crc32(key.path.encode()) % 1000) / 100 + salt, 4)
    info = PngInfo()
    info.add_text("vtl:key", json.dumps(key.as_dict(), sort_keys=True))
    info.add_text("vtl:settings", json.dumps(_settings(size), sort_keys=True))
    info.add_text("vtl:objective", repr(objective))
    info.add_text(
        "vtl:model",
        json.dumps(
            {
                "dataset": model.dataset,
                "dataset_kind": model.dataset_kind,
                "iteration": snapshot[1],
                "is_final": snapshot[0] == "final",
                "metric_name": model.metric_name,
                "metric": snapshot[2],
                "parent": model.parent,
                "description": model.description,
                "num_classes": 10,
                "width": model.width,
                "channels": _layer_channels(key.layer),
                **_network_info(model, key.layer),
            },
            sort_keys=True,
        ),
    )
    buffer = BytesIO()
    Image.fromarray(_texture(key, size, salt)).save(buffer, format="PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue(), objective


def _network_info(model: FakeModel, layer_id: str) -> dict:
    """The network facts `vtl render` adds to an image's model info (`visualizer.atlas.networks`)."""
    if model.network in ("", "inception_v1"):  # InceptionV1 images record none: their width says it
        return {}
    return {
        "network": model.network,
        "network_label": model.network_label or model.network,
        "layer": _layer_facts(layer_id),
    }


def _layer_facts(layer_id: str) -> dict:
    """Catalogue facts of a fake layer of a network other than InceptionV1 (its graph index from its name)."""
    digits = "".join(ch for ch in layer_id if ch.isdigit())
    return {
        "id": layer_id,
        "aliases": [layer_id, layer_id + "_conv"],
        "kind": "conv",
        "channels": _layer_channels(layer_id),
        "kernel": [3, 3],
        "stride": [1, 1],
        "receptive_field": 3,
        "grid_stride": 1,
        "graph_index": int(digits) if digits else 0,
        "conv": layer_id + "_conv",
    }


def _settings(size: int) -> dict:
    return {
        "size": size,
        "steps": 128,
        "seed": 0,
        "param": "fft",
        "transforms": "standard",
        "decorrelate": True,
        "backend": "fake",
    }


def _layer_channels(layer_id: str) -> int:
    for layer in LAYERS:
        if layer.id == layer_id:
            return layer.channels
    return 8


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _plan(models: Sequence[FakeModel], layers: Sequence[str], channels: int, methods: Sequence[str]) -> _Plan:
    plan = _Plan()
    for model in models:
        for layer_id in model.layers or layers:
            full = max(1, round(_layer_channels(layer_id) * (model.width or 1.0)))
            wanted = model.channels if model.channels is not None else channels
            count = full if wanted == -1 else min(wanted, full)
            plan.model_layers[(model.name, layer_id)] = full
            extra = dict(model.extra_methods).get(layer_id, ())
            for snapshot, _iteration, _metric in model.snapshots:
                for method in (*(model.methods or methods), *extra):
                    for channel in range(count):
                        plan.keys.append(ImageKey(model.name, snapshot, method, layer_id, channel))
    return plan


def _render_one(job: tuple) -> tuple:
    root, key, size, model, snapshot = job
    data, objective = _png_bytes(key, size, model, snapshot, 0)
    _write_atomic(Path(root) / key.path, data)
    return key, objective, hashlib.sha256(data).hexdigest(), len(data)


def write_fake_atlas(
    root: str | os.PathLike,
    *,
    models: Sequence[FakeModel] = DEFAULT_MODELS,
    layers: Sequence[str] = DEFAULT_LAYERS,
    channels: int = 4,
    size: int = 32,
    methods: Sequence[str] = ("channel",),
    variants: Iterable[ImageKey] = (),
    title: str = "Fake atlas",
    workers: int = 1,
) -> Path:
    """Write a complete fake atlas (images + catalog.sqlite) under `root`.

    Args:
        root: the atlas directory (created).
        models: the models and their snapshots; defaults to a parent
            ``imagenet``, two transferred models and a temporal run.
        layers: layer ids rendered for models that do not name their own.
        channels: channels rendered per layer (the first ones), unless a
            model says otherwise; -1 renders every channel.
        size: image side in pixels.
        methods: render methods (the key's ``method``) of models that do not name their own.
        variants: extra keys to write (e.g. a ``~seed1`` variant).
        title: the catalog's title.
        workers: processes writing PNGs (the benchmark uses 2).

    Returns:
        The atlas path.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    plan = _plan(models, layers, channels, methods)
    by_name = {model.name: model for model in models}
    snapshots = {(m.name, s[0]): s for m in models for s in m.snapshots}
    keys = [*plan.keys, *variants]
    jobs = [(str(root), key, size, by_name[key.model], snapshots[(key.model, key.snapshot)]) for key in keys]
    if workers > 1:
        with get_context("fork").Pool(workers) as pool:
            results = list(pool.imap(_render_one, jobs, chunksize=256))
    else:
        results = [_render_one(job) for job in jobs]
    _write_catalog(root, models, plan, results, title, size)
    return root


def _write_catalog(
    root: Path, models: Sequence[FakeModel], plan: _Plan, results: list[tuple], title: str, size: int
) -> None:
    path = root / CATALOG_NAME
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    # The real catalog creates the schema, the recorded rules (meta) and the layer table;
    # the rows below go in by bulk inserts, which is much faster for 30,000 images.
    catalog = Catalog(root)
    db = catalog.connection
    db.executemany(
        "INSERT OR REPLACE INTO meta VALUES (?, ?)",
        [("title", title), ("created", CREATED), ("config_hash", "fake")],
    )
    db.executemany(
        "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                m.name,
                m.dataset,
                m.dataset_kind,
                m.parent,
                m.description,
                10,
                m.width,
                m.network or None,
                m.network_label or (m.network if m.network != "inception_v1" else "") or None,
                None,
            )
            for m in models
        ],
    )
    for m in models:  # the layer rows of other networks, as Catalog._insert_layer writes them
        if m.network and m.network != "inception_v1":
            for layer_id in m.layers or ():
                catalog._insert_layer(m.network, _layer_facts(layer_id))
    db.executemany(
        "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
        [
            (m.name, snap, iteration, int(snap == "final"), m.metric_name, metric)
            for m in models
            for snap, iteration, metric in m.snapshots
        ],
    )
    db.executemany(
        "INSERT INTO model_layers VALUES (?, ?, ?)",
        [(model, layer, count) for (model, layer), count in sorted(plan.model_layers.items())],
    )
    settings = json.dumps(_settings(size), sort_keys=True)
    db.executemany(
        "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                key.path,
                key.model,
                key.snapshot,
                key.method,
                key.layer,
                key.channel,
                key.variant,
                objective,
                size,
                128,
                0,
                settings,
                sha,
                nbytes,
                CREATED,
            )
            for key, objective, sha, nbytes in results
        ],
    )
    db.executemany(
        "INSERT INTO metrics VALUES (?, ?, ?)",
        [(key.path, "period_px", 2.0 + (key.channel % 9) * 1.5) for key, *_ in results],
    )
    db.commit()
    catalog.describe_methods({key.method for key, *_ in results})  # registered ones; "channel" is not
    catalog.close()


def replace_image(root: str | os.PathLike, key: ImageKey, salt: int = 1, size: int = 32) -> None:
    """Re-render one image with different pixels and update its catalog row.

    Args:
        root: the atlas directory.
        key: the image to replace (must exist).
        salt: changes the texture and the objective.
        size: image side in pixels.
    """
    root = Path(root)
    db = sqlite3.connect(root / CATALOG_NAME)
    row = db.execute(
        "SELECT m.dataset, m.parent, s.iteration, s.metric "
        "FROM models m JOIN snapshots s ON s.model = m.name "
        "WHERE m.name = ? AND s.snapshot = ?",
        (key.model, key.snapshot),
    ).fetchone()
    model = FakeModel(key.model, row[0], parent=row[1])
    data, objective = _png_bytes(key, size, model, (key.snapshot, row[2], row[3]), salt)
    _write_atomic(root / key.path, data)
    db.execute(
        "UPDATE images SET sha256 = ?, bytes = ?, objective = ? WHERE path = ?",
        (hashlib.sha256(data).hexdigest(), len(data), objective, key.path),
    )
    db.commit()
    db.close()


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Write the default fake atlas (for screenshots and demos).")
    parser.add_argument("out", help="atlas directory to write")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    parser.add_argument("--channels", type=int, default=12, help="channels per layer (default 12)")
    parser.add_argument("--demo", action="store_true", help="shaped like the demo atlas (DEMO_MODELS)")
    options = parser.parse_args()
    if options.demo:
        print(write_fake_atlas(options.out, models=DEMO_MODELS, size=options.size, channels=options.channels))
    else:
        # The default layers plus the eight of the paper's figure 7.
        figure7 = tuple(layer.id for layer in figure7_layers())
        layers = tuple(dict.fromkeys(DEFAULT_LAYERS + figure7))
        print(write_fake_atlas(options.out, layers=layers, size=options.size, channels=options.channels))
