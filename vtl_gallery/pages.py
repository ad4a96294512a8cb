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
import json
import string
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import quote

from visualizer.analysis.store import Results
from vtl_gallery import urls
from vtl_gallery.catalog import (
    INCEPTION_V1,
    Atlas,
    ImageRow,
    LayerRow,
    MethodRow,
    ModelRow,
    NetworkRow,
    SnapshotRow,
)
from vtl_gallery.config import SiteConfig
from vtl_gallery.content import MarkdownPage
from vtl_gallery.facts import AtlasFacts, describe, doc_parts, examples_source, is_synthetic
from vtl_gallery.images import Derived
from vtl_gallery.network_figures import (
    FigurePanel,
    FigureRow,
    NetworkFigures,
    before_after_rows,
    network_figures,
    page_contexts,
    pick_post,
    snapshot_panels,
)
from vtl_gallery.observations import (
    OBSERVATIONS,
    analysis_pages,
    channel_analysis,
    has_observations,
    load_analysis,
    pair_lookup,
)
from vtl_gallery.orders import change_context, layer_pairs, pair_label, sorted_pages
from vtl_gallery.publish import Publishing

__all__ = [
    "PAPER_FIGURE6",
    "PAPER_FIGURE7",
    "Column",
    "ComparePair",
    "Page",
    "Site",
    "build_site_model",
    "choose_primary",
    "compare_pairs",
]

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


def _fmt(value: float | None, digits: int = 4) -> str:
    return "" if value is None else f"{value:.{digits}g}"


@dataclass(frozen=True)
class Picture:
    """One atlas image and its files, as templates use it."""

    row: ImageRow
    derived: Derived
    alt: str
    page: str = ""  # the site path of the image's channel page

    @property
    def version(self) -> str:
        """Short content hash, appended to file URLs so caches see changes."""
        return self.derived.sha256[:10]

    @property
    def original(self) -> str:
        """The original PNG: a site path, an absolute URL, or ``""`` where the site does not offer it."""
        return self.derived.original

    @property
    def thumb(self) -> str:
        return self.derived.thumb_file + "?v=" + self.version

    @property
    def view(self) -> str:
        return self.derived.view_file + "?v=" + self.version

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
    def settings(self) -> list[tuple[str, str]]:
        """The render settings the catalog records for the image, as (name, value) text, by name."""
        try:
            recorded = json.loads(self.row.settings) if self.row.settings else {}
        except ValueError:
            return [("settings", self.row.settings)]
        if not isinstance(recorded, dict):
            return [("settings", self.row.settings)]
        for name in ("size", "steps", "seed"):
            value = getattr(self.row, name)
            if name not in recorded and value is not None:
                recorded[name] = value
        return [
            (str(name), value if isinstance(value, str) else json.dumps(value, sort_keys=True))
            for name, value in sorted(recorded.items())
        ]

    @property
    def settings_brief(self) -> str:
        """Size, steps and seed in a few words (the summary of the settings table)."""
        values = dict(self.settings)
        parts = [f"{name} {values[name]}" for name in ("size", "steps", "seed") if name in values]
        return ", ".join(parts) or f"{len(values)} settings"

    @property
    def drawn_from(self) -> str:
        """For a dataset-examples sheet, which dataset's images it shows (``""`` for other images)."""
        return examples_source(self.row.settings, self.row.model)

    def value(self, name: str) -> float | None:
        """The objective (``"objective"``) or a measurement of the image, or None."""
        if name == "objective":
            return self.row.objective
        return dict(self.row.metrics).get(name)

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
    def is_parent_weights(self) -> bool:
        """Iteration 0 of a transferred model: its parent's weights under a new head."""
        return self.row.iteration == 0 and not self.row.is_final and self.model.parent is not None

    @property
    def label(self) -> str:
        if self.row.is_final:
            steps = f" ({self.row.iteration} steps)" if self.row.iteration is not None else ""
            return "final" + steps
        if self.is_parent_weights:
            return f"iteration 0 ({self.model.parent.name}'s weights)"
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
    def synthetic(self) -> bool:
        """Trained on a synthetic world (``models.dataset_kind``), not on a real dataset."""
        return is_synthetic(self.row.dataset_kind)

    @property
    def dataset_label(self) -> str:
        """The dataset's name, with "synthetic" where it is a synthetic world."""
        name = self.dataset or "unknown dataset"
        return f"{name} (synthetic)" if self.synthetic and "synthetic" not in name.lower() else name

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

    @property
    def network(self) -> str:
        """The id of the model's network (models of two networks are never compared channel by channel)."""
        return self.row.network


@dataclass
class Cell:
    """One image slot of a card or a figure; `picture` is None when not rendered."""

    label: str
    picture: Picture | None
    title: str = ""
    kind: str = ""  # "pre" or "post" on pre/post grids
    snapshot_label: str = ""


@dataclass(frozen=True)
class Column:
    """One column of a layer grid: its legend, what it shows, and its colour.

    Attributes:
        label: the legend (``"imagenet (pre)"``).
        note: what the column shows, in a sentence.
        tone: ``"pre"`` (grey: a parent, or a snapshot with its parent's weights) or ``"post"``.
    """

    label: str
    note: str
    tone: str = "post"


@dataclass(frozen=True)
class ComparePair:
    """Two images of one channel that the atlas has and that the comparison view can put side by side.

    Attributes:
        layer: the layer's site-wide key (`urls.layer_key`: the id, ``<network>/<id>`` outside InceptionV1).
        channel: the channel index.
        a: the left image's snapshot (before: the parent, or the first snapshot).
        b: the right one (after: the transferred model, or the final snapshot).
        kind: ``"transfer"`` (pre against post) or ``"training"`` (first snapshot against final).
    """

    layer: str
    channel: int
    a: SnapshotView
    b: SnapshotView
    kind: str

    @property
    def label(self) -> str:
        """How the compare link names this pair."""
        return pair_label(self.a, self.b, self.kind)

    @property
    def query(self) -> str:
        """The comparison view's query string for this pair."""
        values = {"layer": self.layer, "channel": str(self.channel), "a": self.a.key, "b": self.b.key}
        return "&".join(f"{name}={quote(value, safe='@')}" for name, value in values.items())


@dataclass
class ChannelView:
    """One channel (``<layer id>:<index>``) across the atlas."""

    layer: LayerView
    index: int
    images: list[ImageRow] = field(default_factory=list)
    prev: ChannelView | None = None
    next: ChannelView | None = None
    pairs: list[ComparePair] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.layer.id}:{self.index}"

    @property
    def url(self) -> str:
        return urls.channel(self.layer.id, self.index, self.layer.row.network)

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

    def sort_values(self, name: str) -> str:
        """The objective or a measurement of each cell, comma-separated (empty where none), for sorting."""
        values = [c.picture.value(name) if c.picture else None for c in self.cells]
        return ",".join("" if v is None else f"{v:.6g}" for v in values)


@dataclass
class LayerView:
    """One layer of the catalogue, with what the atlas holds for it."""

    row: LayerRow
    models: list[ModelView] = field(default_factory=list)
    channels: list[ChannelView] = field(default_factory=list)
    image_count: int = 0
    methods: list[str] = field(default_factory=list)
    model_channels: int = 0
    network: NetworkRow = field(default_factory=lambda: NetworkRow(INCEPTION_V1, "InceptionV1", None))
    position: int = 0  # 1-based, in its network's order (paper order for InceptionV1, else graph order)
    network_count: int = 0  # layers of its network in the atlas's layer table

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def key(self) -> str:
        """The site-wide name of the layer (`urls.layer_key`)."""
        return urls.layer_key(self.id, self.row.network)

    @property
    def url(self) -> str:
        return urls.layer(self.id, self.row.network)

    @property
    def title(self) -> str:
        return self.row.id

    @property
    def is_inception(self) -> bool:
        """A layer of the slim InceptionV1, with its slim facts and its place in the paper's order."""
        return self.row.network == INCEPTION_V1 and self.row.paper_index is not None

    @property
    def paper_position(self) -> int:
        """1-based position in the paper's order; for another network, in its graph order."""
        return self.row.paper_index + 1 if self.row.paper_index is not None else self.graph_position

    @property
    def graph_position(self) -> int:
        return self.row.graph_index + 1

    @property
    def order_name(self) -> str:
        """The order `position` counts in: ``"the paper's order"`` or ``"<network>'s graph order"``."""
        return "the paper's order" if self.is_inception else f"{self.network.label}'s graph order"

    @property
    def facts(self) -> list[tuple[str, str]]:
        """(name, value) of the catalogue facts its network records: kind, kernel, stride, receptive field."""
        row = self.row
        pairs = [
            ("kind", row.kind if row.kind and not self.is_inception else ""),
            ("kernel", f"{row.kernel}×{row.kernel}" if row.kernel else ""),
            ("stride", str(row.stride) if row.stride else ""),
            ("receptive field", f"{row.receptive_field} px" if row.receptive_field else ""),
            ("grid stride", f"{row.grid_stride} px" if row.grid_stride else ""),
        ]
        return [(name, value) for name, value in pairs if value]

    @property
    def aliases(self) -> list[tuple[str, str]]:
        """(scheme, name) for every alias of the layer, canonical id first."""
        if not self.is_inception:
            return [("layer id", self.row.id)] + [("alias", name) for name in self.row.aliases]
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
        """Channels of the layer in the models of this atlas (their widths), else in the layer table."""
        return self.model_channels or self.row.channels

    @property
    def rendered_channels(self) -> int:
        return len(self.channels)

    @property
    def data_url(self) -> str:
        return urls.layer_data(self.id, self.row.network)

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
        listed: in the sitemap, with a canonical link (not the 404 page).
    """

    path: str
    template: str
    context: dict
    deps: list[str] = field(default_factory=list)
    listed: bool = True

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
    networks: list[NetworkRow] = field(default_factory=list)
    network_figures: list[NetworkFigures] = field(default_factory=list)  # figures of the other networks
    index: _Index | None = None
    pages: list[Page] = field(default_factory=list)
    archives: list = field(default_factory=list)  # filled by vtl_gallery.downloads
    download_files: list = field(default_factory=list)  # the CSV and catalog, filled by vtl_gallery.downloads
    publishing: Publishing = field(default_factory=Publishing)  # set by vtl_gallery.build
    facts: AtlasFacts | None = None
    analysis: Results = field(default_factory=Results)  # what `vtl analyse` stored (vtl_gallery.observations)

    @property
    def has_figures(self) -> bool:
        """Whether the site rebuilds the paper's figures: it has an InceptionV1 model, or no model at all."""
        return bool(self.inception_models) or not self.models

    @property
    def has_any_figures(self) -> bool:
        """Whether the site has a figures index: InceptionV1's figures or another network's."""
        return self.has_figures or bool(self.network_figures)

    @property
    def several_networks(self) -> bool:
        """Whether the atlas holds models of more than one network (pages then name each layer's)."""
        return len(self.networks) > 1

    def network_layers(self, network: str) -> list[LayerView]:
        """The layers of one network, in its order."""
        return [layer for layer in self.layers if layer.row.network == network]

    @property
    def inception_models(self) -> list[ModelView]:
        """The models of the slim InceptionV1: the paper's figures are theirs."""
        return [model for model in self.models if model.network == INCEPTION_V1]

    @cached_property
    def sort_keys(self) -> list[str]:
        """What layer grids can be sorted by: the objective, then each measurement the atlas records."""
        return ["objective", *sorted({name for image in self.atlas.images for name, _ in image.metrics})]

    def picture(self, row: ImageRow) -> Picture:
        """The `Picture` of an atlas image."""
        return self.index.picture(row)

    def layer_thumb(self, layer: LayerView) -> Picture | None:
        """The Layers index's picture of a layer: its first channel in the first model that has it."""
        for channel in layer.channels[:1]:
            for model in layer.models:
                final = model.final
                key = (model.name, final.name, layer.id, channel.index) if final else None
                if key in self.index.primary:
                    return self.index.picture(self.index.primary[key])
        return None

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
        if not self.has_any_figures:
            items.remove(("Figures", urls.FIGURES))
        if has_observations(self):
            items.insert(3, ("Observations", OBSERVATIONS))
        return items + [(page.title, urls.page(page.slug)) for page in self.markdown_pages]


class _Index:
    """Lookups over the atlas images, built once."""

    def __init__(self, atlas: Atlas, derived: dict[str, Derived], primary: str):
        self.derived = derived
        self.network = {name: row.network for name, row in atlas.models.items()}
        self.primary: dict[tuple[str, str, str, int], ImageRow] = {}
        # Channels by (network, layer id, index): two networks' layers of one name are different layers.
        self.by_channel: dict[tuple[str, str, int], list[ImageRow]] = defaultdict(list)
        self.by_model_layer: dict[tuple[str, str], list[ImageRow]] = defaultdict(list)
        for image in atlas.images:
            self.by_channel[(self.network[image.model], image.layer, image.channel)].append(image)
            self.by_model_layer[(image.model, image.layer)].append(image)
            if image.method == primary and image.variant == "":
                self.primary[(image.model, image.snapshot, image.layer, image.channel)] = image

    def picture(self, row: ImageRow | None) -> Picture | None:
        if row is None:
            return None
        variant = f" {row.variant}" if row.variant else ""
        alt = f"{row.layer}:{row.channel} in {row.model} ({row.snapshot}, {row.method}{variant})"
        page = urls.channel(row.layer, row.channel, self.network.get(row.model, INCEPTION_V1))
        return Picture(row, self.derived[row.path], alt, page)

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

    networks = list(atlas.networks.values())
    rank = {network.id: i for i, network in enumerate(networks)}
    fallback = NetworkRow(INCEPTION_V1, "InceptionV1", None)
    layers = [
        LayerView(row, network=atlas.networks.get(row.network, fallback)) for row in atlas.layers.values()
    ]

    def order(view: LayerView, paper_first: bool) -> tuple:
        paper = view.row.paper_index if view.row.paper_index is not None else 10_000
        within = (paper, view.row.graph_index) if paper_first else (view.row.graph_index, paper)
        return (rank.get(view.row.network, len(rank)), *within, view.id)

    paper_order = sorted(layers, key=lambda v: order(v, True))
    graph_order = sorted(layers, key=lambda v: order(v, False))
    for network in {view.row.network for view in layers}:
        own = [view for view in paper_order if view.row.network == network]
        for position, view in enumerate(own, 1):
            view.position, view.network_count = position, len(own)
    channels = _link_layers(atlas, paper_order, list(models.values()), methods, index)

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
        networks=networks,
        index=index,
        analysis=load_analysis(atlas.root),
    )
    site.facts = describe(site)
    site.network_figures = network_figures(site, index)
    site.pages = list(_pages(site, index))
    return site


def _link_layers(
    atlas: Atlas, paper_order: list[LayerView], models: list[ModelView], methods: list[str], index: _Index
) -> list[ChannelView]:
    """Fill each layer's channels, models and methods; returns every channel, linked in paper order.

    A channel is every (layer, channel) with at least one image; each gets
    the pairs of its images the comparison view can show (`compare_pairs`).
    """
    channels: list[ChannelView] = []
    by_layer: dict[tuple[str, str], set[int]] = defaultdict(set)
    for network, layer_id, channel_index in index.by_channel:
        by_layer[(network, layer_id)].add(channel_index)
    for layer in paper_order:
        layer.models = [
            m for m in models if m.network == layer.row.network and (m.name, layer.id) in index.by_model_layer
        ]
        for model in layer.models:
            model.layers.append(layer)
        layer.model_channels = max(
            (atlas.model_layers.get((m.name, layer.id), 0) for m in layer.models), default=0
        )
        present: set[str] = set()
        for channel_index in sorted(by_layer[layer.row.key]):
            view = ChannelView(layer, channel_index, index.by_channel[(*layer.row.key, channel_index)])
            view.pairs = compare_pairs(index, layer, channel_index)
            present.update(row.method for row in view.images)
            layer.channels.append(view)
            layer.image_count += len(view.images)
            channels.append(view)
        layer.methods = [method for method in methods if method in present]
    for before, after in zip(channels, channels[1:]):
        if before.layer.row.network == after.layer.row.network:  # arrows stay in one network
            before.next, after.prev = after, before
    return channels


def _figure_layers(atlas: Atlas, figure: int) -> list[str] | tuple[str, ...]:
    """The layer ids of figure 6 or 7: as the atlas records them, else the paper's."""
    recorded = atlas.figure_layers(figure)
    if recorded is not None:
        return recorded
    return PAPER_FIGURE6 if figure == 6 else PAPER_FIGURE7


# --- pages -----------------------------------------------------------------------------------------


def _deps(pictures: Iterable[Picture | None]) -> list[str]:
    return [p.fingerprint for p in pictures if p is not None]


def _model_note(model: ModelView) -> str:
    """Where a model comes from, in a few words: its dataset and its parent or children."""
    if model.parent is not None:
        return f"{model.dataset_label}, transferred from {model.parent.name}"
    if model.children:
        return f"{model.dataset_label}, the parent of {', '.join(c.name for c in model.children)}"
    return model.dataset_label


def _layer_columns(layer: LayerView) -> list[tuple[ModelView, SnapshotView | None, str, Column]]:
    """The all-models grid: each model's final snapshot."""
    columns = []
    for model in layer.models:
        final = model.final
        when = f"its {final.label} snapshot" if final is not None else "no snapshot"
        note = f"{model.name} ({_model_note(model)}): {when}."
        columns.append((model, final, "", Column(model.name, note, "post" if model.parent else "pre")))
    return columns


def _snapshot_column(model: ModelView, snap: SnapshotView) -> tuple[str, Column]:
    """The cell kind and column of one snapshot of `model` beside its parent."""
    label = f"{model.name} {snap.short_label}" if model.is_temporal else model.name
    parent = model.parent
    if parent is None:
        return "", Column(label, f"{model.name} ({model.dataset_label}), {snap.label}.", "pre")
    if snap.is_parent_weights:
        note = (
            f"Iteration 0 of {model.name}: {parent.name}'s weights under {model.name}'s new head, "
            f"before any training step, so {parent.name}'s features."
        )
        return "pre", Column(f"{label} ({parent.name}'s weights)", note, "pre")
    note = f"{model.name} after transfer to {model.dataset_label}: {snap.label}."
    return "post", Column(f"{label} (post)", note, "post")


def _model_layer_columns(
    model: ModelView, layer: LayerView, index: _Index
) -> list[tuple[ModelView, SnapshotView | None, str, Column]]:
    """One model's grid: its parent (where the parent, of its network, has this layer), then its snapshots."""
    columns: list[tuple[ModelView, SnapshotView | None, str, Column]] = []
    parent = model.parent
    if (
        parent is not None
        and parent.network == model.network  # another network's layer of this name is another layer
        and index.by_model_layer.get((parent.name, layer.id))
    ):
        snap = parent.final
        when = snap.label if snap else "no snapshot"
        note = f"{parent.name} ({parent.dataset_label}), {when}: before transfer."
        columns.append((parent, snap, "pre", Column(f"{parent.name} (pre)", note, "pre")))
    for snap in model.snapshots if model.is_temporal else [model.final]:
        if snap is not None:
            kind, column = _snapshot_column(model, snap)
            columns.append((model, snap, kind, column))
    return columns


def _cards(
    layer: LayerView,
    columns: list[tuple[ModelView, SnapshotView | None, str, Column]],
    index: _Index,
    only: set[int] | None = None,
) -> list[Card]:
    """One card per channel of the layer (of `only`, if given), one cell per column."""
    return [
        Card(channel, [index.cell(m, snap, layer.id, channel.index, kind) for m, snap, kind, _ in columns])
        for channel in layer.channels
        if only is None or channel.index in only
    ]


@dataclass
class ModelPanel:
    """A channel in one model: the final picture and, for temporal models, the strip."""

    model: ModelView
    final: Cell
    strip: list[Cell]
    others: list[Picture]
    grid_url: str


def _channel_panels(site: Site, channel: ChannelView, index: _Index) -> list[ModelPanel]:
    """One panel per model with images of the channel."""
    panels = []
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
    return panels


def _table_order(site: Site, row: ImageRow) -> tuple:
    """A channel table's order: models as listed, then snapshots in training order, then methods."""
    models = list(site.atlas.models)
    snapshots = [s.snapshot for s in site.atlas.snapshots.get(row.model, [])]
    model = models.index(row.model) if row.model in models else len(models)
    snapshot = snapshots.index(row.snapshot) if row.snapshot in snapshots else len(snapshots)
    method = site.methods.index(row.method) if row.method in site.methods else len(site.methods)
    return (model, snapshot, method, row.key)


def _channel_context(site: Site, channel: ChannelView, index: _Index) -> tuple[dict, list[Picture]]:
    panels = _channel_panels(site, channel, index)
    pictures: dict[str, Picture] = {}  # by path: a temporal run's final image is in its strip too
    for panel in panels:
        for picture in [c.picture for c in [panel.final, *panel.strip] if c.picture] + panel.others:
            pictures.setdefault(picture.row.path, picture)
    rows = sorted(pictures.values(), key=lambda p: _table_order(site, p.row))
    context = {
        "page_title": channel.id,
        "channel": channel,
        "layer": channel.layer,
        "panels": panels,
        "table": rows,
        "pairs": channel.pairs,
        "citation": _channel_citation(site, channel),
        "method_notes": site.described_methods(
            [site.primary_method, *(p.row.method for panel in panels for p in panel.others)]
        ),
        "measurements": sorted({name for p in rows for name, _ in p.row.metrics}),
        "arrows": "channel" if channel.prev or channel.next else "",
        "analysis": channel_analysis(site, channel.layer.id, channel.index, channel.layer.row.network),
        "observations_url": OBSERVATIONS,
    }
    return context, rows


def compare_pairs(index: _Index, layer: LayerView, channel: int) -> list[ComparePair]:
    """The pairs of one channel's images the atlas has, never an image with itself.

    Pre against post: each transferred model's final image against its
    parent's; then, for each temporal run, its first snapshot (iteration 0:
    the parent's weights) against its final one. A pair is offered only when
    both images exist (the grids' method, no variant).
    """

    def have(snapshot: SnapshotView | None) -> bool:
        key = (snapshot.model.name, snapshot.name, layer.id, channel) if snapshot else None
        return key in index.primary

    pairs = [
        ComparePair(layer.key, channel, model.parent.final, model.final, "transfer")
        for model in layer.models
        if model.parent is not None
        and model.parent.network == model.network  # channel 3 of one network is not channel 3 of another
        and have(model.parent.final)
        and have(model.final)
    ]
    pairs += [
        ComparePair(layer.key, channel, model.snapshots[0], model.final, "training")
        for model in layer.models
        if model.is_temporal and have(model.snapshots[0]) and have(model.final)
    ]
    return [pair for pair in pairs if pair.a.key != pair.b.key]


@dataclass(frozen=True)
class Citation:
    """A ready-to-paste citation of one page."""

    url: str
    bibtex: str
    title: str
    absolute: bool = False


def _bibtex_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "_&%$#{}" else ch for ch in text)


def _channel_citation(site: Site, channel: ChannelView) -> Citation:
    config = site.config
    url = config.absolute_base + channel.url if config.absolute_base else channel.url
    title = f"Feature visualization of channel {channel.id}"
    if not channel.layer.is_inception:  # another network may name a layer alike
        title += f" of {channel.layer.network.label}"
    fields = [
        ("title", "{" + _bibtex_escape(f"{title} ({config.title})") + "}"),
        ("author", "{" + " and ".join(config.authors) + "}"),
        ("year", "{" + str(config.year) + "}"),
        ("howpublished", "{\\url{" + url + "}}"),
    ]
    if config.citation_key:
        fields.append(("note", "{Atlas of \\cite{" + config.citation_key + "}}"))
    body = ",\n".join(f"  {name} = {value}" for name, value in fields if value not in ("{}",))
    key = "vtl:" + channel.layer.key.replace("/", ":") + f":{channel.index}"
    return Citation(url, f"@misc{{{key},\n{body}\n}}", title, bool(config.absolute_base))


def figure6_labels(site: Site) -> list[tuple[str, str]]:
    """(panel letter, layer name) of figure 6's layers; the name is the short id the paper prints."""
    short_ids = {layer.id: layer.row.short_id for layer in site.network_layers(INCEPTION_V1)}
    return [
        (letter, short_ids.get(layer_id) or layer_id)
        for letter, layer_id in zip(string.ascii_lowercase, site.figure6_layers)
    ]


def figure6_panels(site: Site, index: _Index) -> tuple[ModelView | None, list[FigurePanel]]:
    """Figure 6: channels x snapshots of the temporal model, one panel per figure-6 layer."""
    temporal = [m for m in site.inception_models if m.is_temporal]
    if not temporal:
        return None, []
    model = max(temporal, key=lambda m: (len(m.snapshots), m.image_count))
    by_id = {layer.id: layer for layer in site.network_layers(INCEPTION_V1)}
    titled = [
        (f"({letter}) {name}", layer_id)
        for (letter, name), layer_id in zip(figure6_labels(site), site.figure6_layers)
    ]
    return model, snapshot_panels(index, model, titled, by_id)


def figure7_rows(site: Site, index: _Index, post: ModelView) -> tuple[list[FigureRow], list[str]]:
    """Figure 7: the figure's layers (`Site.figure7_layers`), first 4 channels, pre- and post-transfer.

    Returns:
        The rows and the column headers.
    """
    by_id = {layer.id: layer for layer in site.network_layers(INCEPTION_V1)}
    return before_after_rows(index, post, site.figure7_layers, by_id)


def figure7_default(site: Site) -> ModelView | None:
    """The post-transfer model of figure 7: CelebA in the paper, else the first transferred InceptionV1."""
    return pick_post([m for m in site.inception_models if m.parent is not None and m.image_count])


def _layer_nav(layer: LayerView, model: ModelView | None, order: list[LayerView], position: int) -> dict:
    """Other views of a layer and its neighbours in `order` (its network's), as (label, site path)."""

    def path(other: LayerView) -> str:
        return urls.model_layer(model.name, other.id) if model else other.url

    views = [("all models side by side", layer.url, model is None)]
    views += [
        (
            f"{m.name} vs {m.parent.name}" if m.parent in layer.models else m.name,
            urls.model_layer(m.name, layer.id),
            m is model,
        )
        for m in layer.models
    ]
    prev_layer = (order[position - 1].id, path(order[position - 1])) if position > 0 else None
    next_layer = (order[position + 1].id, path(order[position + 1])) if position + 1 < len(order) else None
    return {
        "views": views,
        "prev_layer": prev_layer,
        "next_layer": next_layer,
        "arrows": "layer" if prev_layer or next_layer else "",
    }


def _figure_context(site: Site, index: _Index) -> tuple[dict, list[Picture | None]]:
    """The context the home and figure pages share, and the pictures of its default figures."""
    fig6_model, fig6 = figure6_panels(site, index)
    fig7_post = figure7_default(site)
    fig7, fig7_header = figure7_rows(site, index, fig7_post) if fig7_post else ([], [])
    pictures = [c.picture for p in fig6 for r in p.rows for c in r.cells] + [
        c.picture for r in fig7 for c in r.cells
    ]
    context = {
        "fig6_model": fig6_model,
        "fig6": fig6,
        "fig7_post": fig7_post,
        "fig7_default": fig7_post,
        "fig7": fig7,
        "fig7_header": fig7_header,
        "fig7_models": [m for m in site.inception_models if m.parent is not None and m.image_count],
        "fig6_layers": figure6_labels(site),
        "fig7_layers": site.figure7_layers,
        "fig_net": INCEPTION_V1,
        "fig_network": None,
    }
    return context, pictures


def _figure_pages(site: Site, index: _Index, structure: list[str]) -> Iterable[Page]:
    """Home, the figures index, and the figure pages of InceptionV1 (the paper's) and of each other network.

    The paper's figures are InceptionV1's; each other network whose atlas has what they need gets its
    own under ``network/<net>/figures/`` (`vtl_gallery.network_figures`).
    """
    figure_context, pictures = _figure_context(site, index)
    yield Page(urls.HOME, "home.html", {"page_title": "", **figure_context}, _deps(pictures))
    if site.has_any_figures:
        yield Page(urls.FIGURES, "figures.html", {"page_title": "Figures", **figure_context}, structure)
    if site.has_figures:
        yield from _inception_figure_pages(site, index, figure_context, pictures)
    for figures in site.network_figures:
        for path, template, context, shown in page_contexts(site, index, figures):
            yield Page(path, template, context, _deps(shown))


def _inception_figure_pages(
    site: Site, index: _Index, figure_context: dict, pictures: list[Picture | None]
) -> Iterable[Page]:
    """The paper's figures, of InceptionV1: Figure 6, and Figure 7 for its default and every other model."""
    yield Page(urls.FIGURE6, "figure6.html", {"page_title": "Figure 6", **figure_context}, _deps(pictures))
    yield Page(urls.FIGURE7, "figure7.html", {"page_title": "Figure 7", **figure_context}, _deps(pictures))
    for model in figure_context["fig7_models"]:
        if model is figure_context["fig7_post"]:
            continue
        rows, header = figure7_rows(site, index, model)
        context = {**figure_context, "fig7_post": model, "fig7": rows, "fig7_header": header}
        yield Page(
            urls.figure7_model(model.name),
            "figure7.html",
            {"page_title": f"Figure 7 ({model.name})", **context},
            _deps(c.picture for r in rows for c in r.cells),
        )


def _index_pages(site: Site, structure: list[str]) -> Iterable[Page]:
    """The listing pages, the 404 page and the Markdown pages of site_src."""
    thumbs = _deps(map(site.layer_thumb, site.layers))
    yield Page(urls.LAYERS, "layers.html", {"page_title": "Layers"}, thumbs)
    yield Page(urls.MODELS, "models.html", {"page_title": "Models"}, structure)
    yield Page(urls.COMPARE, "compare.html", {"page_title": "Compare"}, structure)
    yield Page(urls.SEARCH, "search.html", {"page_title": "Search"}, structure)
    yield Page(urls.DOWNLOADS, "downloads.html", {"page_title": "Downloads"}, structure)
    not_found = {"page_title": "Page not found", "base_href": site.config.absolute_base}
    yield Page(urls.NOT_FOUND, "404.html", not_found, structure, listed=False)
    for page in site.markdown_pages:
        context = {"page_title": page.title, "doc": page, "doc_parts": doc_parts(page, site.facts)}
        yield Page(urls.page(page.slug), "page.html", context, [page.source])


def _layer_context(
    site: Site,
    layer: LayerView,
    columns: list[tuple[ModelView, SnapshotView | None, str, Column]],
    cards: list[Card],
) -> dict:
    """What a layer grid's template reads beyond the layer's neighbours."""
    others = [m for m in layer.methods if m != site.primary_method]
    return {
        "layer": layer,
        "cards": cards,
        "columns": [column for *_, column in columns],
        "other_methods": others,
        "method_notes": site.described_methods(layer.methods),
        "measurement_notes": [(name, site.facts.measurement_note(name)) for name in site.sort_keys[1:]],
        "sort_default": max(len(columns) - 1, 0),
    }


def _model_pages(site: Site, index: _Index, structure: list[str]) -> Iterable[Page]:
    """Each model's page, then its layers (beside its parent's)."""
    for model in site.models:
        yield Page(model.url, "model.html", {"page_title": f"Model {model.name}", "model": model}, structure)
        for position, layer in enumerate(model.layers):
            columns = _model_layer_columns(model, layer, index)
            own = {row.channel for row in index.by_model_layer.get((model.name, layer.id), [])}
            cards = _cards(layer, columns, index, own)
            shown = [m for m in (model.parent, model) if m is not None and m in layer.models]
            context = {
                "page_title": f"{layer.id} in {model.name}",
                "model": model,
                **_layer_context(site, layer, columns, cards),
                **_layer_nav(layer, model, model.layers, position),
                "zips": [(m.name, urls.layer_zip(m.name, layer.id)) for m in shown],
                **change_context(
                    layer.id,
                    cards,
                    layer_pairs(layer.channels, model),
                    index.primary,
                    pair_lookup(site.analysis),
                ),
            }
            grid = Page(
                urls.model_layer(model.name, layer.id),
                "layer.html",
                context,
                _deps(c.picture for card in cards for c in card.cells),
            )
            yield grid
            yield from sorted_pages(grid)  # the grid by how much each channel changed, without JavaScript


def _layer_pages(site: Site, index: _Index) -> Iterable[Page]:
    """Each layer with images, all its models side by side."""
    by_network: dict[str, list[LayerView]] = defaultdict(list)
    for layer in site.layers_with_images:
        by_network[layer.row.network].append(layer)
    for layer in site.layers_with_images:
        with_images = by_network[layer.row.network]  # the arrows stay in one network
        position = with_images.index(layer)
        columns = _layer_columns(layer)
        cards = _cards(layer, columns, index)
        context = {
            "page_title": layer.id,
            "model": None,
            **_layer_context(site, layer, columns, cards),
            **_layer_nav(layer, None, with_images, position),
            "zips": [(m.name, urls.layer_zip(m.name, layer.id)) for m in layer.models],
            **change_context(
                layer.id, cards, layer_pairs(layer.channels), index.primary, pair_lookup(site.analysis)
            ),
        }
        yield Page(layer.url, "layer.html", context, _deps(c.picture for card in cards for c in card.cells))


def _channel_pages(site: Site, index: _Index) -> Iterable[Page]:
    for channel in site.channels:
        context, pictures = _channel_context(site, channel, index)
        yield Page(channel.url, "channel.html", context, _deps(pictures))


def _pages(site: Site, index: _Index) -> Iterable[Page]:
    # Summary pages show structure (names, counts), which the site digest covers.
    structure: list[str] = []
    yield from _figure_pages(site, index, structure)
    yield from _index_pages(site, structure)
    yield from _model_pages(site, index, structure)
    yield from _layer_pages(site, index)
    yield from _channel_pages(site, index)
    yield from analysis_pages(site)
