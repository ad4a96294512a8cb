"""Read an atlas directory (docs/formats.md) into plain, validated objects.

The catalog is opened read-only. Every key component that becomes part of a
path or URL (model, snapshot, method, layer id, variant) is checked against
the contract's alphabet, ``[A-Za-z0-9_.-]`` without a leading dot, and every
image path must be the one its key implies: an atlas that breaks the
contract is refused with `UnsafeAtlasError` before anything is written.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "Atlas",
    "AtlasError",
    "ImageRow",
    "LayerRow",
    "ModelRow",
    "SnapshotRow",
    "UnsafeAtlasError",
    "check_component",
    "read_atlas",
]

_SAFE = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*\Z")


class AtlasError(RuntimeError):
    """Raised when the atlas directory or its catalog cannot be read."""


class UnsafeAtlasError(AtlasError):
    """Raised when a catalog value could leave dist/ or is not a valid key component."""


def check_component(value: object, what: str, *, allow_empty: bool = False) -> str:
    """Return `value` if it is a safe path component, else raise.

    Args:
        value: the catalog value.
        what: what it is, for the error message (``"layer id"``).
        allow_empty: accept ``""`` (the default variant).

    Raises:
        UnsafeAtlasError: naming the value and the allowed alphabet.
    """
    if allow_empty and value == "":
        return ""
    if not isinstance(value, str) or not _SAFE.match(value):
        raise UnsafeAtlasError(
            f"Refusing {what} {value!r} from the catalog: key components must match "
            "[A-Za-z0-9_.-]+ without a leading dot (docs/formats.md), so that no path leaves dist/."
        )
    return value


@dataclass(frozen=True)
class ModelRow:
    """One row of ``models``."""

    name: str
    dataset: str
    dataset_kind: str
    parent: str | None
    description: str
    num_classes: int | None
    width: float | None


@dataclass(frozen=True)
class SnapshotRow:
    """One row of ``snapshots``."""

    model: str
    snapshot: str
    iteration: int | None
    is_final: bool
    metric_name: str | None
    metric: float | None


@dataclass(frozen=True)
class LayerRow:
    """One row of ``layers``, with the Lucid name of its block."""

    id: str
    slim_scope: str
    short_id: str
    graph_op: str
    block: str
    channels: int
    kernel: int | None
    graph_index: int
    paper_index: int

    @property
    def lucid_block(self) -> str:
        """Lucid's GoogLeNet name of the block (slim ``Mixed_4c`` is ``mixed4b``), or ``""``."""
        match = re.fullmatch(r"Mixed_(\d)([b-z])", self.block or "")
        if not match:
            return ""
        return f"mixed{match.group(1)}{chr(ord(match.group(2)) - 1)}"


@dataclass(frozen=True)
class ImageRow:
    """One row of ``images`` plus its ``metrics``."""

    path: str
    model: str
    snapshot: str
    method: str
    layer: str
    channel: int
    variant: str
    objective: float | None
    size: int | None
    steps: int | None
    seed: int | None
    settings: str
    sha256: str
    bytes: int | None
    created: str
    metrics: tuple[tuple[str, float], ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str, int, str]:
        """(model, snapshot, method, layer, channel, variant)."""
        return (self.model, self.snapshot, self.method, self.layer, self.channel, self.variant)


@dataclass
class Atlas:
    """Everything the site shows, read from one atlas directory.

    Attributes:
        root: the atlas directory.
        meta: the ``meta`` table.
        models: by name, in catalog order (parents before children).
        snapshots: per model, ordered by iteration (final last).
        layers: by id, every layer of the ``layers`` table.
        model_layers: (model, layer) -> channel count in that model.
        images: every image, ordered by key.
    """

    root: Path
    meta: dict[str, str]
    models: dict[str, ModelRow]
    snapshots: dict[str, list[SnapshotRow]]
    layers: dict[str, LayerRow]
    model_layers: dict[tuple[str, str], int]
    images: list[ImageRow] = field(default_factory=list)

    def source(self, image: ImageRow) -> Path:
        """Absolute path of an image's PNG."""
        return self.root / image.path


def _connect(path: Path) -> sqlite3.Connection:
    # mode=ro never writes; immutable=1 is the fallback for a WAL database on a
    # read-only medium, where SQLite cannot create the -shm file.
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def _expected_path(row: ImageRow) -> str:
    stem = f"{row.channel:04d}" + (f"~{row.variant}" if row.variant else "")
    return f"images/{row.model}/{row.snapshot}/{row.method}/{row.layer}/{stem}.png"


def read_atlas(root: str | Path) -> Atlas:
    """Read and validate an atlas directory.

    Args:
        root: directory holding ``catalog.sqlite`` and ``images/``.

    Returns:
        The `Atlas`.

    Raises:
        AtlasError: when the catalog is missing or lacks a table.
        UnsafeAtlasError: when a key component or image path breaks the contract.
    """
    root = Path(root)
    catalog = root / "catalog.sqlite"
    if not catalog.is_file():
        raise AtlasError(
            f"No catalog at {catalog}. Render an atlas first (`vtl render`) or rebuild "
            "its catalog (`vtl catalog rebuild --atlas DIR`)."
        )
    db = _connect(catalog)
    try:
        return _read(db, root)
    except sqlite3.OperationalError as error:
        raise AtlasError(
            f"Cannot read {catalog}: {error} (expected the schema of docs/formats.md)."
        ) from error
    finally:
        db.close()


def _read(db: sqlite3.Connection, root: Path) -> Atlas:
    meta = dict(db.execute("SELECT key, value FROM meta"))
    models: dict[str, ModelRow] = {}
    for row in db.execute(
        "SELECT name, dataset, dataset_kind, parent, description, num_classes, width "
        "FROM models ORDER BY name"
    ):
        model = ModelRow(check_component(row[0], "model name"), *(row[1:3]), row[3] or None, *row[4:])
        models[model.name] = model
    models = _parents_first(models)

    snapshots: dict[str, list[SnapshotRow]] = defaultdict(list)
    for row in db.execute(
        "SELECT model, snapshot, iteration, is_final, metric_name, metric FROM snapshots "
        "ORDER BY model, is_final, iteration, snapshot"
    ):
        check_component(row[1], "snapshot name")
        snapshots[row[0]].append(SnapshotRow(row[0], row[1], row[2], bool(row[3]), row[4], row[5]))

    layers: dict[str, LayerRow] = {}
    for row in db.execute(
        "SELECT id, slim_scope, short_id, graph_op, block, channels, kernel, graph_index, paper_index "
        "FROM layers ORDER BY paper_index, graph_index, id"
    ):
        layers[check_component(row[0], "layer id")] = LayerRow(*row)
    model_layers = {
        (m, layer): n for m, layer, n in db.execute("SELECT model, layer, channels FROM model_layers")
    }

    metrics: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for path, name, value in db.execute("SELECT path, name, value FROM metrics ORDER BY path, name"):
        metrics[path].append((name, value))

    images: list[ImageRow] = []
    resolved_root = root.resolve()
    for row in db.execute(
        "SELECT path, model, snapshot, method, layer, channel, variant, objective, size, steps, seed, "
        "settings, sha256, bytes, created FROM images "
        "ORDER BY model, snapshot, method, layer, channel, variant"
    ):
        image = ImageRow(*row[:6], row[6] or "", *row[7:], metrics=tuple(metrics.get(row[0], ())))
        _validate_image(image, resolved_root)
        images.append(image)
        if image.model not in models:  # an image of a model the models table forgot: show it anyway
            models[image.model] = ModelRow(image.model, "", "", None, "", None, None)
        if image.layer not in layers:
            layers[image.layer] = LayerRow(image.layer, "", "", "", "", 0, None, 10_000, 10_000)
    for name in models:
        if name not in snapshots:
            snapshots[name] = [
                SnapshotRow(name, snap, None, snap == "final", None, None)
                for snap in sorted({i.snapshot for i in images if i.model == name})
            ]
    return Atlas(root, meta, models, dict(snapshots), layers, model_layers, images)


def _validate_image(image: ImageRow, resolved_root: Path) -> None:
    check_component(image.model, "model name")
    check_component(image.snapshot, "snapshot name")
    check_component(image.method, "method")
    check_component(image.layer, "layer id")
    check_component(image.variant, "variant", allow_empty=True)
    if not isinstance(image.channel, int) or image.channel < 0:
        raise UnsafeAtlasError(
            f"Refusing channel {image.channel!r} of {image.path!r}: expected an integer >= 0."
        )
    if image.path != _expected_path(image):
        raise UnsafeAtlasError(
            f"Refusing image path {image.path!r}: its key implies {_expected_path(image)!r} "
            "(docs/formats.md)."
        )
    source = (resolved_root / image.path).resolve()
    if not source.is_relative_to(resolved_root):
        raise UnsafeAtlasError(f"Refusing image {image.path!r}: it resolves outside the atlas, to {source}.")


def _parents_first(models: dict[str, ModelRow]) -> dict[str, ModelRow]:
    """Order models so that every parent precedes its children (then by name)."""
    ordered: dict[str, ModelRow] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        parent = models[name].parent
        if parent is None or parent not in models or parent in seen:
            return 0
        return 1 + depth(parent, (*seen, name))

    for name in sorted(models, key=lambda n: (depth(n), n)):
        ordered[name] = models[name]
    return ordered
