"""Build a site: atlas + site_src/ + templates/ -> dist/, incrementally.

Order of work: read the atlas, bring image files up to date (in parallel),
build the site model, write downloads, pages, script data and sitemap, then
remove files an earlier build wrote that no longer belong to the site.

Incremental: ``dist/.vtl-build.json`` remembers, per image, the source's size
and mtime; per page, a digest of its inputs (site-wide inputs: generator
code, templates, site_src/, settings, the atlas's structure; plus the
fingerprints of the images it shows); per ZIP, its members' checksums. What
matches is not redone, and every file is written only if its bytes differ,
so a rebuild with nothing changed leaves every mtime alone.

Everything is written through `vtl_gallery.files`: files mode 0644, folders the
build creates 0755 (whatever the umask), original PNGs copied, never linked,
so the output can be served by any user and edited without touching the atlas.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import vtl_gallery
from vtl_gallery import urls
from vtl_gallery.catalog import Atlas, UnsafeAtlasError, read_atlas
from vtl_gallery.config import SiteConfig, load_config
from vtl_gallery.content import read_pages
from vtl_gallery.downloads import MANIFEST, write_downloads
from vtl_gallery.files import kept, make_dirs, write_if_changed
from vtl_gallery.images import sync_images
from vtl_gallery.pages import build_site_model
from vtl_gallery.parallel import fork_map
from vtl_gallery.search import write_script_data
from vtl_gallery.sitemap import MAX_URLS, write_sitemaps
from vtl_gallery.writer import Writer

__all__ = ["BUILD_MANIFEST", "DEFAULT_SITE_SRC", "BuildReport", "build_site"]

DEFAULT_SITE_SRC = Path(__file__).resolve().parent / "site_src"
"""The bundled pages and site.toml, used when no site_src is given."""

BUILD_MANIFEST = ".vtl-build.json"
_MANIFEST_VERSION = 1
_RESERVED = {
    "model",
    "layer",
    "figures",
    "compare",
    "search",
    "downloads",
    "static",
    "img",
    "thumb",
    "view",
    "data",
}


@dataclass
class BuildReport:
    """What a build did."""

    pages: int = 0
    pages_rendered: int = 0
    pages_written: int = 0
    images: int = 0
    images_redone: int = 0
    other_written: int = 0
    removed: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{self.pages} pages ({self.pages_rendered} rendered, {self.pages_written} written), "
            f"{self.images} images ({self.images_redone} processed), "
            f"{self.other_written} other files written, "
            f"{self.removed} stale files removed, in {self.seconds:.1f} s"
        )


def _hash_tree(h: hashlib._Hash, directory: Path | None, pattern: str = "*") -> None:
    if directory is None or not directory.is_dir():
        return
    for path in sorted(directory.rglob(pattern)):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(path.relative_to(directory).as_posix().encode())
            h.update(path.read_bytes())


def _site_digest(
    atlas: Atlas, config: SiteConfig, dirs: list[Path], site_src: Path | None, primary: str
) -> str:
    """Digest of every input that all pages share (not image contents)."""
    h = hashlib.sha256(f"{vtl_gallery.__version__}|{config!r}|{primary}".encode())
    _hash_tree(h, Path(vtl_gallery.__file__).parent, "*.py")
    for directory in dirs:
        _hash_tree(h, directory)
    _hash_tree(h, site_src)
    structure = [
        sorted(atlas.meta.items()),
        [repr(m) for m in atlas.models.values()],
        [repr(s) for snaps in atlas.snapshots.values() for s in snaps],
        [repr(layer) for layer in atlas.layers.values()],
        sorted(atlas.model_layers.items()),
        [repr(method) for method in atlas.methods.values()],
    ]
    h.update(json.dumps(structure, default=str).encode())
    for image in atlas.images:
        h.update(image.path.encode())
    return h.hexdigest()


def _check_locations(atlas_dir: Path, out: Path) -> None:
    atlas_dir, out = atlas_dir.resolve(), out.resolve()
    if out == atlas_dir or atlas_dir.is_relative_to(out) or out.is_relative_to(atlas_dir):
        raise UnsafeAtlasError(
            f"Refusing to build into {out}: the output directory must not contain, "
            f"or be inside, the atlas {atlas_dir}."
        )
    if out == Path(out.anchor) or out == Path.home():
        raise UnsafeAtlasError(
            f"Refusing to build into {out}: choose a dedicated output directory such as dist/."
        )


def _load_manifest(dist: Path) -> dict:
    try:
        data = json.loads((dist / BUILD_MANIFEST).read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return data if data.get("version") == _MANIFEST_VERSION else {}


def build_site(
    atlas_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    site_src: str | os.PathLike | None = DEFAULT_SITE_SRC,
    templates: str | os.PathLike | None = None,
    base_url: str | None = None,
    workers: int | None = None,
    sitemap_max_urls: int = MAX_URLS,
    log: Callable[[str], None] = print,
) -> BuildReport:
    """Build (or update) the static site.

    Args:
        atlas_dir: the atlas directory (``catalog.sqlite`` + ``images/``).
        out: the output directory, created if needed (``dist``).
        site_src: Markdown pages and ``site.toml`` (default: the bundled
            `DEFAULT_SITE_SRC`); None builds without them.
        templates: a directory of templates overriding the defaults; None
            uses ``<site_src>/templates`` when it exists.
        base_url: overrides site.toml's ``base_url``.
        workers: processes for image derivatives; None keeps site.toml's (2).
        sitemap_max_urls: URLs per sitemap file (50,000 by the protocol).
        log: receives progress lines.

    Returns:
        A `BuildReport`.

    Raises:
        AtlasError, UnsafeAtlasError, ConfigError: with what was wrong.
        FileNotFoundError: if `site_src` or `templates` is given but is not a
            folder (or an image the catalog lists is missing).
    """
    started = time.perf_counter()
    report = BuildReport()
    atlas_dir, dist = Path(atlas_dir), Path(out)
    src = Path(site_src) if site_src is not None else None
    for name, folder in (("site_src", src), ("templates", templates)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name} folder {folder} does not exist (or is not a folder).")
    user_templates = Path(templates) if templates else (src / "templates" if src else None)
    config = load_config(src / "site.toml" if src else None, base_url=base_url, workers=workers)
    _check_locations(atlas_dir, dist)

    atlas = read_atlas(atlas_dir)
    make_dirs(dist)
    previous = _load_manifest(dist)
    mark = time.perf_counter()

    log(f"site: {len(atlas.images)} images, {len(atlas.models)} models from {atlas_dir}")
    derived, image_state, redone = sync_images(
        atlas,
        dist,
        previous.get("images", {}),
        thumb_px=config.thumb_px,
        view_px=config.view_px,
        quality=config.webp_quality,
        workers=config.workers,
        progress=lambda done, total: log(f"site: images {done}/{total}"),
    )
    report.images, report.images_redone = len(atlas.images), redone
    report.timings["images"] = time.perf_counter() - mark
    outputs: set[str] = set()
    for image in atlas.images:
        outputs.update((urls.original(image.path), urls.thumb(image.path), urls.view(image.path)))

    mark = time.perf_counter()
    pages_md = read_pages(src)
    clashes = sorted(p.slug for p in pages_md if p.slug in _RESERVED)
    if clashes:
        raise ValueError(
            f"site_src page name(s) {clashes} clash with the site's own paths {sorted(_RESERVED)}."
        )
    site = build_site_model(atlas, derived, config, pages_md)
    writer = Writer(site, dist, user_templates)
    site_digest = _site_digest(atlas, config, writer.dirs, src, site.primary_method)
    report.timings["model"] = time.perf_counter() - mark

    mark = time.perf_counter()
    for name, source in writer.static_files():
        target = urls.safe_output_path(dist, "static/" + name)
        report.other_written += write_if_changed(target, source.read_bytes())
        outputs.add("static/" + name)
    site.archives, zip_state, changed = write_downloads(site, dist, previous.get("zips", {}), config.workers)
    report.other_written += changed
    outputs.update(a.path for a in site.archives)
    outputs.add(MANIFEST)
    report.timings["downloads"] = time.perf_counter() - mark

    mark = time.perf_counter()
    old_pages = previous.get("pages", {})
    page_state: dict[str, str] = {}
    todo = []
    for page in site.pages:
        if page.path == urls.DOWNLOADS:  # shows archive sizes
            page.deps = [*page.deps, *sorted(zip_state.values())]
        digest = page.digest(site_digest)
        output = urls.output_file(page.path)
        page_state[page.path] = digest
        outputs.add(output)
        if old_pages.get(page.path) != digest or not kept(dist / output):
            todo.append(page)
    report.pages_rendered = len(todo)
    report.pages_written = sum(fork_map(writer.write, todo, config.workers))
    report.pages = len(site.pages)
    report.timings["pages"] = time.perf_counter() - mark

    mark = time.perf_counter()
    data_paths, changed = write_script_data(site, dist)
    report.other_written += changed
    outputs.update(data_paths)
    sitemap_paths, changed = write_sitemaps(writer, dist, [p.path for p in site.pages], sitemap_max_urls)
    report.other_written += changed
    outputs.update(sitemap_paths)
    if not config.absolute_base:
        log("site: no base_url (site.toml or --base-url), so no sitemap.xml and relative citation URLs")

    for stale in sorted(set(previous.get("outputs", [])) - outputs):
        target = urls.safe_output_path(dist, stale)
        if target.is_file():
            target.unlink()
            report.removed += 1
    report.timings["data"] = time.perf_counter() - mark

    state = {
        "version": _MANIFEST_VERSION,
        "images": image_state,
        "pages": page_state,
        "zips": zip_state,
        "outputs": sorted(outputs),
    }
    write_if_changed(dist / BUILD_MANIFEST, json.dumps(state, separators=(",", ":")).encode())
    report.seconds = time.perf_counter() - started
    log("site: " + report.summary() + f" -> {dist}")
    return report
