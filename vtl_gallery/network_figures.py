"""Figures 6 and 7 of the paper, for any network: the rows and panels, and which layers and models fill them.

The paper's figures are InceptionV1's (its layers are listed in
`vtl_gallery.pages`); for another network the atlas decides. Figure 7 of a
network shows its layers (graph order) that have images of the first
`FIGURE7_CHANNELS` channels in a pre-transfer model and a post-transfer
model, at most eight of them, evenly spaced by depth as a ``figure7`` render
plan picks them (`visualizer.models.layers.evenly_by_depth`). Figure 6 of a network shows its model
with the most snapshots: channels x snapshots for each layer it has images of
at several snapshots.

This module does not import `vtl_gallery.pages` at run time (pages imports it).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from visualizer.models.layers import FIGURE7_COUNT, evenly_by_depth
from vtl_gallery import urls
from vtl_gallery.catalog import INCEPTION_V1, NetworkRow

if TYPE_CHECKING:
    from vtl_gallery.pages import Cell, LayerView, ModelView, Site, _Index

__all__ = [
    "FIGURE6_MAX_CHANNELS",
    "FIGURE7_CHANNELS",
    "FigurePanel",
    "FigureRow",
    "NetworkFigures",
    "before_after_rows",
    "network_figures",
    "page_contexts",
    "pick_post",
    "snapshot_panels",
]

FIGURE7_CHANNELS = 4  # "first 4 channels"
FIGURE6_MAX_CHANNELS = 8


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


def pick_post(candidates: Sequence[ModelView]) -> ModelView | None:
    """The default post-transfer model of figure 7: CelebA-like first (not a temporal run), else the first."""
    if not candidates:
        return None
    celeba = [m for m in candidates if "celeba" in (m.name + m.dataset).lower()]
    plain = [m for m in (celeba or candidates) if not m.is_temporal]
    return (plain or celeba or candidates)[0]


def before_after_rows(
    index: _Index, post: ModelView, layer_ids: Sequence[str], by_id: dict[str, LayerView]
) -> tuple[list[FigureRow], list[str]]:
    """Figure 7's table: per layer, the first channels of `post`'s parent and of `post`, alternating.

    Returns:
        The rows and the column headers.
    """
    pre = post.parent
    header = [f"{kind} :{c}" for c in range(FIGURE7_CHANNELS) for kind in ("pre", "post")]
    rows = []
    for layer_id in layer_ids:
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


def snapshot_panels(
    index: _Index, model: ModelView, titled: Sequence[tuple[str, str]], by_id: dict[str, LayerView]
) -> list[FigurePanel]:
    """Figure 6's panels: for each (title, layer id), `model`'s channels (columns) at each snapshot (rows)."""
    panels = []
    for title, layer_id in titled:
        layer = by_id.get(layer_id)
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
    return panels


@dataclass
class NetworkFigures:
    """Figures 6 and 7 of one network other than InceptionV1, as its pages show them.

    Attributes:
        network: the network.
        fig6_model: the model with snapshots figure 6 shows, or None (then no figure 6).
        fig6: figure 6's panels, one per layer with images at several snapshots.
        fig7_models: the post-transfer models that have a figure 7, in model order.
        fig7_default: the one at ``network/<net>/figures/figure-7/``.
        fig7_layers: per post-transfer model name, its rows' layer ids (graph order).
        eligible: per post-transfer model name, how many layers had images before and after.
        evenly_spaced: per post-transfer model name, whether its layers are exactly the eight
            layers evenly spaced by depth over the network's whole catalogue.
    """

    network: NetworkRow
    fig6_model: ModelView | None = None
    fig6: list[FigurePanel] = field(default_factory=list)
    fig7_models: list[ModelView] = field(default_factory=list)
    fig7_default: ModelView | None = None
    fig7_layers: dict[str, list[str]] = field(default_factory=dict)
    eligible: dict[str, int] = field(default_factory=dict)
    evenly_spaced: dict[str, bool] = field(default_factory=dict)

    @property
    def id(self) -> str:
        """The network id."""
        return self.network.id

    @property
    def label(self) -> str:
        """How pages name the network."""
        return self.network.label

    @property
    def figures_url(self) -> str:
        """Site path of the network's figures folder."""
        return urls.figures_index(self.id)

    @property
    def figure6_url(self) -> str:
        """Site path of the network's figure 6."""
        return urls.figure6(self.id)

    @property
    def figure7_url(self) -> str:
        """Site path of the network's figure 7 for its default post-transfer model."""
        return urls.figure7(self.id)

    def figure7_url_of(self, model: ModelView) -> str:
        """The figure 7 page of one post-transfer model (the default's is `figure7_url`)."""
        return self.figure7_url if model is self.fig7_default else urls.figure7_model(model.name, self.id)


def _has_first_channels(index: _Index, model: ModelView, layer: LayerView) -> bool:
    """Whether `model`'s final snapshot has primary images of the layer's first channels."""
    final = model.final
    if final is None:
        return False
    wanted = min(FIGURE7_CHANNELS, layer.row.channels or FIGURE7_CHANNELS)
    return all((model.name, final.name, layer.id, c) in index.primary for c in range(wanted))


def _snapshots_with_images(index: _Index, model: ModelView, layer: LayerView) -> int:
    """How many of `model`'s snapshots have a primary image of the layer."""
    return len(
        {
            row.snapshot
            for row in index.by_model_layer.get((model.name, layer.id), [])
            if (row.model, row.snapshot, row.layer, row.channel) in index.primary
        }
    )


def _figure6(index: _Index, layers: list[LayerView], models: list[ModelView], found: NetworkFigures) -> None:
    """Fill `found`'s figure 6: the model with the most snapshots, a panel per layer seen at several."""
    temporal = [m for m in models if m.is_temporal and m.image_count]
    if not temporal:
        return
    model = max(temporal, key=lambda m: (len(m.snapshots), m.image_count))
    shown = [layer for layer in layers if _snapshots_with_images(index, model, layer) > 1]
    if not shown:
        return
    titled = [(f"({letter})", layer.id) for letter, layer in zip(string.ascii_lowercase, shown)]
    found.fig6_model = model
    found.fig6 = snapshot_panels(index, model, titled, {layer.id: layer for layer in shown})


def _figure7(index: _Index, layers: list[LayerView], models: list[ModelView], found: NetworkFigures) -> None:
    """Fill `found`'s figure 7: per transfer in the network, up to eight layers imaged before and after."""
    total = found.network.layers_total
    everywhere = evenly_by_depth(range(total), FIGURE7_COUNT) if total and total > FIGURE7_COUNT else None
    for post in models:
        pre = post.parent
        if pre is None or pre.network != post.network or not post.image_count:
            continue
        both = [
            layer
            for layer in layers
            if _has_first_channels(index, pre, layer) and _has_first_channels(index, post, layer)
        ]
        if not both:
            continue
        chosen = evenly_by_depth(both, FIGURE7_COUNT)
        found.fig7_models.append(post)
        found.fig7_layers[post.name] = [layer.id for layer in chosen]
        found.eligible[post.name] = len(both)
        found.evenly_spaced[post.name] = everywhere is not None and [
            layer.row.graph_index for layer in chosen
        ] == list(everywhere)
    found.fig7_default = pick_post(found.fig7_models)


def network_figures(site: Site, index: _Index) -> list[NetworkFigures]:
    """Figures 6 and 7 of every network other than InceptionV1 whose atlas has what one of them needs."""
    found = []
    for network in site.networks:
        if network.id == INCEPTION_V1:
            continue
        models = [m for m in site.models if m.network == network.id]
        layers = sorted(site.network_layers(network.id), key=lambda layer: layer.row.graph_index)
        figures = NetworkFigures(network)
        _figure6(index, layers, models, figures)
        _figure7(index, layers, models, figures)
        if figures.fig6_model is not None or figures.fig7_models:
            found.append(figures)
    return found


def page_contexts(site: Site, index: _Index, figures: NetworkFigures) -> list[tuple[str, str, dict, list]]:
    """(site path, template, context, pictures shown) of one network's figure 6 and figure 7 pages."""
    by_id = {layer.id: layer for layer in site.network_layers(figures.id)}
    shared = {
        "fig_net": figures.id,
        "fig_network": figures.network,
        "net_figures": figures,
        "fig6_model": figures.fig6_model,
        "fig6": figures.fig6,
        "fig6_layers": [(p.title.strip("()"), p.layer.id) for p in figures.fig6 if p.layer],
        "fig7_models": figures.fig7_models,
        "fig7_default": figures.fig7_default,
    }
    pages = []
    if figures.fig6_model is not None:
        pictures = [c.picture for p in figures.fig6 for r in p.rows for c in r.cells]
        pages.append(
            (
                urls.figure6(figures.id),
                "figure6.html",
                {**shared, "page_title": f"Figure 6 of {figures.label}"},
                pictures,
            )
        )
    for post in figures.fig7_models:
        rows, header = before_after_rows(index, post, figures.fig7_layers[post.name], by_id)
        default = post is figures.fig7_default
        title = f"Figure 7 of {figures.label}" + ("" if default else f" ({post.name})")
        context = {
            **shared,
            "page_title": title,
            "fig7_post": post,
            "fig7": rows,
            "fig7_header": header,
            "fig7_layers": figures.fig7_layers[post.name],
            "fig7_eligible": figures.eligible[post.name],
            "fig7_evenly": figures.evenly_spaced[post.name],
        }
        pages.append(
            (
                figures.figure7_url_of(post),
                "figure7.html",
                context,
                [c.picture for r in rows for c in r.cells],
            )
        )
    return pages
