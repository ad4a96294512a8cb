"""Orders of a layer's channels by how much they changed between two images of each channel.

A *pair* is two snapshots the comparison view can put side by side
(`vtl_gallery.pages.compare_pairs`): a parent's final snapshot against a
transferred model's (``"transfer"``), or a temporal run's first snapshot
against its final one (``"training"``). A *change order* turns the pair's two
images of one channel into one number (`ChangeOrder.value`); the cards are
then sorted by how far that number is from "no change" (`ChangeOrder.magnitude`),
most changed first. The default order of every grid stays the channel index.

Each layer grid gets a `ChangeTable` (every order and pair it can offer, and
each card's values, which the page's script sorts by in place), and each grid
of one model gets one pre-rendered page per order and pair
(`sorted_pages`), so that the orders work without JavaScript too.

A new per-channel measurement becomes an order with one line in `ORDERS`,
for instance a value the catalog records for each pair of images::

    ChangeOrder("visual-change", "visual change", "what it measures.", pair_metric("visual_change")),

`pair_metric` reads `PairImages.metrics`, which `change_context` fills from
its `lookup` argument (by default none: the atlas records no pair metrics yet).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from vtl_gallery import urls
from vtl_gallery.catalog import ImageRow

if TYPE_CHECKING:
    from vtl_gallery.pages import Card, ChannelView, ModelView, Page, SnapshotView

__all__ = [
    "ORDERS",
    "SCALES",
    "ChangeOrder",
    "ChangeTable",
    "LayerPair",
    "PairImages",
    "SortedView",
    "change_context",
    "layer_pairs",
    "objective_change",
    "pair_metric",
    "period_ratio",
    "sorted_cards",
    "sorted_pages",
    "sorted_path",
]

SCALES = ("difference", "ratio")
"""How a change value reads: a difference (no change: 0) or a ratio (no change: 1)."""


@dataclass(frozen=True)
class PairImages:
    """The two images of one channel that an order compares.

    Attributes:
        before: the pair's first image (the parent's, or the first snapshot's), or None if not rendered.
        after: the second image (the transferred model's, or the final snapshot's), or None.
        metrics: measurements of the pair itself (not of either image), by name.
    """

    before: ImageRow | None
    after: ImageRow | None
    metrics: Mapping[str, float] = field(default_factory=dict)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def objective_change(images: PairImages) -> float | None:
    """The after image's objective minus the before image's, or None when either is missing or not finite."""
    if images.before is None or images.after is None:
        return None
    before, after = _finite(images.before.objective), _finite(images.after.objective)
    return None if before is None or after is None else after - before


def period_ratio(images: PairImages) -> float | None:
    """The after image's ``period_px`` over the before image's; None if either is missing or not positive."""
    if images.before is None or images.after is None:
        return None
    before = _finite(dict(images.before.metrics).get("period_px"))
    after = _finite(dict(images.after.metrics).get("period_px"))
    if before is None or after is None or before <= 0 or after <= 0:
        return None
    return after / before


def pair_metric(name: str) -> Callable[[PairImages], float | None]:
    """An order's value function that reads the pair measurement `name` (None where it is not recorded)."""

    def value(images: PairImages) -> float | None:
        return _finite(images.metrics.get(name))

    value.__name__ = f"pair_metric_{name}"
    return value


@dataclass(frozen=True)
class ChangeOrder:
    """One way to measure how much a channel changed between the two images of a pair.

    Attributes:
        slug: the order's name in URLs (``objective-change``).
        label: its name on the page (``objective change``).
        note: what the value is, in a sentence or two (the page's explanation).
        value: the value of one channel's pair of images, or None where it cannot be computed.
        scale: ``"difference"`` (no change: 0) or ``"ratio"`` (no change: 1; both must be positive).
    """

    slug: str
    label: str
    note: str
    value: Callable[[PairImages], float | None]
    scale: str = "difference"

    def __post_init__(self) -> None:
        if self.scale not in SCALES:
            raise ValueError(
                f"ChangeOrder {self.slug!r}: unknown scale {self.scale!r}; valid: {', '.join(SCALES)}"
            )

    def magnitude(self, value: float | None) -> float | None:
        """How far `value` is from no change: ``|value|`` for a difference, ``|log2 value|`` for a ratio."""
        if value is None:
            return None
        if self.scale == "ratio":
            return abs(math.log2(value)) if value > 0 else None
        return abs(value)

    def format(self, value: float | None) -> str:
        """The value as the cards show it: ``+0.42`` for a difference, ``×2`` for a ratio; ``""`` if None."""
        if value is None:
            return ""
        return f"×{value:.3g}" if self.scale == "ratio" else f"{value:+.3g}"


ORDERS: tuple[ChangeOrder, ...] = (
    ChangeOrder(
        "objective-change",
        "objective change",
        "the after image's objective minus the before image's (each measured in its own model, in the "
        "channel's activation units): how much more or less the channel responds to its own visualization "
        "after the change. Sorted by its size, either sign.",
        objective_change,
    ),
    ChangeOrder(
        "period-ratio",
        "period ratio",
        "the after image's period_px over the before image's: above 1 the pattern grew coarser, below 1 "
        "finer. Sorted by how far it is from 1 (a factor 2 either way counts the same).",
        period_ratio,
        "ratio",
    ),
    # The per-channel metrics of `vtl analyse`; vtl_gallery.observations.pair_lookup supplies them.
    ChangeOrder(
        "visual-change",
        "visual change",
        "the feature-space distance of `vtl analyse` (cosine, pooled activations of the before model's "
        "reference layer; docs/formats.md).",
        pair_metric("visual_change"),
    ),
    ChangeOrder(
        "pixel-change",
        "pixel change",
        "1 minus the best normalized cross-correlation of the two images over all shifts.",
        pair_metric("pixel_change"),
    ),
    ChangeOrder(
        "colour-change",
        "colour change",
        "Hellinger distance between the two images' chroma histograms.",
        pair_metric("colour_change"),
    ),
    ChangeOrder(
        "colour-change-rel",
        "colour change (relative)",
        "colour change over its mean between different channels of the layer.",
        pair_metric("colour_change_rel"),
    ),
    ChangeOrder(
        "colour-mean-shift",
        "colour mean shift",
        "distance between the two images' mean chroma, as a share of its largest value.",
        pair_metric("colour_mean_shift"),
    ),
    ChangeOrder(
        "structure-change",
        "structure change",
        "Hellinger distance of luminance structure (gradient orientations, power per octave).",
        pair_metric("structure_change"),
    ),
    ChangeOrder(
        "structure-change-rel",
        "structure change (relative)",
        "structure change over its mean between different channels of the layer.",
        pair_metric("structure_change_rel"),
    ),
    ChangeOrder(
        "cross-activation",
        "cross activation",
        "the after channel's response to the before image over its response to its own; sorted by how far"
        " it is from 1.",
        pair_metric("cross_activation"),
        "ratio",
    ),
    ChangeOrder(
        "cross-activation-reverse",
        "reverse cross activation",
        "the before channel's response to the after image over its response to its own; sorted by how far"
        " it is from 1.",
        pair_metric("cross_activation_reverse"),
        "ratio",
    ),
    ChangeOrder(
        "weight-change",
        "weight change",
        "relative L2 change of the channel's filter, batch norm folded in.",
        pair_metric("weight_change"),
    ),
)
"""Every change order the layer grids offer, in the order the page lists them."""


def pair_label(a: SnapshotView, b: SnapshotView, kind: str) -> str:
    """How a page names a before/after pair: ``imagenet → celeba (pre / post transfer)`` for a transfer,
    ``celeba_temporal: iteration 0 (...) → final (...)`` for a run's first and final snapshots."""
    if kind == "transfer":
        return f"{a.model.name} → {b.model.name} (pre / post transfer)"
    return f"{b.model.name}: {a.label} → {b.label}"


@dataclass(frozen=True)
class LayerPair:
    """A pair of snapshots that some channels of a layer have images of.

    Attributes:
        a: the before snapshot.
        b: the after snapshot.
        kind: ``"transfer"`` (a parent against the transferred model) or ``"training"`` (a run's first
            snapshot against its final one).
    """

    a: SnapshotView
    b: SnapshotView
    kind: str

    @property
    def id(self) -> str:
        """The pair's name in URL queries: the after model (``celeba``, ``celeba_temporal:training``)."""
        return self.b.model.name if self.kind == "transfer" else f"{self.b.model.name}:training"

    @property
    def label(self) -> str:
        """``imagenet → celeba (pre / post transfer)``, ``celeba_temporal: iteration 0 (...) → final``."""
        return pair_label(self.a, self.b, self.kind)

    @property
    def short(self) -> str:
        """A few words for a select box: ``imagenet → celeba``, ``celeba_temporal it. 0 → it. 250``."""
        if self.kind == "transfer":
            return f"{self.a.model.name} → {self.b.model.name}"
        return f"{self.b.model.name} {self.a.short_label} → {self.b.short_label}"

    @property
    def detail(self) -> str:
        """Both images named in full: model and snapshot of each."""
        return f"{self.a.model.name} ({self.a.label}) → {self.b.model.name} ({self.b.label})"


def layer_pairs(channels: Iterable[ChannelView], model: ModelView | None = None) -> list[LayerPair]:
    """The pairs some of `channels` have both images of; with `model`, only the pairs that end in it.

    Transfer pairs come first, then training pairs, each in the order of the layer's models.
    """
    channels = list(channels)
    found: dict[tuple[str, str], LayerPair] = {}
    for channel in channels:
        for pair in channel.pairs:
            if model is None or pair.b.model is model:
                found.setdefault((pair.a.key, pair.b.key), LayerPair(pair.a, pair.b, pair.kind))
    models = channels[0].layer.models if channels else []

    def rank(pair: LayerPair) -> tuple[int, int]:
        position = models.index(pair.b.model) if pair.b.model in models else len(models)
        return (0 if pair.kind == "transfer" else 1, position)

    return sorted(found.values(), key=rank)


def sorted_path(layer_id: str, order: ChangeOrder, pair: LayerPair) -> str:
    """Site path of the grid of `pair`'s model sorted by `order` (``model/M/layer/L/by-objective-change/``).

    A training pair's page ends in ``-in-training``; a model may have both kinds.
    """
    suffix = "" if pair.kind == "transfer" else "-in-training"
    return urls.model_layer(pair.b.model.name, layer_id) + f"by-{order.slug}{suffix}/"


@dataclass(frozen=True)
class SortedLink:
    """A link to one pre-rendered order of a grid."""

    order: ChangeOrder
    pair: LayerPair
    path: str
    current: bool = False


@dataclass
class ChangeTable:
    """What a layer grid offers to sort by change, and each card's values.

    Attributes:
        layer_id: the layer.
        orders: the orders with at least one value on this grid.
        pairs: the pairs of this grid (all of the layer's on the all-models grid, the model's own on a
            model's grid).
        values: per channel index, per order slug, one value per pair (None where not computable).
        available: (order slug, pair id) of each combination with at least one value.
    """

    layer_id: str
    orders: list[ChangeOrder]
    pairs: list[LayerPair]
    values: dict[int, dict[str, list[float | None]]]
    available: set[tuple[str, str]]

    def data(self, channel: int, order: ChangeOrder) -> str:
        """One card's values of `order`, one per pair, comma-separated (empty where none), for the script."""
        values = self.values.get(channel, {}).get(order.slug, [None] * len(self.pairs))
        return ",".join("" if v is None else f"{v:.6g}" for v in values)

    def value(self, channel: int, order: ChangeOrder, pair: LayerPair) -> float | None:
        """One card's value of `order` for `pair`."""
        values = self.values.get(channel, {}).get(order.slug)
        return values[self.pairs.index(pair)] if values else None

    def links(self, current: tuple[str, str] | None = None) -> list[tuple[LayerPair, list[SortedLink]]]:
        """Per pair, a link to each pre-rendered order that has values (`current`: (order slug, pair id))."""
        result = []
        for pair in self.pairs:
            links = [
                SortedLink(
                    order, pair, sorted_path(self.layer_id, order, pair), current == (order.slug, pair.id)
                )
                for order in self.orders
                if (order.slug, pair.id) in self.available
            ]
            if links:
                result.append((pair, links))
        return result


@dataclass(frozen=True)
class SortedView:
    """A pre-rendered page of a grid in one order: which order, for which pair, and each card's value."""

    order: ChangeOrder
    pair: LayerPair
    table: ChangeTable
    grid_path: str

    def shown(self, channel: int) -> str:
        """The card's value, formatted (``""`` where none)."""
        return self.order.format(self.table.value(channel, self.order, self.pair))


def _no_metrics(before: ImageRow, after: ImageRow) -> Mapping[str, float]:
    return {}


def change_context(
    layer_id: str,
    cards: Sequence[Card],
    pairs: Sequence[LayerPair],
    images: Mapping[tuple[str, str, str, int], ImageRow],
    lookup: Callable[[ImageRow, ImageRow], Mapping[str, float]] = _no_metrics,
    orders: Sequence[ChangeOrder] = ORDERS,
) -> dict:
    """The layer template's ``change`` (a `ChangeTable`; None for a grid without pairs) and ``sorted_view``.

    Args:
        layer_id: the layer.
        cards: the grid's cards.
        pairs: the pairs to offer (`layer_pairs`).
        images: the grids' images by (model, snapshot, layer, channel).
        lookup: measurements of a pair of images, by name (for `pair_metric` orders).
        orders: the orders to offer, where they have values.
    """
    if not pairs:
        return {"change": None, "sorted_view": None}
    values: dict[int, dict[str, list[float | None]]] = {}
    for card in cards:
        channel = card.channel.index
        row: dict[str, list[float | None]] = {order.slug: [] for order in orders}
        for pair in pairs:
            before = images.get((pair.a.model.name, pair.a.name, layer_id, channel))
            after = images.get((pair.b.model.name, pair.b.name, layer_id, channel))
            metrics = lookup(before, after) if before is not None and after is not None else {}
            both = PairImages(before, after, metrics)
            for order in orders:
                row[order.slug].append(order.value(both))
        values[channel] = row
    available = {
        (order.slug, pair.id)
        for order in orders
        for position, pair in enumerate(pairs)
        if any(row[order.slug][position] is not None for row in values.values())
    }
    present = [order for order in orders if any(slug == order.slug for slug, _ in available)]
    return {"change": ChangeTable(layer_id, present, list(pairs), values, available), "sorted_view": None}


def sorted_cards(
    cards: Sequence[Card], table: ChangeTable, order: ChangeOrder, pair: LayerPair
) -> list[Card]:
    """`cards` most changed first by `order` for `pair`; cards without a value last, each by channel."""

    def key(card: Card) -> tuple[int, float, int]:
        size = order.magnitude(table.value(card.channel.index, order, pair))
        return (1, 0.0, card.channel.index) if size is None else (0, -size, card.channel.index)

    return sorted(cards, key=key)


def sorted_pages(grid: Page) -> Iterable[Page]:
    """The pre-rendered orders of one model's grid page: one page per order and pair with values."""
    table: ChangeTable | None = grid.context.get("change")
    if table is None:
        return
    title = grid.context.get("page_title", "")
    for pair in table.pairs:
        for order in table.orders:
            if (order.slug, pair.id) not in table.available:
                continue
            path = sorted_path(table.layer_id, order, pair)
            context = {
                **grid.context,
                "page_title": f"{title}, by {order.label}"
                + ("" if pair.kind == "transfer" else " in training"),
                "cards": sorted_cards(grid.context["cards"], table, order, pair),
                "sorted_view": SortedView(order, pair, table, grid.path),
            }
            yield replace(grid, path=path, context=context)
