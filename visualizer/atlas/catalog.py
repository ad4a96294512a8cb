"""``catalog.sqlite``: the derived index of an atlas (docs/formats.md).

The images are the truth; the catalog is rebuilt from their PNG metadata by
`rebuild`, reconciled with the files by `sync`, and audited by `check`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visualizer.analysis.spatial import image_metrics
from visualizer.atlas.keys import IMAGES_DIR, ImageKey, UnsafeNameError
from visualizer.atlas.pngio import TEMP_PREFIX, read_png
from visualizer.models.layers import LAYERS

__all__ = [
    "CATALOG_NAME",
    "FORMAT_VERSION",
    "Catalog",
    "CheckReport",
    "ImageRecord",
    "check",
    "file_sha256",
    "iter_image_files",
    "rebuild",
    "record_from_png",
    "sync",
]

CATALOG_NAME = "catalog.sqlite"
FORMAT_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS models(
    name TEXT PRIMARY KEY, dataset TEXT, dataset_kind TEXT, parent TEXT,
    description TEXT, num_classes INTEGER, width REAL);
CREATE TABLE IF NOT EXISTS snapshots(
    model TEXT, snapshot TEXT, iteration INTEGER, is_final INTEGER,
    metric_name TEXT, metric REAL, PRIMARY KEY (model, snapshot));
CREATE TABLE IF NOT EXISTS layers(
    id TEXT PRIMARY KEY, slim_scope TEXT, short_id TEXT, graph_op TEXT, block TEXT,
    channels INTEGER, kernel INTEGER, graph_index INTEGER, paper_index INTEGER);
CREATE TABLE IF NOT EXISTS model_layers(
    model TEXT, layer TEXT, channels INTEGER, PRIMARY KEY (model, layer));
CREATE TABLE IF NOT EXISTS images(
    path TEXT PRIMARY KEY,
    model TEXT, snapshot TEXT, method TEXT, layer TEXT, channel INTEGER, variant TEXT,
    objective REAL, size INTEGER, steps INTEGER, seed INTEGER, settings TEXT,
    sha256 TEXT, bytes INTEGER, created TEXT,
    UNIQUE (model, snapshot, method, layer, channel, variant));
CREATE TABLE IF NOT EXISTS metrics(path TEXT, name TEXT, value REAL, PRIMARY KEY (path, name));
CREATE INDEX IF NOT EXISTS images_by_layer ON images(layer, channel);
"""

TEXT_KEY = "vtl:key"
TEXT_SETTINGS = "vtl:settings"
TEXT_OBJECTIVE = "vtl:objective"
TEXT_MODEL = "vtl:model"


@dataclass
class ImageRecord:
    """Everything the catalog knows about one image; also its PNG text metadata.

    Attributes:
        key: the image key.
        objective: the final objective value (NaN when the render failed).
        settings: render settings (size, steps, seed, param, transforms, ...).
        model_info: facts about the model and snapshot (dataset, iteration,
            metric, parent, description, num_classes, width, channels).
        sha256: checksum of the PNG file.
        bytes: size of the PNG file.
        created: ISO 8601 UTC time of writing.
        metrics: measurements of the pixels (`analysis.spatial.image_metrics`);
            derived from the image, so not stored in the PNG.
    """

    key: ImageKey
    objective: float
    settings: dict[str, Any]
    model_info: dict[str, Any]
    sha256: str = ""
    bytes: int = 0
    created: str = field(
        default_factory=lambda: datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    )
    metrics: dict[str, float | None] = field(default_factory=dict)

    def png_text(self) -> dict[str, str]:
        """The PNG text chunks that let `record_from_png` recover this record."""
        return {
            TEXT_KEY: self.key.to_json(),
            TEXT_SETTINGS: json.dumps(self.settings, sort_keys=True),
            TEXT_OBJECTIVE: repr(float(self.objective)),
            TEXT_MODEL: json.dumps(self.model_info, sort_keys=True),
            "Creation Time": self.created,
            "Software": "visualizing-transfer-learning (vtl)",
        }


def file_sha256(path: Path) -> str:
    """SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def record_from_png(atlas_dir: str | os.PathLike, relpath: str) -> ImageRecord:
    """Read an image's record back from its PNG metadata.

    Raises:
        ValueError: when the file is unreadable, lacks the metadata, or its
            key does not match its path.
    """
    path = Path(atlas_dir) / relpath
    try:
        pixels, text = read_png(path)
        key = ImageKey.from_json(text[TEXT_KEY])
        record = ImageRecord(
            key=key,
            objective=float(text.get(TEXT_OBJECTIVE, "nan")),
            settings=json.loads(text.get(TEXT_SETTINGS, "{}")),
            model_info=json.loads(text.get(TEXT_MODEL, "{}")),
            created=text.get("Creation Time", ""),
            metrics=image_metrics(pixels),
        )
    except (OSError, ValueError, KeyError, TypeError, UnsafeNameError) as error:
        raise ValueError(
            f"{relpath}: not a readable atlas image ({type(error).__name__}: {error})"
        ) from error
    if key.relpath != relpath:
        raise ValueError(f"{relpath}: its metadata names another key ({key.relpath})")
    record.sha256 = file_sha256(path)
    record.bytes = path.stat().st_size
    return record


class Catalog:
    """An open ``catalog.sqlite`` (WAL mode); use as a context manager."""

    def __init__(self, atlas_dir: str | os.PathLike):
        self.atlas_dir = Path(atlas_dir)
        self.atlas_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.atlas_dir / CATALOG_NAME
        self.connection = sqlite3.connect(self.path, timeout=60)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=NORMAL")
        self.connection.executescript(_SCHEMA)
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO meta VALUES ('format_version', ?)", (FORMAT_VERSION,)
            )
            self.connection.executemany(
                "INSERT OR REPLACE INTO layers VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        layer.id,
                        layer.slim_scope,
                        layer.short_id,
                        layer.graph_op,
                        layer.block,
                        layer.channels,
                        layer.kernel,
                        layer.graph_index,
                        layer.paper_index,
                    )
                    for layer in LAYERS
                ],
            )

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def set_meta(self, key: str, value: str) -> None:
        """Store an atlas-wide fact (title, config hash, ...)."""
        with self.connection:
            self.connection.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def add_images(self, records: Iterable[ImageRecord]) -> int:
        """Insert or replace image rows and the model/snapshot/layer facts they carry.

        Returns:
            The number of images written, in one transaction.
        """
        count = 0
        with self.connection:
            for record in records:
                self._insert(record)
                count += 1
        return count

    def _insert(self, record: ImageRecord) -> None:
        key, info, settings = record.key, record.model_info, record.settings
        self.connection.execute(
            "INSERT OR REPLACE INTO images VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                key.relpath,
                key.model,
                key.snapshot,
                key.method,
                key.layer,
                key.channel,
                key.variant,
                record.objective,
                settings.get("size"),
                settings.get("steps"),
                settings.get("seed"),
                json.dumps(settings, sort_keys=True),
                record.sha256,
                record.bytes,
                record.created,
            ),
        )
        self.connection.execute(
            "INSERT OR REPLACE INTO models VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key.model,
                info.get("dataset"),
                info.get("dataset_kind"),
                info.get("parent"),
                info.get("description"),
                info.get("num_classes"),
                info.get("width"),
            ),
        )
        self.connection.execute(
            "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?, ?, ?)",
            (
                key.model,
                key.snapshot,
                info.get("iteration"),
                int(bool(info.get("is_final", key.snapshot == "final"))),
                info.get("metric_name"),
                info.get("metric"),
            ),
        )
        self.connection.execute("DELETE FROM metrics WHERE path = ?", (key.relpath,))
        self.connection.executemany(
            "INSERT INTO metrics VALUES (?, ?, ?)",
            [
                (key.relpath, name, value)
                for name, value in sorted(record.metrics.items())
                if value is not None
            ],
        )
        if info.get("channels") is not None:
            self.connection.execute(
                "INSERT OR REPLACE INTO model_layers VALUES (?, ?, ?)",
                (key.model, key.layer, info["channels"]),
            )

    def remove_paths(self, relpaths: Iterable[str]) -> None:
        """Delete image rows (and their metrics) by path."""
        with self.connection:
            for relpath in relpaths:
                self.connection.execute("DELETE FROM images WHERE path = ?", (relpath,))
                self.connection.execute("DELETE FROM metrics WHERE path = ?", (relpath,))

    def paths(self) -> set[str]:
        """All image paths the catalog lists."""
        return {row[0] for row in self.connection.execute("SELECT path FROM images")}

    def count(self) -> int:
        """Number of images in the catalog."""
        return int(self.connection.execute("SELECT COUNT(*) FROM images").fetchone()[0])


def iter_image_files(atlas_dir: str | os.PathLike) -> Iterator[str]:
    """Yield the relative paths of all PNGs under ``images/`` (temporary files excluded)."""
    root = Path(atlas_dir)
    images = root / IMAGES_DIR
    for folder, _, files in os.walk(images):
        for name in files:
            if name.endswith(".png") and not name.startswith(TEMP_PREFIX):
                yield Path(folder, name).relative_to(root).as_posix()


def remove_temporary_files(atlas_dir: str | os.PathLike) -> int:
    """Delete leftovers of interrupted atomic writes; returns how many were removed."""
    removed = 0
    for folder, _, files in os.walk(Path(atlas_dir) / IMAGES_DIR):
        for name in files:
            if name.startswith(TEMP_PREFIX):
                os.unlink(os.path.join(folder, name))
                removed += 1
    return removed


@dataclass
class CheckReport:
    """What `check` found: catalog rows without files, files without rows, bad files."""

    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    temporary: int = 0
    images: int = 0

    @property
    def ok(self) -> bool:
        """True when catalog and files agree and every file is readable."""
        return not (self.missing or self.extra or self.unreadable or self.mismatched)


def check(atlas_dir: str | os.PathLike, verify_checksums: bool = True) -> CheckReport:
    """Compare the catalog with the images on disk, reading every image.

    Returns:
        A `CheckReport`: `missing` (listed, no file), `extra` (file, not
        listed), `unreadable` (not a valid atlas PNG), `mismatched` (checksum
        differs from the catalog), `temporary` (leftover temporary files).
    """
    atlas_dir = Path(atlas_dir)
    report = CheckReport()
    with Catalog(atlas_dir) as catalog:
        listed = {row[0]: row[1] for row in catalog.connection.execute("SELECT path, sha256 FROM images")}
    on_disk = set(iter_image_files(atlas_dir))
    report.images = len(on_disk)
    report.missing = sorted(set(listed) - on_disk)
    report.extra = sorted(on_disk - set(listed))
    for relpath in sorted(on_disk):
        try:
            record = record_from_png(atlas_dir, relpath)
        except ValueError:
            report.unreadable.append(relpath)
            continue
        if verify_checksums and relpath in listed and listed[relpath] and listed[relpath] != record.sha256:
            report.mismatched.append(relpath)
    for _folder, _, files in os.walk(atlas_dir / IMAGES_DIR):
        report.temporary += sum(name.startswith(TEMP_PREFIX) for name in files)
    return report


def sync(atlas_dir: str | os.PathLike, relpaths: Iterable[str] | None = None) -> tuple[int, int]:
    """Make the catalog agree with the files: index unlisted images, drop rows of vanished ones.

    Args:
        atlas_dir: the atlas.
        relpaths: restrict the work to these paths (e.g. a render plan's);
            None means every image.

    Returns:
        (rows added, rows removed). Unreadable files are deleted, since they
        can only be leftovers of a failure and will be rendered again.
    """
    atlas_dir = Path(atlas_dir)
    remove_temporary_files(atlas_dir)
    with Catalog(atlas_dir) as catalog:
        listed = catalog.paths()
        scope = set(relpaths) if relpaths is not None else listed | set(iter_image_files(atlas_dir))
        present = {p for p in scope if (atlas_dir / p).is_file()}
        vanished = sorted((scope & listed) - present)
        records = []
        for relpath in sorted(present - listed):
            try:
                records.append(record_from_png(atlas_dir, relpath))
            except ValueError:
                os.unlink(atlas_dir / relpath)
        catalog.remove_paths(vanished)
        catalog.add_images(records)
    return len(records), len(vanished)


def rebuild(atlas_dir: str | os.PathLike) -> tuple[int, list[str]]:
    """Recreate ``catalog.sqlite`` from the images alone.

    Returns:
        (images indexed, unreadable paths skipped). Unreadable files are left
        in place and reported, so a person can look at them.
    """
    atlas_dir = Path(atlas_dir)
    for suffix in ("", "-wal", "-shm"):
        target = atlas_dir / (CATALOG_NAME + suffix)
        if target.exists():
            target.unlink()
    unreadable: list[str] = []
    records: list[ImageRecord] = []
    for relpath in sorted(iter_image_files(atlas_dir)):
        try:
            records.append(record_from_png(atlas_dir, relpath))
        except ValueError:
            unreadable.append(relpath)
    with Catalog(atlas_dir) as catalog:
        catalog.add_images(records)
    return len(records), unreadable
