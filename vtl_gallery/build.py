"""Build a site: atlas + site_src/ + templates/ -> dist/, incrementally.

Order of work: read the atlas, bring image files up to date (in parallel),
build the site model, write downloads, pages, script data and sitemap, then
remove files an earlier build wrote that no longer belong to the site.

Incremental: a build cache beside the output, ``.<dist name>.vtl-build.json``
(`build_cache_path`; never inside dist/, so it is not published), remembers,
per image, the source's size and mtime; per page, a digest of its inputs
(site-wide inputs: generator code, templates, site_src/, settings, what is
published, the atlas's structure; plus the
fingerprints of the images it shows); per download, its inputs' digest. What
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import vtl_gallery
from vtl_gallery import urls
from vtl_gallery.catalog import Atlas, UnsafeAtlasError, read_atlas
from vtl_gallery.config import SiteConfig, load_config
from vtl_gallery.content import MarkdownPage, read_pages
from vtl_gallery.downloads import MANIFEST, write_downloads
from vtl_gallery.figures.site import write_paper_figures
from vtl_gallery.files import kept, make_dirs, write_if_changed
from vtl_gallery.images import Derived, atlas_png_bytes, sync_images
from vtl_gallery.observations import analysis_digest, write_analysis_plots
from vtl_gallery.pages import Page, Site, build_site_model
from vtl_gallery.parallel import fork_map
from vtl_gallery.publish import LOSSLESS_BUDGET, Publishing
from vtl_gallery.search import write_script_data
from vtl_gallery.sitemap import MAX_URLS, write_sitemaps
from vtl_gallery.writer import Writer

__all__ = [
    "BUILD_MANIFEST",
    "DEFAULT_SITE_SRC",
    "NO_BASE_URL_WARNING",
    "BuildReport",
    "build_cache_path",
    "build_site",
]

DEFAULT_SITE_SRC = Path(__file__).resolve().parent / "site_src"
"""The bundled pages and site.toml, used when no site_src is given."""

NO_BASE_URL_WARNING = (
    "site: warning: no base_url (site.toml or --base-url): citations will be relative. Permanent URLs "
    "and BibTeX entries name paths, not addresses; there are no canonical links, citation_public_url "
    "or sitemap.xml, and the links of 404.html work only for missing pages at the top level. "
    "Pass --base-url https://... (the address the site is served from) for a site to cite."
)
"""Logged once by a build without a base URL."""

BUILD_MANIFEST = ".vtl-build.json"
"""The build cache's name: beside dist/ as ``.<dist name>.vtl-build.json`` (older builds kept it inside)."""
_MANIFEST_VERSION = 2
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
    "observations",
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


def build_cache_path(dist: Path) -> Path:
    """The build cache of output `dist`: next to it, not in it (dist/ is what gets published)."""
    dist = dist.resolve()
    return dist.parent / f".{dist.name}{BUILD_MANIFEST}"


def _load_manifest(dist: Path) -> dict:
    """The last build's cache; of an older format (or left inside dist/ by older builds), only the
    list of files it wrote, so that those no longer part of the site are removed."""
    for path in (build_cache_path(dist), dist / BUILD_MANIFEST):
        try:
            data = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            continue
        if data.get("version") == _MANIFEST_VERSION:
            return data
        return {"outputs": data.get("outputs", [])}
    return {}


@dataclass
class _Inputs:
    """What a build reads, checked: where things are, the settings and the atlas."""

    atlas_dir: Path
    dist: Path
    src: Path | None  # site_src
    user_templates: Path | None
    config: SiteConfig
    atlas: Atlas
    publishing: Publishing = field(default_factory=Publishing)


@contextmanager
def _timed(report: BuildReport, stage: str) -> Iterator[None]:
    mark = time.perf_counter()
    yield
    report.timings[stage] = time.perf_counter() - mark


def _read_inputs(
    atlas_dir: str | os.PathLike,
    out: str | os.PathLike,
    site_src: str | os.PathLike | None,
    templates: str | os.PathLike | None,
    base_url: str | None,
    workers: int | None,
) -> _Inputs:
    """Check the folders, load the settings and read the atlas."""
    atlas_path, dist = Path(atlas_dir), Path(out)
    src = Path(site_src) if site_src is not None else None
    for name, folder in (("site_src", src), ("templates", templates)):
        if folder is not None and not Path(folder).is_dir():
            raise FileNotFoundError(f"{name} folder {folder} does not exist (or is not a folder).")
    user_templates = Path(templates) if templates else (src / "templates" if src else None)
    config = load_config(src / "site.toml" if src else None, base_url=base_url, workers=workers)
    _check_locations(atlas_path, dist)
    return _Inputs(atlas_path, dist, src, user_templates, config, read_atlas(atlas_path))


def _publishing(asked: Publishing, atlas: Atlas, log: Callable[[str], None]) -> Publishing:
    """`asked` with ``--views auto`` decided for this atlas (and the choice logged)."""
    png_bytes = atlas_png_bytes(atlas)
    publishing = asked.resolved(png_bytes)
    if asked.views != publishing.views:
        log(
            f"site: {publishing.views} views (--views auto: the atlas's PNGs total "
            f"{png_bytes / 1e6:,.0f} MB; lossless up to {LOSSLESS_BUDGET / 1e6:,.0f} MB)"
        )
    return publishing


def _update_images(
    inputs: _Inputs,
    previous: dict[str, list],
    report: BuildReport,
    outputs: set[str],
    log: Callable[[str], None],
) -> tuple[dict[str, Derived], dict[str, list]]:
    """Bring the originals and their derivatives up to date; returns (derived, image state)."""
    atlas, config = inputs.atlas, inputs.config
    log(f"site: {len(atlas.images)} images, {len(atlas.models)} models from {inputs.atlas_dir}")
    derived, image_state, redone = sync_images(
        atlas,
        inputs.dist,
        previous,
        thumb_px=config.thumb_px,
        view_px=config.view_px,
        quality=config.webp_quality,
        workers=config.workers,
        publishing=inputs.publishing,
        progress=lambda done, total: log(f"site: images {done}/{total}"),
    )
    report.images, report.images_redone = len(atlas.images), redone
    for files in derived.values():
        outputs.update(files.files)
    return derived, image_state


def _read_markdown_pages(src: Path | None) -> list[MarkdownPage]:
    """The pages of site_src, none of them named like one of the site's own paths."""
    pages_md = read_pages(src)
    clashes = sorted(p.slug for p in pages_md if p.slug in _RESERVED)
    if clashes:
        raise ValueError(
            f"site_src page name(s) {clashes} clash with the site's own paths {sorted(_RESERVED)}."
        )
    return pages_md


def _site_model(inputs: _Inputs, derived: dict[str, Derived]) -> tuple[Site, Writer, str]:
    """The site model, its writer and the digest of the inputs all pages share."""
    site = build_site_model(inputs.atlas, derived, inputs.config, _read_markdown_pages(inputs.src))
    site.publishing = inputs.publishing
    writer = Writer(site, inputs.dist, inputs.user_templates)
    primary = f"{site.primary_method}|{inputs.publishing!r}"  # the pages link what is published
    primary += f"|analysis:{analysis_digest(site.analysis)}"  # metrics shown on layer and channel pages
    digest = _site_digest(inputs.atlas, inputs.config, writer.dirs, inputs.src, primary)
    return site, writer, digest


def _write_static_and_downloads(
    site: Site,
    writer: Writer,
    dist: Path,
    previous: dict[str, str],
    workers: int,
    report: BuildReport,
    outputs: set[str],
) -> dict[str, str]:
    """Copy the static files and write the downloads; returns their state."""
    for name, source in writer.static_files():
        target = urls.safe_output_path(dist, "static/" + name)
        report.other_written += write_if_changed(target, source.read_bytes())
        outputs.add("static/" + name)
    site.archives, zip_state, changed = write_downloads(site, dist, previous, workers)
    report.other_written += changed
    outputs.update(a.path for a in site.archives)
    outputs.update(f.path for f in site.download_files)
    outputs.add(MANIFEST)
    return zip_state


def _pages_to_render(
    site: Site, site_digest: str, zip_state: dict[str, str], previous: dict[str, str], dist: Path
) -> tuple[dict[str, str], list[Page]]:
    """Each page's digest, and the pages whose digest changed or whose file is gone."""
    page_state: dict[str, str] = {}
    todo = []
    for page in site.pages:
        if page.path == urls.DOWNLOADS:  # shows archive sizes
            page.deps = [*page.deps, *sorted(zip_state.values())]
        digest = page.digest(site_digest)
        page_state[page.path] = digest
        if previous.get(page.path) != digest or not kept(dist / urls.output_file(page.path)):
            todo.append(page)
    return page_state, todo


def _write_script_data_and_sitemaps(
    site: Site, writer: Writer, dist: Path, sitemap_max_urls: int, report: BuildReport, outputs: set[str]
) -> None:
    data_paths, changed = write_script_data(site, dist)
    report.other_written += changed
    outputs.update(data_paths)
    listed = [p.path for p in site.pages if p.listed]
    sitemap_paths, changed = write_sitemaps(writer, dist, listed, sitemap_max_urls)
    report.other_written += changed
    outputs.update(sitemap_paths)


def _remove_stale(dist: Path, previous_outputs: list[str], outputs: set[str]) -> int:
    """Delete the files an earlier build wrote that this one did not; returns how many."""
    removed = 0
    for stale in sorted(set(previous_outputs) - outputs):
        target = urls.safe_output_path(dist, stale)
        if target.is_file():
            target.unlink()
            removed += 1
    return removed


def _save_manifest(
    dist: Path,
    image_state: dict[str, list],
    page_state: dict[str, str],
    zip_state: dict[str, str],
    outputs: set[str],
) -> None:
    state = {
        "version": _MANIFEST_VERSION,
        "images": image_state,
        "pages": page_state,
        "zips": zip_state,
        "outputs": sorted(outputs),
    }
    write_if_changed(build_cache_path(dist), json.dumps(state, separators=(",", ":")).encode())
    (dist / BUILD_MANIFEST).unlink(missing_ok=True)  # where builds before the cache moved out kept it


def build_site(
    atlas_dir: str | os.PathLike,
    out: str | os.PathLike,
    *,
    site_src: str | os.PathLike | None = DEFAULT_SITE_SRC,
    templates: str | os.PathLike | None = None,
    base_url: str | None = None,
    workers: int | None = None,
    sitemap_max_urls: int = MAX_URLS,
    publishing: Publishing | None = None,
    figures: str = "none",
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
        publishing: which copies of the images and which downloads to
            write (`vtl_gallery.publish.Publishing`; default: views lossless
            or lossy by the atlas's size, no PNG originals or ZIPs).
        figures: publication figures (PDF, PNG) to write beside pages, one of
            `vtl_gallery.figures.site.FIGURE_MODES`; "none" by default here
            (drawing figures is the slowest step), ``vtl site`` passes "auto".
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
    inputs = _read_inputs(atlas_dir, out, site_src, templates, base_url, workers)
    inputs.publishing = _publishing(publishing or Publishing(), inputs.atlas, log)
    dist, config = inputs.dist, inputs.config
    if not config.absolute_base:
        log(NO_BASE_URL_WARNING)
    make_dirs(dist)
    previous = _load_manifest(dist)
    outputs: set[str] = set()  # every file of this build, relative to dist

    with _timed(report, "images"):
        derived, image_state = _update_images(inputs, previous.get("images", {}), report, outputs, log)
    with _timed(report, "model"):
        site, writer, site_digest = _site_model(inputs, derived)
    with _timed(report, "downloads"):
        zip_state = _write_static_and_downloads(
            site, writer, dist, previous.get("zips", {}), config.workers, report, outputs
        )
    with _timed(report, "figures"):
        figure_paths, figures_written = write_paper_figures(site, dist, figures, config.workers, log)
        outputs.update(figure_paths)
        report.other_written += figures_written
        plot_paths, plots_written = write_analysis_plots(site, dist)  # the Observations page's SVGs
        outputs.update(plot_paths)
        report.other_written += plots_written
    with _timed(report, "pages"):
        page_state, todo = _pages_to_render(site, site_digest, zip_state, previous.get("pages", {}), dist)
        outputs.update(urls.output_file(path) for path in page_state)
        report.pages_rendered = len(todo)
        report.pages_written = sum(fork_map(writer.write, todo, config.workers))
        report.pages = len(site.pages)
    with _timed(report, "data"):
        _write_script_data_and_sitemaps(site, writer, dist, sitemap_max_urls, report, outputs)
        report.removed = _remove_stale(dist, previous.get("outputs", []), outputs)

    _save_manifest(dist, image_state, page_state, zip_state, outputs)
    report.seconds = time.perf_counter() - started
    log("site: " + report.summary() + f" -> {dist}")
    return report
