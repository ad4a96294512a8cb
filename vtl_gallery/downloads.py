"""Bulk downloads: one ZIP per (model, layer) and ``manifest.json``.

The ZIPs store the original PNGs uncompressed (PNG is compressed already)
under their atlas paths, with a fixed timestamp, so the same images always
give the same archive. An archive is rewritten only when the checksums of
its members change. ``manifest.json`` lists every image with its key, the
aliases of its layer, its sha256 and where to find it on the site. Both are
written through `vtl_gallery.files` (atomically, mode 0644).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from vtl_gallery import urls
from vtl_gallery.catalog import ImageRow
from vtl_gallery.files import kept, write_if_changed, writing
from vtl_gallery.pages import Site
from vtl_gallery.parallel import fork_map

__all__ = ["MANIFEST", "Archive", "archives", "write_downloads"]

MANIFEST = "manifest.json"
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


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
        return f"{self.bytes / 1e6:.1f} MB" if self.bytes >= 1e5 else f"{self.bytes / 1e3:.0f} kB"


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


def manifest(site: Site) -> dict:
    """The JSON of ``manifest.json``."""
    entries = []
    for image in site.atlas.images:
        picture = site.picture(image)
        layer = site.atlas.layers[image.layer]
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
                "aliases": {
                    "slim_scope": layer.slim_scope,
                    "short_id": layer.short_id,
                    "graph_op": layer.graph_op,
                    "block": layer.block,
                    "lucid_block": layer.lucid_block,
                },
                "sha256": picture.derived.sha256,
                "bytes": image.bytes,
                "width": picture.size[0],
                "height": picture.size[1],
                "objective": image.objective,
                "url": picture.original,
                "page": urls.channel(image.layer, image.channel),
                "zip": urls.layer_zip(image.model, image.layer),
            }
        )
    return {
        "format": "vtl-site-manifest/1",
        "title": site.config.title,
        "base_url": site.config.absolute_base or None,
        "atlas": site.atlas.meta,
        "license": {"name": site.config.license_name, "url": site.config.license_url},
        "images": entries,
    }


def write_downloads(
    site: Site, dist: Path, previous: dict[str, str], workers: int = 1
) -> tuple[list[Archive], dict[str, str], int]:
    """Write changed archives and the manifest.

    Args:
        site: the site model.
        dist: output directory.
        previous: archive path -> members digest, from the last build.
        workers: processes writing archives.

    Returns:
        ``(archives, state, changed)``: the archives (with sizes), the new
        digests for the build manifest, and how many files were written.
    """
    state: dict[str, str] = {}
    result = archives(site)
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
    changed = len(todo)
    for archive in result:
        archive.bytes = (dist / archive.path).stat().st_size
    data = manifest(site)
    # One image per line: small, yet greppable and diff-friendly.
    images = ",\n".join(
        json.dumps(entry, sort_keys=True, separators=(",", ":")) for entry in data.pop("images")
    )
    head = json.dumps(data, sort_keys=True, separators=(",", ":"))[:-1]
    text = f'{head},"images":[\n{images}\n]}}\n'
    changed += write_if_changed(dist / MANIFEST, text.encode())
    return result, state, changed
