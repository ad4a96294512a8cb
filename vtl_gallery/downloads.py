"""The downloads: ``manifest.json``, ``images.csv``, ``catalog.sqlite`` and, if asked, ZIPs.

``manifest.json`` lists every image with its key, the aliases of its layer,
its sha256 and where to find it on the site, and every other download with
its checksum. ``images.csv`` is one row per image (key, settings, objective,
measurements, checksum, files), for a spreadsheet or pandas.
``catalog.sqlite`` is a consistent copy of the atlas's own catalog (``VACUUM
INTO``: one file, no write-ahead log), the same tables as docs/formats.md.
The ZIPs (``--downloads zip|all``) store the original PNGs uncompressed (PNG
is compressed already) under their atlas paths, with a fixed timestamp, so
the same images always give the same archive. A file is rewritten only when
its inputs change, and always through `vtl_gallery.files` (atomically, mode
0644).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from vtl_gallery import urls
from vtl_gallery.catalog import ImageRow
from vtl_gallery.files import kept, write_from_path, write_if_changed, writing
from vtl_gallery.observations import write_analysis_downloads
from vtl_gallery.pages import Site
from vtl_gallery.parallel import fork_map

__all__ = [
    "CATALOG",
    "CSV",
    "CSV_COLUMNS",
    "MANIFEST",
    "Archive",
    "DownloadFile",
    "archives",
    "csv_text",
    "image_key",
    "write_downloads",
]

MANIFEST = "manifest.json"
CSV = "images.csv"
CATALOG = "catalog.sqlite"
CSV_COLUMNS = (
    "key",
    "model",
    "snapshot",
    "method",
    "layer",
    "channel",
    "variant",
    "objective",
    "measurements",
    "size",
    "steps",
    "seed",
    "settings",
    "sha256",
    "bytes",
    "path",
    "page",
    "view",
    "original",
)
"""The columns of ``images.csv``, in order."""
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


def _size_text(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


@dataclass
class Archive:
    """One ZIP of the downloads page."""

    model: str
    layer: str
    images: list[ImageRow]
    path: str
    bytes: int = 0

    @property
    def size_text(self) -> str:
        return _size_text(self.bytes)


@dataclass
class DownloadFile:
    """One file of the downloads page besides the ZIPs: its site path, size and checksum."""

    path: str
    bytes: int
    sha256: str

    @property
    def size_text(self) -> str:
        return _size_text(self.bytes)


def archives(site: Site) -> list[Archive]:
    """Every (model, layer) archive, in model then paper order."""
    grouped: dict[tuple[str, str], list[ImageRow]] = defaultdict(list)
    for image in site.atlas.images:
        grouped[(image.model, image.layer)].append(image)
    result = []
    for model in site.models:
        for layer in model.layers:
            rows = grouped.get((model.name, layer.id))
            if rows:
                result.append(Archive(model.name, layer.id, rows, urls.layer_zip(model.name, layer.id)))
    return result


def _write_zip(site: Site, archive: Archive, target: Path) -> None:
    with writing(target) as handle, zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_STORED) as bundle:
        for image in archive.images:
            info = zipfile.ZipInfo(image.path.removeprefix("images/"), date_time=_ZIP_TIME)
            info.external_attr = 0o644 << 16
            bundle.writestr(info, site.atlas.source(image).read_bytes())


def image_key(image: ImageRow) -> str:
    """An image's key in one string: ``model/snapshot/method/layer/channel``, then ``/variant`` if any."""
    parts = [image.model, image.snapshot, image.method, image.layer, str(image.channel)]
    return "/".join([*parts, image.variant] if image.variant else parts)


def _number(value: float | int | None) -> str:
    return "" if value is None else repr(value)


def csv_text(site: Site) -> str:
    """``images.csv``: a header of `CSV_COLUMNS`, then one row per image in catalog order.

    Numbers are written exactly (``repr``), empty where the catalog has none;
    ``settings`` is the catalog's JSON text, ``measurements`` a JSON object.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for image in site.atlas.images:
        derived = site.picture(image).derived
        writer.writerow(
            [
                image_key(image),
                image.model,
                image.snapshot,
                image.method,
                image.layer,
                image.channel,
                image.variant,
                _number(image.objective),
                json.dumps(dict(image.metrics), sort_keys=True) if image.metrics else "",
                _number(image.size),
                _number(image.steps),
                _number(image.seed),
                image.settings,
                derived.sha256,
                _number(image.bytes),
                image.path,
                site.picture(image).page,
                derived.view_file,
                derived.original,
            ]
        )
    return buffer.getvalue()


def _catalog_stamp(catalog: Path) -> str:
    """Size and mtime of the catalog and its write-ahead log: what a copy of it depends on."""
    parts = []
    for path in (catalog, catalog.with_name(catalog.name + "-wal")):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


def _copy_catalog(catalog: Path, target: Path) -> bool:
    """Write a self-contained copy of the catalog (``VACUUM INTO``); True if the file changed."""

    def vacuum(tmp: Path) -> None:
        uri = catalog.resolve().as_uri()
        try:
            db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.OperationalError:  # a WAL database on a read-only medium (see catalog._connect)
            db = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        try:
            db.execute("VACUUM INTO ?", (str(tmp),))
        finally:
            db.close()

    return write_from_path(target, vacuum)


def _file(dist: Path, path: str) -> DownloadFile:
    data = (dist / path).read_bytes()
    return DownloadFile(path, len(data), hashlib.sha256(data).hexdigest())


def manifest(site: Site, files: list[DownloadFile]) -> dict:
    """The JSON of ``manifest.json``."""
    publishing = site.publishing
    entries = []
    for image in site.atlas.images:
        picture = site.picture(image)
        layer = site.atlas.layers[(site.atlas.network_of(image.model), image.layer)]
        entries.append(
            {
                "key": {
                    "model": image.model,
                    "snapshot": image.snapshot,
                    "method": image.method,
                    "layer": image.layer,
                    "channel": image.channel,
                    "variant": image.variant,
                },
                "channel_id": f"{image.layer}:{image.channel}",
                "network": layer.network,
                "aliases": {
                    "slim_scope": layer.slim_scope,
                    "short_id": layer.short_id,
                    "graph_op": layer.graph_op,
                    "block": layer.block,
                    "lucid_block": layer.lucid_block,
                    **({"aliases": list(layer.aliases)} if layer.aliases else {}),
                },
                "path": image.path,
                "sha256": picture.derived.sha256,
                "bytes": image.bytes,
                "width": picture.size[0],
                "height": picture.size[1],
                "objective": image.objective,
                "url": picture.derived.original or None,
                "view": picture.derived.view_file,
                "page": picture.page,
                "zip": urls.layer_zip(image.model, image.layer) if publishing.zips else None,
            }
        )
    return {
        "format": "vtl-site-manifest/2",
        "title": site.config.title,
        "base_url": site.config.absolute_base or None,
        "atlas": site.atlas.meta,
        "license": {"name": site.config.license_name, "url": site.config.license_url},
        "downloads": {
            "mode": publishing.downloads,
            "views": publishing.views,
            "originals_url": publishing.originals_url or None,
            "files": [{"path": f.path, "bytes": f.bytes, "sha256": f.sha256} for f in files],
        },
        "images": entries,
    }


def write_downloads(
    site: Site, dist: Path, previous: dict[str, str], workers: int = 1
) -> tuple[list[Archive], dict[str, str], int]:
    """Write the changed downloads: CSV, catalog copy, ZIPs (if published) and the manifest.

    Fills ``site.download_files`` (the CSV and the catalog, with sizes and checksums).

    Args:
        site: the site model.
        dist: output directory.
        previous: download path -> digest of its inputs, from the last build.
        workers: processes writing archives.

    Returns:
        ``(archives, state, changed)``: the archives written (with sizes; none
        unless ZIPs are published), the new digests for the build cache, and
        how many files were written.
    """
    state: dict[str, str] = {}
    changed = int(write_if_changed(dist / CSV, csv_text(site).encode()))
    stamp = _catalog_stamp(site.atlas.root / CATALOG)
    if previous.get(CATALOG) != stamp or not kept(dist / CATALOG):
        changed += _copy_catalog(site.atlas.root / CATALOG, dist / CATALOG)
    site.download_files = [_file(dist, CSV), _file(dist, CATALOG)]
    analysis_paths, analysis_changed = write_analysis_downloads(site, dist)  # empty without analysis
    changed += analysis_changed
    site.download_files += [_file(dist, path) for path in analysis_paths]
    state[CSV] = site.download_files[0].sha256
    state[CATALOG] = stamp

    result = archives(site) if site.publishing.zips else []
    todo = []
    for archive in result:
        digest = hashlib.sha256()
        for image in archive.images:
            digest.update(f"{image.path}|{site.picture(image).derived.sha256}\n".encode())
        target = urls.safe_output_path(dist, archive.path)
        if previous.get(archive.path) != digest.hexdigest() or not kept(target):
            todo.append((archive, target))
        state[archive.path] = digest.hexdigest()
    fork_map(lambda job: _write_zip(site, *job), todo, workers, min_items=4)
    changed += len(todo)
    for archive in result:
        archive.bytes = (dist / archive.path).stat().st_size
    data = manifest(site, site.download_files)
    # One image per line: small, yet greppable and diff-friendly.
    images = ",\n".join(
        json.dumps(entry, sort_keys=True, separators=(",", ":")) for entry in data.pop("images")
    )
    head = json.dumps(data, sort_keys=True, separators=(",", ":"))[:-1]
    text = f'{head},"images":[\n{images}\n]}}\n'
    changed += write_if_changed(dist / MANIFEST, text.encode())
    return result, state, changed
