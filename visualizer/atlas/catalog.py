"""``catalog.sqlite``: the derived index of an atlas (docs/formats.md).

The images are the truth; the catalog is rebuilt from their PNG metadata by
`rebuild`, reconciled with the files by `sync` (which also finds and removes
damaged images, so a render replaces them), and audited by `check`, which
writes nothing.

Beside the images, the catalog records the rules the atlas was written with,
so that the gallery (a separate package) reads them instead of keeping its
own copies: the key grammar and path format (`visualizer.atlas.keys`) and
the figure 6 and 7 layers (`visualizer.models.layers`) in ``meta``, and the
kind, description and display order of each registered method that has
images (`visualizer.atlas.methods`) in ``methods``. Code writes them, so a
rebuild from the images alone writes the same.

Layers are keyed by (network, id): two networks may name a layer alike
(Keras's ``conv2d``), and channel 3 of one is not channel 3 of the other.
Each image records its model's network (`visualizer.atlas.networks`) and,
for networks other than InceptionV1, its layer's catalogue facts, so a
rebuild recovers the ``models`` and ``layers`` rows of every network.
"""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from visualizer.analysis.readonly import connect_read_only  # re-exported: part of this module's API
from visualizer.analysis.spatial import image_metrics
from visualizer.atlas.keys import IMAGES_DIR, KEY_PATTERN, PATH_FORMAT, ImageKey, UnsafeNameError
from visualizer.atlas.methods import registered_methods
from visualizer.atlas.networks import INCEPTION_V1, network_of_info
from visualizer.models.layers import LAYERS, figure6_layers, figure7_layers
from visualizer.pngio import TEMP_PREFIX, file_sha256, read_png

__all__ = [
    "CATALOG_NAME",
    "FORMAT_VERSION",
    "AtlasNotFoundError",
    "Catalog",
    "CheckReport",
    "ImageRecord",
    "SyncReport",
    "check",
    "connect_read_only",
    "file_sha256",
    "iter_image_files",
    "rebuild",
    "record_from_png",
    "remove_temporary_files",
    "rules_meta",
    "sync",
]

CATALOG_NAME = "catalog.sqlite"
FORMAT_VERSION = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS models(
    name TEXT PRIMARY KEY, dataset TEXT, dataset_kind TEXT, parent TEXT,
    description TEXT, num_classes INTEGER, width REAL,
    network TEXT, network_label TEXT, network_layers INTEGER);
CREATE TABLE IF NOT EXISTS snapshots(
    model TEXT, snapshot TEXT, iteration INTEGER, is_final INTEGER,
    metric_name TEXT, metric REAL, PRIMARY KEY (model, snapshot));
CREATE TABLE IF NOT EXISTS layers(
    network TEXT, id TEXT, slim_scope TEXT, short_id TEXT, graph_op TEXT, block TEXT,
    channels INTEGER, kernel INTEGER, graph_index INTEGER, paper_index INTEGER,
    kind TEXT, aliases TEXT, stride INTEGER, receptive_field INTEGER, grid_stride INTEGER,
    PRIMARY KEY (network, id));
CREATE TABLE IF NOT EXISTS model_layers(
    model TEXT, layer TEXT, channels INTEGER, PRIMARY KEY (model, layer));
CREATE TABLE IF NOT EXISTS images(
    path TEXT PRIMARY KEY,
    model TEXT, snapshot TEXT, method TEXT, layer TEXT, channel INTEGER, variant TEXT,
    objective REAL, size INTEGER, steps INTEGER, seed INTEGER, settings TEXT,
    sha256 TEXT, bytes INTEGER, created TEXT,
    UNIQUE (model, snapshot, method, layer, channel, variant));
CREATE TABLE IF NOT EXISTS metrics(path TEXT, name TEXT, value REAL, PRIMARY KEY (path, name));
CREATE TABLE IF NOT EXISTS files(path TEXT PRIMARY KEY, bytes INTEGER, mtime_ns INTEGER);
CREATE TABLE IF NOT EXISTS methods(
    name TEXT PRIMARY KEY, kind TEXT, description TEXT, display_order INTEGER);
CREATE INDEX IF NOT EXISTS images_by_layer ON images(layer, channel);
"""


def _migrate(connection: sqlite3.Connection) -> None:
    """Bring a catalog of format 1 to this format, before the schema's ``CREATE TABLE IF NOT EXISTS``.

    Format 1 keyed ``layers`` by id alone and held only InceptionV1's rows, which every
    open writes again: the table is dropped and recreated keyed by (network, id).
    ``models`` gains its network columns (NULL: not recorded; readers infer it, docs/formats.md).
    """

    def columns(table: str) -> set[str]:
        return {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}

    layers, models = columns("layers"), columns("models")
    with connection:
        if layers and "network" not in layers:
            connection.execute("DROP TABLE layers")
        for name, kind in (("network", "TEXT"), ("network_label", "TEXT"), ("network_layers", "INTEGER")):
            if models and name not in models:
                connection.execute(f"ALTER TABLE models ADD COLUMN {name} {kind}")


def rules_meta() -> dict[str, str]:
    """The ``meta`` rows that record the atlas's rules: key grammar, path format, figure 6 and 7 layers."""
    return {
        "format_version": FORMAT_VERSION,
        "key_pattern": KEY_PATTERN,
        "path_format": PATH_FORMAT,
        "figure6_layers": json.dumps([layer.id for layer in figure6_layers()]),
        "figure7_layers": json.dumps([layer.id for layer in figure7_layers()]),
    }


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
        mtime_ns: the file's modification time when it was written or last
            verified (0: unknown); with `bytes`, what a cheap check compares.
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
    mtime_ns: int = 0

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
    stat = path.stat()
    record.sha256 = file_sha256(path)
    record.bytes, record.mtime_ns = stat.st_size, stat.st_mtime_ns
    return record


class AtlasNotFoundError(FileNotFoundError):
    """The atlas folder does not exist (a typo in ``--atlas``?)."""


class Catalog:
    """An open ``catalog.sqlite`` (WAL mode), created with the folder if missing; a context manager."""

    def __init__(self, atlas_dir: str | os.PathLike):
        self.atlas_dir = Path(atlas_dir)
        self.atlas_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.atlas_dir / CATALOG_NAME
        new = not self.path.exists()
        self.connection = sqlite3.connect(self.path, timeout=60)
        try:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=NORMAL")
            _migrate(self.connection)
            self.connection.executescript(_SCHEMA)
        except sqlite3.Error:
            self.connection.close()
            if new:  # a full disk: leave no catalog without tables behind
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            raise
        with self.connection:
            self.connection.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", rules_meta().items())
            self.connection.executemany(
                f"INSERT OR REPLACE INTO layers VALUES ({', '.join('?' * 15)})",
                [
                    (
                        INCEPTION_V1,
                        layer.id,
                        layer.slim_scope,
                        layer.short_id,
                        layer.graph_op,
                        layer.block,
                        layer.channels,
                        layer.kernel,
                        layer.graph_index,
                        layer.paper_index,
                        "conv",
                        None,
                        layer.stride,
                        None,
                        None,
                    )
                    for layer in LAYERS
                ],
            )
            # Catalogs written before the methods table get it here; so do descriptions that changed.
            self._describe_methods(
                row[0] for row in self.connection.execute("SELECT DISTINCT method FROM images")
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
        count, methods = 0, set()
        with self.connection:
            for record in records:
                self._insert(record)
                methods.add(record.key.method)
                count += 1
            self._describe_methods(methods)
        return count

    def describe_methods(self, names: Iterable[str]) -> None:
        """Write the ``methods`` rows (kind, description, display order) of the registered methods in `names`.

        `add_images` does this for the methods of the images it indexes; a
        writer that inserts image rows itself calls it. Unregistered names
        get no row: the gallery shows such a method as an image, after the
        described ones.
        """
        with self.connection:
            self._describe_methods(names)

    def _describe_methods(self, names: Iterable[str]) -> None:
        wanted = set(names)
        self.connection.executemany(
            "INSERT OR REPLACE INTO methods VALUES (?, ?, ?, ?)",
            [
                (method.name, method.kind, method.description, method.order)
                for method in registered_methods()
                if method.name in wanted
            ],
        )

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
        # An image rendered before networks were recorded keeps the network a newer image recorded.
        self.connection.execute(
            "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
            "dataset = excluded.dataset, dataset_kind = excluded.dataset_kind, parent = excluded.parent, "
            "description = excluded.description, num_classes = excluded.num_classes, width = excluded.width, "
            "network = coalesce(excluded.network, network), "
            "network_label = coalesce(excluded.network_label, network_label), "
            "network_layers = coalesce(excluded.network_layers, network_layers)",
            (
                key.model,
                info.get("dataset"),
                info.get("dataset_kind"),
                info.get("parent"),
                info.get("description"),
                info.get("num_classes"),
                info.get("width"),
                *network_of_info(info, len(LAYERS)),
            ),
        )
        if info.get("network") and isinstance(info.get("layer"), dict):
            self._insert_layer(info["network"], info["layer"])
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
        if record.mtime_ns:
            self.connection.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (key.relpath, record.bytes, record.mtime_ns)
            )

    def _insert_layer(self, network: str, facts: dict[str, Any]) -> None:
        """The ``layers`` row of a layer of a network other than InceptionV1, from an image's facts."""
        if network == INCEPTION_V1 or facts.get("id") is None:
            return  # InceptionV1's rows are the project's catalogue, written on every open

        def side(value: Any) -> int | None:
            """A square (rows, columns) as one number; None where not square."""
            if isinstance(value, (list, tuple)) and len(value) == 2 and value[0] == value[1]:
                return int(value[0])
            return value if isinstance(value, int) else None

        aliases = [str(name) for name in facts.get("aliases") or () if name != facts["id"]]
        self.connection.execute(
            f"INSERT OR REPLACE INTO layers VALUES ({', '.join('?' * 15)})",
            (
                network,
                str(facts["id"]),
                None,
                None,
                None,
                None,
                facts.get("channels"),
                side(facts.get("kernel")),
                facts.get("graph_index"),
                None,
                facts.get("kind"),
                json.dumps(aliases),
                side(facts.get("stride")),
                facts.get("receptive_field"),
                facts.get("grid_stride"),
            ),
        )

    def set_networks(self, networks: dict[str, dict[str, Any]]) -> None:
        """Record each listed model's network (`visualizer.atlas.networks.INFO_KEYS`) in ``models``.

        Only models that already have a row (they have images) change: `vtl render`
        calls this for the models of its plan, so that images indexed before
        networks were recorded show under the right network.
        """
        with self.connection:
            self.connection.executemany(
                "UPDATE models SET network = ?, network_label = ?, network_layers = ? WHERE name = ?",
                [
                    (info.get("network"), info.get("network_label"), info.get("network_layers"), name)
                    for name, info in networks.items()
                ],
            )

    def remove_paths(self, relpaths: Iterable[str]) -> None:
        """Delete image rows (and their metrics and file facts) by path."""
        with self.connection:
            for relpath in relpaths:
                for table in ("images", "metrics", "files"):
                    self.connection.execute(f"DELETE FROM {table} WHERE path = ?", (relpath,))

    def verified_files(self) -> dict[str, tuple[str, int, int]]:
        """{path: (sha256, bytes, mtime_ns)} of listed images whose file was written or verified here."""
        rows = self.connection.execute(
            "SELECT images.path, images.sha256, files.bytes, files.mtime_ns FROM images "
            "JOIN files ON files.path = images.path AND files.bytes = images.bytes"
        )
        return {path: (sha256, size, mtime) for path, sha256, size, mtime in rows}

    def checksums(self) -> dict[str, str]:
        """{path: sha256} of every listed image."""
        return {row[0]: row[1] for row in self.connection.execute("SELECT path, sha256 FROM images")}

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


def remove_temporary_files(atlas_dir: str | os.PathLike, prefix: str = TEMP_PREFIX) -> int:
    """Delete leftovers of interrupted atomic writes whose names start with `prefix`.

    Only the holder of the atlas lock may call this (`visualizer.atlas.lock`):
    a whole-atlas writer with the common prefix, a shard with its own.

    Returns:
        How many files were removed.
    """
    removed = 0
    for folder, _, files in os.walk(Path(atlas_dir) / IMAGES_DIR):
        for name in files:
            if name.startswith(prefix):
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
    catalog_missing: bool = False

    @property
    def ok(self) -> bool:
        """True when catalog and files agree and every file is readable."""
        return not (self.catalog_missing or self.missing or self.extra or self.unreadable or self.mismatched)

    def fixes(self, atlas_dir: str | os.PathLike) -> list[str]:
        """One line per kind of problem found, naming the command that fixes it."""
        atlas = str(atlas_dir)
        render = "vtl render --config <the atlas's config> --atlas " + atlas
        lines = []
        if self.catalog_missing:
            lines.append(
                f"no {CATALOG_NAME}: `vtl catalog rebuild --atlas {atlas}` recreates it from the images"
            )
        if self.missing:
            lines.append(
                f"missing: `{render}` renders them again, or `vtl catalog rebuild --atlas {atlas}` "
                "forgets them"
            )
        if self.extra and not self.catalog_missing:
            lines.append(f"extra: `vtl catalog rebuild --atlas {atlas}` indexes them (so does a render)")
        if self.unreadable or self.mismatched:
            lines.append(
                f"unreadable or mismatched: `{render}` replaces them (add --verify to check every image)"
            )
        if self.temporary:
            lines.append("temporary files: the next `vtl render` on this atlas removes them")
        return lines


def _read_only_checksums(atlas_dir: Path) -> dict[str, str] | None:
    """{path: sha256} from the catalog, opened read-only; None when there is no catalog."""
    path = atlas_dir / CATALOG_NAME
    if not path.is_file():
        return None
    connection = connect_read_only(path)
    try:
        return {row[0]: row[1] for row in connection.execute("SELECT path, sha256 FROM images")}
    finally:
        connection.close()


def check(atlas_dir: str | os.PathLike, verify_checksums: bool = True) -> CheckReport:
    """Compare the catalog with the images on disk, reading every image; writes nothing.

    Returns:
        A `CheckReport`: `missing` (listed, no file), `extra` (file, not
        listed), `unreadable` (not a valid atlas PNG), `mismatched` (checksum
        differs from the catalog), `temporary` (leftover temporary files),
        `catalog_missing` (no ``catalog.sqlite``: every image is then extra).

    Raises:
        AtlasNotFoundError: `atlas_dir` is not a folder.
    """
    atlas_dir = Path(atlas_dir)
    if not atlas_dir.is_dir():
        raise AtlasNotFoundError(f"No atlas at {atlas_dir}: the folder does not exist")
    report = CheckReport()
    listed = _read_only_checksums(atlas_dir)
    report.catalog_missing = listed is None
    listed = listed or {}
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
        if verify_checksums and listed.get(relpath) and listed[relpath] != record.sha256:
            report.mismatched.append(relpath)
    for _folder, _, files in os.walk(atlas_dir / IMAGES_DIR):
        report.temporary += sum(name.startswith(TEMP_PREFIX) for name in files)
    return report


@dataclass
class SyncReport:
    """What `sync` changed: rows added for unlisted images, rows of vanished ones removed, and the
    damaged images it deleted (unreadable, or not matching the catalog's checksum) so they are rendered again;
    `sound` holds the paths in its scope that are on disk and sound afterwards.
    """

    added: int = 0
    removed: int = 0
    damaged: list[str] = field(default_factory=list)
    sound: set[str] = field(default_factory=set)


def _verified(record: ImageRecord | None, listed_sha256: str | None) -> bool:
    """Whether a fully read image is sound: readable and, when the catalog lists it, the same bytes."""
    return record is not None and (not listed_sha256 or listed_sha256 == record.sha256)


def sync(
    atlas_dir: str | os.PathLike, relpaths: Iterable[str] | None = None, full: bool = False
) -> SyncReport:
    """Make the catalog agree with sound files, deleting damaged images so they are rendered again.

    An image the catalog lists, whose size and modification time are those it
    had when it was written or last verified, counts as sound unread. Every
    other image (or every image, with `full`) is decoded and its checksum
    compared with the catalog's. An image that fails is deleted: it is
    derived data, and the render that planned it writes it again, the same.

    Args:
        atlas_dir: the atlas. The caller holds the atlas lock.
        relpaths: restrict the work to these paths (e.g. a render plan's);
            None means every image.
        full: decode and checksum every image, not only changed ones.

    Returns:
        A `SyncReport`.
    """
    atlas_dir = Path(atlas_dir)
    report = SyncReport()
    with Catalog(atlas_dir) as catalog:
        checksums = catalog.checksums()
        verified = catalog.verified_files()
        scope = set(relpaths) if relpaths is not None else set(checksums) | set(iter_image_files(atlas_dir))
        vanished, records = [], []
        for relpath in sorted(scope):
            try:
                stat = os.stat(atlas_dir / relpath)
            except FileNotFoundError:
                if relpath in checksums:
                    vanished.append(relpath)
                    report.removed += 1
                continue
            known = verified.get(relpath)
            if not full and known and known[1:] == (stat.st_size, stat.st_mtime_ns):
                report.sound.add(relpath)
                continue
            try:
                record = record_from_png(atlas_dir, relpath)
            except ValueError:
                record = None
            if _verified(record, checksums.get(relpath)):
                records.append(record)  # indexes it, or records its stat as verified
                report.added += relpath not in checksums
                report.sound.add(relpath)
                continue
            os.unlink(atlas_dir / relpath)
            report.damaged.append(relpath)
            if relpath in checksums:
                vanished.append(relpath)
        catalog.remove_paths(vanished)
        catalog.add_images(records)
    return report


def rebuild(atlas_dir: str | os.PathLike) -> tuple[int, list[str]]:
    """Recreate ``catalog.sqlite`` from the images alone.

    Returns:
        (images indexed, unreadable paths skipped). Unreadable files are left
        in place and reported, so a person can look at them.

    Raises:
        AtlasNotFoundError: `atlas_dir` is not a folder.
    """
    atlas_dir = Path(atlas_dir)
    if not atlas_dir.is_dir():
        raise AtlasNotFoundError(f"No atlas at {atlas_dir}: the folder does not exist")
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
