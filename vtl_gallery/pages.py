"""The site's context objects, built in one place.

Templates only loop and read properties: every URL, label, grid cell and
citation is computed here, from the atlas and the image derivatives. The
result is a list of `Page` (site path, template, context, dependencies);
`vtl_gallery.writer` renders them.

Vocabulary: a *picture* is one atlas image with its three files; a *card* is
one channel in a grid, holding one *cell* per model or snapshot.
"""

from __future__ import annotations

import hashlib
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from vtl_gallery import urls
from vtl_gallery.catalog import Atlas, ImageRow, LayerRow, MethodRow, ModelRow, SnapshotRow
from vtl_gallery.config import SiteConfig
from vtl_gallery.content import MarkdownPage
from vtl_gallery.images import Derived

__all__ = ["PAPER_FIGURE6", "PAPER_FIGURE7", "Page", "Site", "build_site_model", "choose_primary"]

# The figures' layers are the atlas's (meta figure6_layers and figure7_layers, written by the visualizer);
# these copies serve atlases rendered before the catalog recorded them.
PAPER_FIGURE6: tuple[str, ...] = (
    "Mixed_4c_Branch_2_b_3x3",
    "Mixed_4d_Branch_3_b_1x1",
    "Mixed_4e_Branch_2_a_1x1",
    "Mixed_4f_Branch_1_a_1x1",
    "Mixed_5b_Branch_3_b_1x1",
    "Mixed_5c_Branch_0_a_1x1",
)
"""The layers of the paper's figure 6, panels (a) to (f), for atlases that do not record them."""
PAPER_FIGURE7: tuple[str, ...] = (
    "Conv2d_2b_1x1",
    "Mixed_3b_Branch_3_b_1x1",
    "Mixed_4b_Branch_1_a_1x1",
    "Mixed_4c_Branch_2_a_1x1",
    "Mixed_4d_Branch_0_a_1x1",
    "Mixed_4e_Branch_1_b_3x3",
    "Mixed_4f_Branch_2_b_3x3",
    "Mixed_5b_Branch_3_b_1x1",
)
"""The eight layers the paper's figure 7 prints, for atlases that do not record them."""

FIGURE7_CHANNELS = 4  # "first 4 channels"
FIGURE6_MAX_CHANNELS = 8


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


@dataclass(frozen=True)
class Picture:
    """One atlas image and its files, as templates use it."""

    row: ImageRow
    derived: Derived
    alt: str

    @property
    def version(self) -> str:
        """Short content hash, appended to file URLs so caches see changes."""
        return self.derived.sha256[:10]

    @property
    def original(self) -> str:
        return urls.original(self.row.path)

    @property
    def thumb(self) -> str:
        return urls.thumb(self.row.path) + "?v=" + self.version

    @property
    def view(self) -> str:
        return urls.view(self.row.path) + "?v=" + self.version

    @property
    def thumb_size(self) -> tuple[int, int]:
        return self.derived.thumb

    @property
    def view_size(self) -> tuple[int, int]:
        return self.derived.view

    @property
    def size(self) -> tuple[int, int]:
        return self.derived.size

    @property
    def objective(self) -> str:
        return _fmt(self.row.objective)

    @property
    def metrics(self) -> list[tuple[str, str]]:
        return [(name, _fmt(value)) for name, value in self.row.metrics]

    @property
    def fingerprint(self) -> str:
        return f"{self.derived.sha256}|{self.row.objective}|{self.row.metrics}|{self.row.settings}"


@dataclass
class SnapshotView:
    """One snapshot of a model."""

    row: SnapshotRow
    model: ModelView

    @property
    def name(self) -> str:
        return self.row.snapshot

    @property
    def key(self) -> str:
        """``model@snapshot``, the comparison view's name for it."""
        return f"{self.row.model}@{self.row.snapshot}"

    @property
    def label(self) -> str:
        if self.row.is_final:
            steps = f" ({self.row.iteration} steps)" if self.row.iteration is not None else ""
            return "final" + steps
        if self.row.iteration is not None:
            return f"iteration {self.row.iteration}"
        return self.row.snapshot

    @property
    def short_label(self) -> str:
        if self.row.iteration is not None and not (self.row.is_final and not self.model.is_temporal):
            return f"it. {self.row.iteration}"
        return self.row.snapshot

    @property
    def metric(self) -> str:
        return _fmt(self.row.metric)

    @property
    def metric_name(self) -> str:
        return self.row.metric_name or ""


@dataclass
class ModelView:
    """One model of the atlas."""

    row: ModelRow
    parent: ModelView | None = None
    children: list[ModelView] = field(default_factory=list)
    snapshots: list[SnapshotView] = field(default_factory=list)
    layers: list[LayerView] = field(default_factory=list)
    image_count: int = 0

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def title(self) -> str:
        return self.row.name

    @property
    def dataset(self) -> str:
        return self.row.dataset or ""

    @property
    def description(self) -> str:
        return self.row.description or ""

    @property
    def url(self) -> str:
        return urls.model(self.name)

    @property
    def final(self) -> SnapshotView | None:
        finals = [s for s in self.snapshots if s.row.is_final]
        return (finals or self.snapshots or [None])[-1]

    @property
    def is_temporal(self) -> bool:
        """A model with several snapshots: its grids show the whole strip."""
        return len(self.snapshots) > 1

    @property
    def parent_name(self) -> str:
        return self.row.parent or ""


@dataclass
class Cell:
    """One image slot of a card or a figure; `picture` is None when not rendered."""

    label: str
    picture: Picture | None
    title: str = ""
    kind: str = ""  # "pre" or "post" on pre/post grids
    snapshot_label: str = ""

    @property
    def column(self) -> str:
        """Legend of the grid column this cell is in."""
        return f"{self.label} ({self.kind})" if self.kind else self.label


@dataclass
class ChannelView:
    """One channel (``<layer id>:<index>``) across the atlas."""

    layer: LayerView
    index: int
    images: list[ImageRow] = field(default_factory=list)
    prev: ChannelView | None = None
    next: ChannelView | None = None

    @property
    def id(self) -> str:
        return f"{self.layer.id}:{self.index}"

    @property
    def url(self) -> str:
        return urls.channel(self.layer.id, self.index)

    @property
    def anchor(self) -> str:
        return f"c{self.index}"

    @property
    def title(self) -> str:
        return f"{self.layer.id}:{self.index}"


@dataclass
class Card:
    """A channel in a grid: one cell per model or snapshot."""

    channel: ChannelView
    cells: list[Cell]

    @property
    def sort_objective(self) -> str:
        values = [
            c.picture.row.objective for c in self.cells if c.picture and c.picture.row.objective is not None
        ]
        return _fmt(values[-1]) if values else ""


@dataclass
class LayerView:
    """One layer of the catalogue, with what the atlas holds for it."""

    row: LayerRow
    models: list[ModelView] = field(default_factory=list)
    channels: list[ChannelView] = field(default_factory=list)
    image_count: int = 0

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def url(self) -> str:
        return urls.layer(self.id)

    @property
    def title(self) -> str:
        return self.row.id

    @property
    def paper_position(self) -> int:
        return self.row.paper_index + 1

    @property
    def graph_position(self) -> int:
        return self.row.graph_index + 1

    @property
    def aliases(self) -> list[tuple[str, str]]:
        """(scheme, name) for every alias of the layer, canonical id first."""
        pairs = [
            ("paper / site id", self.row.id),
            ("slim checkpoint scope", self.row.slim_scope),
            ("short id (figure 6)", self.row.short_id),
            ("frozen-graph op", self.row.graph_op),
            ("block", self.row.block),
            ("Lucid block name", self.row.lucid_block),
        ]
        return [(scheme, name) for scheme, name in pairs if name]

    @property
    def names(self) -> list[str]:
        """Every searchable name."""
        return [name for _, name in self.aliases]

    @property
    def full_channels(self) -> int:
        return self.row.channels

    @property
    def rendered_channels(self) -> int:
        return len(self.channels)

    @property
    def data_url(self) -> str:
        return urls.layer_data(self.id)

    @property
    def has_images(self) -> bool:
        return bool(self.channels)


@dataclass
class Page:
    """One page to write.

    Attributes:
        path: site path (``layer/X/17/``).
        template: template file name.
        context: what the template reads.
        deps: fingerprints of everything the page shows beyond the site-wide
            inputs; with those, they decide whether it must be rendered again.
    """

    path: str
    template: str
    context: dict
    deps: list[str] = field(default_factory=list)

    def digest(self, site_digest: str) -> str:
        """Fingerprint of the page's inputs."""
        h = hashlib.sha256(f"{site_digest}|{self.template}|{self.path}".encode())
        for dep in self.deps:
            h.update(dep.encode())
        return h.hexdigest()


@dataclass
class Site:
    """The whole site model: the objects every template sees and the pages."""

    config: SiteConfig
    atlas: Atlas
    models: list[ModelView]
    layers: list[LayerView]
    layers_graph_order: list[LayerView]
    channels: list[ChannelView]
    markdown_pages: list[MarkdownPage]
    primary_method: str
    methods: list[str]
    figure6_layers: list[str] = field(default_factory=list)
    figure7_layers: list[str] = field(default_factory=list)
    index: _Index | None = None
    pages: list[Page] = field(default_factory=list)
    archives: list = field(default_factory=list)  # filled by vtl_gallery.downloads

    def picture(self, row: ImageRow) -> Picture:
        """The `Picture` of an atlas image."""
        return self.index.picture(row)

    def described_methods(self, names: Iterable[str]) -> list[MethodRow]:
        """The ``methods`` rows of `names` that the atlas describes, in the site's method order."""
        wanted = set(names)
        return [self.atlas.methods[m] for m in self.methods if m in wanted and m in self.atlas.methods]

    @cached_property
    def datasets(self) -> list[tuple[str, list[ModelView]]]:
        """(dataset, its models), in model order."""
        by: dict[str, list[ModelView]] = defaultdict(list)
        for model in self.models:
            by[model.dataset or "(unknown)"].append(model)
        return list(by.items())

    @property
    def image_count(self) -> int:
        return len(self.atlas.images)

    @property
    def snapshot_count(self) -> int:
        return sum(len(m.snapshots) for m in self.models)

    @property
    def layers_with_images(self) -> list[LayerView]:
        return [layer for layer in self.layers if layer.has_images]

    @property
    def page_slugs(self) -> set[str]:
        """Slugs of the Markdown pages (the footer links cite and license if present)."""
        return {page.slug for page in self.markdown_pages}

    @property
    def nav(self) -> list[tuple[str, str]]:
        """(label, site path) of the main navigation."""
        items = [
            ("Layers", urls.LAYERS),
            ("Models", urls.MODELS),
            ("Figures", urls.FIGURES),
            ("Compare", urls.COMPARE),
            ("Downloads", urls.DOWNLOADS),
        ]
        return items + [(page.title, urls.page(page.slug)) for page in self.markdown_pages]


class _Index:
    """Lookups over the atlas images, built once."""

    def __init__(self, atlas: Atlas, derived: dict[str, Derived], primary: str):
        self.derived = derived
        self.primary: dict[tuple[str, str, str, int], ImageRow] = {}
        self.by_channel: dict[tuple[str, int], list[ImageRow]] = defaultdict(list)
        self.by_model_layer: dict[tuple[str, str], list[ImageRow]] = defaultdict(list)
        for image in atlas.images:
            self.by_channel[(image.layer, image.channel)].append(image)
            self.by_model_layer[(image.model, image.layer)].append(image)
            if image.method == primary and image.variant == "":
                self.primary[(image.model, image.snapshot, image.layer, image.channel)] = image

    def picture(self, row: ImageRow | None) -> Picture | None:
        if row is None:
            return None
        variant = f" {row.variant}" if row.variant else ""
        alt = f"{row.layer}:{row.channel} in {row.model} ({row.snapshot}, {row.method}{variant})"
        return Picture(row, self.derived[row.path], alt)

    def cell(
        self, model: ModelView, snapshot: SnapshotView | None, layer: str, channel: int, kind: str = ""
    ) -> Cell:
        row = self.primary.get((model.name, snapshot.name, layer, channel)) if snapshot else None
        label = (
            model.name
            if snapshot is None or not model.is_temporal
            else f"{model.name} {snapshot.short_label}"
        )
        title = f"{model.name} ({model.dataset}), {snapshot.label if snapshot else 'no snapshot'}"
        return Cell(label, self.picture(row), title, kind, snapshot.label if snapshot else "")


def method_rank(method: str, described: dict[str, MethodRow]) -> tuple[int, int, int, str]:
    """Sort key of a method: images before contact sheets, each by the atlas's display order.

    A method the atlas's ``methods`` table does not describe (an atlas
    rendered before the table existed, or a method the renderer did not
    register) counts as an image and comes after the described images, by name.
    """
    row = described.get(method)
    if row is None:
        return (0, 1, 0, method)
    return (1 if row.kind == "sheet" else 0, 0, row.display_order, method)


def choose_primary(atlas: Atlas, config: SiteConfig) -> tuple[str, list[str]]:
    """The method the grids show, and every method of the atlas in the order pages list them.

    The grids show one image per channel: a feature visualization where there
    is one; methods whose images are contact sheets go to the grids only when
    nothing else was rendered.

    Args:
        atlas: the atlas (its images and its ``methods`` table).
        config: site settings; a set ``primary_method`` wins.

    Returns:
        ``(primary, methods)``: the methods with images in `method_rank`
        order; by default the primary is the first of them (``""`` for an
        atlas without images).
    """
    present = {image.method for image in atlas.images}
    methods = sorted(present, key=lambda method: method_rank(method, atlas.methods))
    if config.primary_method:
        return config.primary_method, methods
    return (methods[0] if methods else ""), methods


def build_site_model(
    atlas: Atlas, derived: dict[str, Derived], config: SiteConfig, markdown_pages: list[MarkdownPage]
) -> Site:
    """Build every context object and the list of pages.

    Args:
        atlas: the atlas.
        derived: per image path, its files (from `vtl_gallery.images.sync_images`).
        config: site settings.
        markdown_pages: pages from site_src/.

    Returns:
        The `Site`, with `Site.pages` filled.
    """
    primary, methods = choose_primary(atlas, config)
    index = _Index(atlas, derived, primary)

    models: dict[str, ModelView] = {name: ModelView(row) for name, row in atlas.models.items()}
    for model in models.values():
        model.parent = models.get(model.row.parent) if model.row.parent else None
        if model.parent is not None:
            model.parent.children.append(model)
        model.snapshots = [SnapshotView(s, model) for s in atlas.snapshots.get(model.name, [])]
    for image in atlas.images:
        models[image.model].image_count += 1

    layers = {layer_id: LayerView(row) for layer_id, row in atlas.layers.items()}
    paper_order = sorted(layers.values(), key=lambda v: (v.row.paper_index, v.row.graph_index, v.id))
    graph_order = sorted(layers.values(), key=lambda v: (v.row.graph_index, v.row.paper_index, v.id))

    # Channels: every (layer, channel) with at least one image, linked in paper order.
    channels: list[ChannelView] = []
    for layer in paper_order:
        indices = sorted({c for (lid, c) in index.by_channel if lid == layer.id})
        for channel_index in indices:
            view = ChannelView(layer, channel_index, index.by_channel[(layer.id, channel_index)])
            layer.channels.append(view)
            layer.image_count += len(view.images)
            channels.append(view)
        layer.models = [m for m in models.values() if (m.name, layer.id) in index.by_model_layer]
        for model in layer.models:
            model.layers.append(layer)
    for before, after in zip(channels, channels[1:]):
        before.next, after.prev = after, before

    site = Site(
        config=config,
        atlas=atlas,
        models=list(models.values()),
        layers=paper_order,
        layers_graph_order=graph_order,
        channels=channels,
        markdown_pages=markdown_pages,
        primary_method=primary,
        methods=methods,
        figure6_layers=list(_figure_layers(atlas, 6)),
        figure7_layers=list(_figure_layers(atlas, 7)),
        index=index,
    )
    site.pages = list(_pages(site, index))
    return site


def _figure_layers(atlas: Atlas, figure: int) -> list[str] | tuple[str, ...]:
    """The layer ids of figure 6 or 7: as the atlas records them, else the paper's."""
    recorded = atlas.figure_layers(figure)
    if recorded is not None:
        return recorded
    return PAPER_FIGURE6 if figure == 6 else PAPER_FIGURE7


# --- pages -----------------------------------------------------------------------------------------


def _deps(pictures: Iterable[Picture | None]) -> list[str]:
    return [p.fingerprint for p in pictures if p is not None]


def _layer_cards(site: Site, layer: LayerView, index: _Index) -> list[Card]:
    columns = [(m, m.final) for m in layer.models]
    return [
        Card(channel, [index.cell(model, snap, layer.id, channel.index) for model, snap in columns])
        for channel in layer.channels
    ]


def _model_layer_cards(model: ModelView, layer: LayerView, index: _Index) -> list[Card]:
    columns: list[tuple[ModelView, SnapshotView | None, str]] = []
    if model.parent is not None:
        columns.append((model.parent, model.parent.final, "pre"))
    shown = model.snapshots if model.is_temporal else [model.final]
    columns += [(model, snap, "post" if model.parent else "") for snap in shown]
    own = {row.channel for row in index.by_model_layer[(model.name, layer.id)]}
    cards = []
    for channel in layer.channels:
        if channel.index in own:
            cells = [index.cell(m, snap, layer.id, channel.index, kind) for m, snap, kind in columns]
            cards.append(Card(channel, cells))
    return cards


@dataclass
class ModelPanel:
    """A channel in one model: the final picture and, for temporal models, the strip."""

    model: ModelView
    final: Cell
    strip: list[Cell]
    others: list[Picture]
    grid_url: str


def _channel_context(site: Site, channel: ChannelView, index: _Index) -> tuple[dict, list[Picture]]:
    panels = []
    pictures: list[Picture] = []
    order = {method: position for position, method in enumerate(site.methods)}
    for model in channel.layer.models:
        rows = [r for r in channel.images if r.model == model.name]
        if not rows:
            continue
        final = index.cell(model, model.final, channel.layer.id, channel.index)
        strip = (
            [index.cell(model, s, channel.layer.id, channel.index) for s in model.snapshots]
            if model.is_temporal
            else []
        )
        shown = {id(c.picture.row) for c in [final, *strip] if c.picture}
        # Other methods in the site's order: feature visualizations first, contact sheets last.
        others = sorted(
            (index.picture(r) for r in rows if id(r) not in shown),
            key=lambda p: (order.get(p.row.method, len(order)), p.row.key),
        )
        panels.append(ModelPanel(model, final, strip, others, urls.model_layer(model.name, channel.layer.id)))
        pictures += [c.picture for c in [final, *strip] if c.picture] + others
    rows = sorted(pictures, key=lambda p: (list(site.atlas.models).index(p.row.model), p.row.key))
    pair = _default_pair(channel.layer, panels)
    context = {
        "channel": channel,
        "layer": channel.layer,
        "panels": panels,
        "table": rows,
        "compare": pair,
        "citation": _channel_citation(site, channel),
        "method_notes": site.described_methods(
            [site.primary_method, *(p.row.method for panel in panels for p in panel.others)]
        ),
    }
    return context, pictures


def _default_pair(layer: LayerView, panels: list[ModelPanel]) -> str:
    """Query string of the comparison view: the first parent against its first child, else the first two."""
    shown = [p for p in panels if p.final.picture is not None]
    if not shown:
        return f"layer={layer.id}&channel={{}}"
    post = next((p for p in shown if p.model.parent is not None), shown[-1])
    pre = next((p for p in shown if p.model is post.model.parent), shown[0])
    a, b = pre.final.picture.row, post.final.picture.row
    return f"layer={layer.id}&channel={{}}&a={a.model}@{a.snapshot}&b={b.model}@{b.snapshot}"


@dataclass(frozen=True)
class Citation:
    """A ready-to-paste citation of one page."""

    url: str
    bibtex: str
    title: str


def _bibtex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "_&%$#{}" else ch for ch in text)


def _channel_citation(site: Site, channel: ChannelView) -> Citation:
    config = site.config
    url = config.absolute_base + channel.url if config.absolute_base else channel.url
    title = f"Feature visualization of channel {channel.id}"
    fields = [
        ("title", "{" + _bibtex_escape(f"{title} ({config.title})") + "}"),
        ("author", "{" + " and ".join(config.authors) + "}"),
        ("year", "{" + str(config.year) + "}"),
        ("howpublished", "{\\url{" + url + "}}"),
    ]
    if config.citation_key:
        fields.append(("note", "{Atlas of \\cite{" + config.citation_key + "}}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields if value not in ("{}",))
    key = f"vtl:{channel.layer.id}:{channel.index}"
    return Citation(url, f"@misc{{{key},\n{body}\n}}", title)


@dataclass
class FigureRow:
    """One row of a rebuilt figure."""

    label: str
    layer: LayerView | None
    cells: list[Cell]
    missing: str = ""


@dataclass
class FigurePanel:
    """One panel of a figure: a titled grid of rows."""

    title: str
    layer: LayerView | None
    header: list[str]
    rows: list[FigureRow]
    missing: str = ""


def figure6_labels(site: Site) -> list[tuple[str, str]]:
    """(panel letter, layer name) of figure 6's layers; the name is the short id the paper prints."""
    short_ids = {layer.id: layer.row.short_id for layer in site.layers}
    return [
        (letter, short_ids.get(layer_id) or layer_id)
        for letter, layer_id in zip(string.ascii_lowercase, site.figure6_layers)
    ]


def figure6_panels(site: Site, index: _Index) -> tuple[ModelView | None, list[FigurePanel]]:
    """Figure 6: channels x snapshots of the temporal model, one panel per figure-6 layer."""
    temporal = [m for m in site.models if m.is_temporal]
    if not temporal:
        return None, []
    model = max(temporal, key=lambda m: (len(m.snapshots), m.image_count))
    by_id = {layer.id: layer for layer in site.layers}
    panels = []
    for (letter, name), layer_id in zip(figure6_labels(site), site.figure6_layers):
        layer = by_id.get(layer_id)
        title = f"({letter}) {name}"
        if layer is None:
            panels.append(FigurePanel(title, None, [], [], f"{layer_id} is not in this atlas's layer table."))
            continue
        own = sorted({r.channel for r in index.by_model_layer[(model.name, layer.id)]})[:FIGURE6_MAX_CHANNELS]
        if not own:
            panels.append(FigurePanel(title, layer, [], [], f"No images of {model.name} for {layer.id}."))
            continue
        rows = [
            FigureRow(snap.label, None, [index.cell(model, snap, layer.id, c) for c in own])
            for snap in model.snapshots
        ]
        panels.append(FigurePanel(title, layer, [f"channel {c}" for c in own], rows))
    return model, panels


def figure7_rows(site: Site, index: _Index, post: ModelView) -> tuple[list[FigureRow], list[str]]:
    """Figure 7: the figure's layers (`Site.figure7_layers`), first 4 channels, pre- and post-transfer.

    Returns:
        The rows and the column headers.
    """
    pre = post.parent
    header = [f"{kind} :{c}" for c in range(FIGURE7_CHANNELS) for kind in ("pre", "post")]
    by_id = {layer.id: layer for layer in site.layers}
    rows = []
    for layer_id in site.figure7_layers:
        cells = []
        for c in range(FIGURE7_CHANNELS):
            if pre is not None:
                cells.append(index.cell(pre, pre.final, layer_id, c, "pre"))
            cells.append(index.cell(post, post.final, layer_id, c, "post"))
        layer = by_id.get(layer_id)
        if layer is None:
            missing = "not in this atlas's layer table"
        else:
            missing = "" if any(cell.picture for cell in cells) else "not rendered in this atlas"
        rows.append(FigureRow(layer_id, layer, cells, missing))
    return rows, header


def figure7_default(site: Site) -> ModelView | None:
    """The post-transfer model of figure 7: CelebA in the paper, else the first transferred model."""
    candidates = [m for m in site.models if m.parent is not None and m.image_count]
    if not candidates:
        return None
    celeba = [m for m in candidates if "celeba" in (m.name + m.dataset).lower()]
    plain = [m for m in (celeba or candidates) if not m.is_temporal]
    return (plain or celeba or candidates)[0]


def _layer_nav(layer: LayerView, model: ModelView | None, order: list[LayerView], position: int) -> dict:
    """Other views of a layer and its neighbours in paper order, as (label, site path)."""

    def path(other: LayerView) -> str:
        return urls.model_layer(model.name, other.id) if model else other.url

    views = [("all models side by side", layer.url, model is None)]
    views += [
        (
            f"{m.name} vs {m.parent.name}" if m.parent else m.name,
            urls.model_layer(m.name, layer.id),
            m is model,
        )
        for m in layer.models
    ]
    return {
        "views": views,
        "prev_layer": (order[position - 1].id, path(order[position - 1])) if position > 0 else None,
        "next_layer": (order[position + 1].id, path(order[position + 1]))
        if position + 1 < len(order)
        else None,
    }


def _pages(site: Site, index: _Index) -> Iterable[Page]:
    # Summary pages show structure (names, counts), which the site digest covers.
    structure: list[str] = []
    fig6_model, fig6 = figure6_panels(site, index)
    fig7_post = figure7_default(site)
    fig7, fig7_header = figure7_rows(site, index, fig7_post) if fig7_post else ([], [])
    fig_pictures = [c.picture for p in fig6 for r in p.rows for c in r.cells] + [
        c.picture for r in fig7 for c in r.cells
    ]
    figure_context = {
        "fig6_model": fig6_model,
        "fig6": fig6,
        "fig7_post": fig7_post,
        "fig7_default": fig7_post,
        "fig7": fig7,
        "fig7_header": fig7_header,
        "fig7_models": [m for m in site.models if m.parent is not None and m.image_count],
        "fig6_layers": figure6_labels(site),
        "fig7_layers": site.figure7_layers,
    }
    yield Page(urls.HOME, "home.html", {"page_title": "", **figure_context}, _deps(fig_pictures))
    yield Page(urls.FIGURES, "figures.html", {"page_title": "Figures", **figure_context}, structure)
    yield Page(
        urls.FIGURE6, "figure6.html", {"page_title": "Figure 6", **figure_context}, _deps(fig_pictures)
    )
    yield Page(
        urls.FIGURE7, "figure7.html", {"page_title": "Figure 7", **figure_context}, _deps(fig_pictures)
    )
    for model in figure_context["fig7_models"]:
        if model is fig7_post:
            continue
        rows, header = figure7_rows(site, index, model)
        context = {**figure_context, "fig7_post": model, "fig7": rows, "fig7_header": header}
        yield Page(
            urls.figure7_model(model.name),
            "figure7.html",
            {"page_title": f"Figure 7 ({model.name})", **context},
            _deps(c.picture for r in rows for c in r.cells),
        )
    yield Page(urls.LAYERS, "layers.html", {"page_title": "Layers"}, structure)
    yield Page(urls.MODELS, "models.html", {"page_title": "Models"}, structure)
    yield Page(urls.COMPARE, "compare.html", {"page_title": "Compare"}, structure)
    yield Page(urls.SEARCH, "search.html", {"page_title": "Search"}, structure)
    yield Page(urls.DOWNLOADS, "downloads.html", {"page_title": "Downloads"}, structure)
    for page in site.markdown_pages:
        yield Page(urls.page(page.slug), "page.html", {"page_title": page.title, "doc": page}, [page.source])

    for model in site.models:
        yield Page(model.url, "model.html", {"page_title": f"Model {model.name}", "model": model}, structure)
        for position, layer in enumerate(model.layers):
            cards = _model_layer_cards(model, layer, index)
            shown = [m for m in (model.parent, model) if m is not None and m in layer.models]
            context = {
                "page_title": f"{layer.id} in {model.name}",
                "layer": layer,
                "model": model,
                "cards": cards,
                "columns": [c.column for c in cards[0].cells] if cards else [],
                **_layer_nav(layer, model, model.layers, position),
                "zips": [(m.name, urls.layer_zip(m.name, layer.id)) for m in shown],
            }
            yield Page(
                urls.model_layer(model.name, layer.id),
                "layer.html",
                context,
                _deps(c.picture for card in cards for c in card.cells),
            )
    with_images = site.layers_with_images
    for position, layer in enumerate(with_images):
        cards = _layer_cards(site, layer, index)
        context = {
            "page_title": layer.id,
            "layer": layer,
            "model": None,
            "cards": cards,
            "columns": [m.name for m in layer.models],
            **_layer_nav(layer, None, with_images, position),
            "zips": [(m.name, urls.layer_zip(m.name, layer.id)) for m in layer.models],
        }
        yield Page(layer.url, "layer.html", context, _deps(c.picture for card in cards for c in card.cells))
    for channel in site.channels:
        context, pictures = _channel_context(site, channel, index)
        context["page_title"] = channel.id
        context["compare"] = context["compare"].replace("{}", str(channel.index))
        yield Page(channel.url, "channel.html", context, _deps(pictures))
