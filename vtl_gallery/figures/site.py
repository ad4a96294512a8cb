"""The gallery's publication figures: files beside each figure page and channel page, and what the pages say.

For each page that shows a figure (figure 6, figure 7 and its other
models, and, as `FIGURE_MODES` decides, each channel's before/after strip)
this writes a PDF and a PNG at one and two column widths next to the page
(``layer/<id>/<n>/<id>-<n>-1col.pdf``, ...), and puts a `PaperFigure` in the
page's context (``paper_figures``): each file's permanent URL and size, and
a LaTeX snippet per width. A channel page without files gets the
``vtl figure`` commands that make them (``figure_commands``).

Incremental: each file records the digest of its inputs
(`vtl_gallery.figures.render.figure_digest`); a file that holds the digest
it would get is kept as it is, so a rebuild redraws only figures whose
images, labels or code changed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from vtl_gallery import urls
from vtl_gallery.catalog import INCEPTION_V1
from vtl_gallery.figures.latex import latex_snippet
from vtl_gallery.figures.render import figure_digest
from vtl_gallery.figures.spec import (
    AUTO_CHANNELS,
    COLUMNS,
    DPI,
    FIGURE_MODES,
    FORMATS,
    MM,
    WIDTH_IN,
    FigureSpec,
    Panel,
    Tile,
)
from vtl_gallery.files import kept, write_if_changed
from vtl_gallery.pages import Page, Site
from vtl_gallery.parallel import fork_map

__all__ = [
    "AUTO_CHANNELS",
    "FIGURE_MODES",
    "FigureFile",
    "FigureSize",
    "PaperFigure",
    "channel_figures_wanted",
    "write_paper_figures",
]


@dataclass(frozen=True)
class FigureFile:
    """One file of a figure, as the page lists it."""

    columns: int
    format: str
    path: str
    url: str
    bytes: int
    pixels: tuple[int, int] | None = None

    @property
    def name(self) -> str:
        """The file's name (what a download saves it as)."""
        return self.path.rsplit("/", 1)[-1]

    @property
    def label(self) -> str:
        if self.format == "pdf":
            return "PDF"
        width, height = self.pixels or (0, 0)
        return f"PNG {width}×{height} px"

    @property
    def size_text(self) -> str:
        return f"{self.bytes / 1e6:.1f} MB" if self.bytes >= 1e6 else f"{max(1, round(self.bytes / 1e3))} kB"


@dataclass(frozen=True)
class FigureSize:
    """A figure at one width: its files and the LaTeX that places it."""

    columns: int
    files: tuple[FigureFile, ...]
    latex: str
    anchor: str
    height_in: float

    @property
    def title(self) -> str:
        kind = "One column" if self.columns == 1 else "Two columns"
        return f"{kind}: {WIDTH_IN[self.columns]:.1f} × {self.height_in:.1f} in ({MM[self.columns]} mm wide)"


@dataclass(frozen=True)
class PaperFigure:
    """A figure of a page: what it shows and its sizes."""

    name: str
    caption: str
    sizes: tuple[FigureSize, ...]


def channel_figures_wanted(mode: str, channels: int) -> bool:
    """Whether a build in `mode` writes each channel's figure, for an atlas of `channels` channels.

    Raises:
        ValueError: an unknown mode, naming the valid ones.
    """
    if mode not in FIGURE_MODES:
        raise ValueError(f"figures mode {mode!r} is not one of {', '.join(FIGURE_MODES)}")
    return mode == "all" or (mode == "auto" and channels <= AUTO_CHANNELS)


def _tile(site: Site, picture) -> Tile:
    if picture is None:
        return Tile(None)
    return Tile(site.atlas.source(picture.row), picture.size, picture.derived.sha256)


def _which(context: dict, figure: int) -> str:
    """How a caption names the figure: the paper's (InceptionV1), or the paper's view of another network."""
    network = context.get("fig_network")
    if network is None:
        return f"The paper's figure {figure} rebuilt from this atlas"
    return f"The paper's figure {figure} for {network.label}, from this atlas (layers not the paper's)"


def _figure6(site: Site, context: dict) -> FigureSpec | None:
    model = context.get("fig6_model")
    panels = [p for p in context.get("fig6", []) if p.rows]
    if model is None or not panels:
        return None
    short = {snap.label: snap.short_label for snap in model.snapshots}
    built = tuple(
        Panel(
            panel.title,
            tuple(h.replace("channel ", "ch ") for h in panel.header),
            tuple(short.get(row.label, row.label) for row in panel.rows),
            tuple(tuple(_tile(site, cell.picture) for cell in row.cells) for row in panel.rows),
        )
        for panel in panels
    )
    layers = ", ".join(panel.layer.id for panel in panels)
    caption = (
        f"{_which(context, 6)}: channels (columns) of {model.name} "
        f"({model.dataset_label}) at its training snapshots (rows), {site.primary_method} images; "
        f"panels: {layers}"
    )
    return FigureSpec("figure-6", built, caption)


def _figure7(site: Site, context: dict, name: str) -> FigureSpec | None:
    post, rows = context.get("fig7_post"), context.get("fig7", [])
    if post is None or not rows:
        return None
    pre = post.parent
    labels = tuple((row.layer.row.short_id or row.layer.id) if row.layer else row.label for row in rows)
    tiles = tuple(tuple(_tile(site, cell.picture) for cell in row.cells) for row in rows)
    title = f"{pre.name} (pre) and {post.name} (post)" if pre else post.name
    panel = Panel(title, tuple(context["fig7_header"]), labels, tiles)
    caption = (
        f"{_which(context, 7)}: the first channels of each layer (rows) "
        f"before transfer ({pre.name if pre else 'no parent'}) and after ({post.name}, "
        f"{post.dataset_label}), {site.primary_method} images; layers: {', '.join(row.label for row in rows)}"
    )
    return FigureSpec(name, (panel,), caption)


def _channel(site: Site, context: dict) -> FigureSpec | None:
    channel, panels = context["channel"], context.get("panels", [])
    plain = [p for p in panels if not p.model.is_temporal and p.final.picture is not None]
    built = []
    if plain:
        labels = tuple(f"{p.model.name} ({'post' if p.model.parent else 'pre'})" for p in plain)
        tiles = (tuple(_tile(site, p.final.picture) for p in plain),)
        built.append(Panel("Before and after transfer", labels, ("",), tiles))
    strips = [p for p in panels if p.strip]
    for panel in strips:
        labels = tuple(cell.snapshot_label for cell in panel.strip)
        short = {snap.label: snap.short_label for snap in panel.model.snapshots}
        labels = tuple(short.get(label, label) for label in labels)
        tiles = (tuple(_tile(site, cell.picture) for cell in panel.strip),)
        built.append(Panel(f"{panel.model.name} across training", labels, ("",), tiles))
    if not built:
        return None
    parts = []
    if plain:
        pre = [p.model.name for p in plain if not p.model.parent]
        post = [p.model.name for p in plain if p.model.parent]
        parts.append(
            "before transfer in "
            + (", ".join(pre) or "no parent")
            + (f", after in {', '.join(post)}" if post else "")
        )
    parts += [f"{p.model.name} at its snapshots" for p in strips]
    caption = f"Channel {channel.id} ({site.primary_method} images): {'; '.join(parts)}"
    return FigureSpec(f"{channel.layer.id}-{channel.index}", tuple(built), caption)


def _commands(site: Site, context: dict) -> list[str]:
    """The ``vtl figure`` commands that make a channel page's figures (shell lines with continuations)."""
    channel, panels = context["channel"], context.get("panels", [])
    head = f"vtl figure --atlas ATLAS --layers {channel.layer.id} --channels {channel.index} \\\n  "
    stem = f"{channel.layer.id}-{channel.index}"
    tail = f" --method {site.primary_method} \\\n  --columns 1 --format both --out {stem}"
    plain = [p.model.name for p in panels if not p.model.is_temporal and p.final.picture is not None]
    commands = [f"{head}--models {','.join(plain)}{tail}.pdf"] if plain else []
    commands += [
        f"{head}--models {p.model.name} --snapshots all{tail}-{p.model.name}.pdf" for p in panels if p.strip
    ]
    return commands


@dataclass
class _Job:
    page: Page
    spec: FigureSpec
    todo: list[tuple[int, str, Path]]


def _specs(site: Site, with_channels: bool) -> list[tuple[Page, FigureSpec]]:
    found = []
    for page in site.pages:
        spec = None
        network = page.context.get("fig_net", INCEPTION_V1)
        if page.template == "figure6.html" and page.path == urls.figure6(network):
            spec = _figure6(site, page.context)
        elif page.template == "figure7.html":
            model = page.context.get("fig7_post")
            default = page.path == urls.figure7(network)
            spec = _figure7(
                site, page.context, "figure-7" if default or model is None else f"figure-7-{model.name}"
            )
        elif page.template == "channel.html":
            if with_channels:
                spec = _channel(site, page.context)
            else:
                page.context["figure_commands"] = _commands(site, page.context)
        if spec is not None:
            found.append((page, spec))
    return found


def _file_path(page: Page, spec: FigureSpec, columns: int, fmt: str) -> str:
    return f"{page.path}{spec.name}-{columns}col.{fmt}"


def _current(target: Path, digest: str) -> bool:
    """True if `target` exists and records `digest` (it would be written again byte for byte)."""
    return kept(target) and digest.encode() in target.read_bytes()


def _draw(job: _Job) -> int:
    """Worker: draw one figure's missing or stale files; returns how many files changed."""
    from vtl_gallery.figures.render import render_figure

    title = job.spec.caption.split(":")[0]
    made = render_figure(job.spec, [(columns, fmt) for columns, fmt, _ in job.todo], title)
    return sum(write_if_changed(target, made[(columns, fmt)]) for columns, fmt, target in job.todo)


def _png_pixels(target: Path) -> tuple[int, int]:
    with open(target, "rb") as handle:
        header = handle.read(24)
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def _describe(site: Site, page: Page, spec: FigureSpec, dist: Path) -> PaperFigure:
    base = site.config.absolute_base
    page_url = base + page.path if base else page.path
    sizes = []
    for columns in COLUMNS:
        files = []
        for fmt in FORMATS:
            path = _file_path(page, spec, columns, fmt)
            target = urls.safe_output_path(dist, path)
            pixels = _png_pixels(target) if fmt == "png" else None
            files.append(
                FigureFile(columns, fmt, path, base + path if base else path, target.stat().st_size, pixels)
            )
        png = next(f for f in files if f.pixels)
        latex = latex_snippet(
            graphic=files[0].name,
            columns=columns,
            caption=spec.caption,
            page_url=page_url,
            file_url=files[0].url,
            label=f"fig:vtl-{spec.name}",
        )
        sizes.append(
            FigureSize(columns, tuple(files), latex, f"latex-{spec.name}-{columns}col", png.pixels[1] / DPI)
        )
    return PaperFigure(spec.name, spec.caption, tuple(sizes))


def write_paper_figures(
    site: Site, dist: Path, mode: str, workers: int = 1, log: Callable[[str], None] = print
) -> tuple[set[str], int]:
    """Write the figure files of every figure page (and channel, by `mode`) and tell the pages.

    Each page with a figure gets ``paper_figures`` (a list of `PaperFigure`)
    in its context and its files' digests and sizes in its dependencies; a
    channel page without figures gets ``figure_commands``.

    Args:
        site: the site model (its pages are changed in place).
        dist: the output folder.
        mode: one of `FIGURE_MODES`.
        workers: processes drawing figures.
        log: receives a line about what was done.

    Returns:
        (the site paths of every figure file, how many files were written).

    Raises:
        ValueError: an unknown mode.
    """
    with_channels = channel_figures_wanted(mode, len(site.channels))
    if mode == "none":
        for page in site.pages:
            if page.template == "channel.html":
                page.context["figure_commands"] = _commands(site, page.context)
        return set(), 0
    if mode == "auto" and not with_channels:
        log(
            f"site: channel figures skipped: {len(site.channels)} channels (more than {AUTO_CHANNELS}); "
            "channel pages show the `vtl figure` command instead (--figures all writes them)"
        )
    found = _specs(site, with_channels)
    jobs, paths = [], set()
    for page, spec in found:
        todo = []
        for columns in COLUMNS:
            for fmt in FORMATS:
                path = _file_path(page, spec, columns, fmt)
                paths.add(path)
                target = urls.safe_output_path(dist, path)
                if not _current(target, figure_digest(spec, columns, fmt)):
                    todo.append((columns, fmt, target))
        if todo:
            jobs.append(_Job(page, spec, todo))
    written = sum(fork_map(_draw, jobs, workers, min_items=4))
    for page, spec in found:
        figure = _describe(site, page, spec, dist)
        page.context["paper_figures"] = [figure]
        page.deps = [
            *page.deps,
            *(
                f"{f.path}|{f.bytes}|{figure_digest(spec, f.columns, f.format)}"
                for s in figure.sizes
                for f in s.files
            ),
        ]
    log(f"site: paper figures: {len(found)} figures, {len(paths)} files ({written} written)")
    return paths, written
