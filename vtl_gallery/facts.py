"""What an atlas holds, in words: the derived text of the home, layer, method and cite pages.

Nothing here is written for one atlas: the counts, the models, the datasets
(synthetic or not, from ``models.dataset_kind``), the methods and the
example channel of the cite and search pages all come from the catalog, so
the paper's atlas and the demo each describe themselves truly. site.toml adds
wording (``subtitle``, ``intro``), never facts.

Markdown pages of site_src/ reach the facts through placeholders, replaced
after the Markdown is rendered (`doc_parts`):

- inline, anywhere in the text (also in code spans): ``{{atlas:example-channel}}``
  (``Mixed_4c_Branch_2_b_3x3:0``), ``{{atlas:example-channel-path}}``
  (``layer/Mixed_4c_Branch_2_b_3x3/0/``), ``{{atlas:example-channel-url}}``
  (absolute with a base URL, else the path), ``{{atlas:example-layer}}`` and
  ``{{atlas:example-query}}`` (``4c_2_b_3x3:0``, a search that finds it);
- blocks, each a paragraph of its own: ``{{atlas:summary}}``,
  ``{{atlas:models}}``, ``{{atlas:methods}}``, ``{{atlas:measurements}}`` and
  ``{{atlas:citing}}``, rendered by the ``_atlas.html`` templates.

An unknown placeholder stops the build, naming the page and the known ones.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from vtl_gallery.catalog import INCEPTION_V1

if TYPE_CHECKING:
    from vtl_gallery.content import MarkdownPage
    from vtl_gallery.pages import ChannelView, ModelView, Site

__all__ = [
    "BLOCKS",
    "INLINE",
    "MEASUREMENT_NOTES",
    "OBJECTIVE_NOTE",
    "SYNTHETIC_KINDS",
    "AtlasFacts",
    "DocPart",
    "MethodFacts",
    "ModelFacts",
    "describe",
    "doc_parts",
    "examples_source",
    "is_synthetic",
]

SYNTHETIC_KINDS = frozenset({"world", "synthetic"})
"""``models.dataset_kind`` values of datasets the code draws (the demo's worlds), not real images."""

OBJECTIVE_NOTE = (
    "the value of the method's objective for the image, at the end of its run: for a feature "
    "visualization, the channel's mean activation it reached (higher is stronger); for dataset "
    "examples, the best image's activation. Values compare images of one channel, not channels."
)
"""What an image's ``objective`` is (layer and channel pages)."""

MEASUREMENT_NOTES = {
    "period_px": (
        "the period, in pixels, of the image's dominant repeating pattern: the strongest ring of its "
        "radially averaged power spectrum (dominant_period in visualizer/analysis/spatial.py). Small "
        "values are fine textures, large ones coarse shapes. The paper observes that a channel keeps "
        "its spatial scale through transfer: compare it across the models of one channel."
    ),
}
"""What each measurement of the catalog's ``metrics`` table means."""

BLOCKS = ("summary", "models", "methods", "measurements", "citing")
"""Placeholders that stand for a block (a paragraph of their own in the Markdown)."""
INLINE = (
    "example-channel",
    "example-channel-path",
    "example-channel-url",
    "example-layer",
    "example-query",
    "network",
)
"""Placeholders replaced by a short text."""

_BLOCK = re.compile(r"<p>\s*\{\{atlas:([A-Za-z0-9_-]+)\}\}\s*</p>")
_INLINE = re.compile(r"\{\{atlas:([A-Za-z0-9_-]+)\}\}")


def examples_source(settings: str, model: str) -> str:
    """Where a dataset-examples sheet's images come from, in words, read from its recorded settings.

    The ``examples`` methods record ``{"images": {"model", "dataset", "scored"}}``: the model whose
    dataset was scored (the sheet's own model, or the one ``[render.examples] dataset`` names for all).

    Args:
        settings: the image's settings (the catalog's JSON text).
        model: the image's model.

    Returns:
        ``"from 512 validation images of source world: imagenet's dataset, not this model's own"``,
        (with what an inactive channel's grey sheet means), or ``""`` for an image that records no dataset.
    """
    try:
        recorded = json.loads(settings) if settings else {}
    except ValueError:
        return ""
    images = recorded.get("images") if isinstance(recorded, dict) else None
    if not isinstance(images, dict) or not images.get("dataset"):
        return ""
    scored = images.get("scored")
    count = f"{scored:,} validation images" if isinstance(scored, int) else "validation images"
    source = str(images.get("model") or model)
    if source != model:
        text = f"from {count} of {images['dataset']}: {source}'s dataset, not this model's own"
    else:
        text = f"from {count} of {images['dataset']}: this model's own dataset"
    if recorded.get("inactive"):
        text += "; none of them activates this channel (the same value everywhere), so the sheet is grey"
    return text


def is_synthetic(kind: str | None) -> bool:
    """Whether a ``models.dataset_kind`` names a synthetic world rather than a real dataset."""
    return (kind or "").lower() in SYNTHETIC_KINDS


def plural(count: int, word: str) -> str:
    """``"1 layer"``, ``"13 layers"``."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def join_words(items: Iterable[str]) -> str:
    """``"a"``, ``"a and b"``, ``"a, b and c"``."""
    items = list(items)
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True)
class MethodFacts:
    """One method of the atlas and where it was rendered."""

    name: str
    kind: str
    description: str
    images: int
    layers: tuple[str, ...]
    models: tuple[str, ...]
    primary: bool
    layers_total: int

    @property
    def where(self) -> str:
        """``"all 13 layers"``, ``"1 layer"``."""
        if len(self.layers) == self.layers_total and self.layers_total > 1:
            return f"all {self.layers_total} layers"
        return plural(len(self.layers), "layer")


@dataclass(frozen=True)
class ModelFacts:
    """One model and a few words on where it comes from."""

    model: ModelView
    text: str


@dataclass
class AtlasFacts:
    """Counts, models, datasets, methods and an example channel of one atlas.

    Attributes:
        images, channels: how many of each the atlas holds.
        layers_rendered, layers_total: layers with images, and in the layer table (all networks).
        network: the networks' labels in words: ``"InceptionV1"``, ``"a width-reduced InceptionV1
            (width 0.25)"``, ``"InceptionV1 and EfficientNet-Lite0"``.
        models: each model, parents first.
        datasets: (name, synthetic, model names), in model order.
        methods: each method, in the site's order.
        example: a channel of this atlas for the examples (the cite and search pages).
        example_query: a search for it by an alias (``4c_2_b_3x3:0``).
        base_url: the site's absolute base URL, or ``""``.
    """

    images: int
    channels: int
    layers_rendered: int
    layers_total: int
    network: str
    models: list[ModelFacts]
    datasets: list[tuple[str, bool, list[str]]]
    methods: list[MethodFacts]
    example: ChannelView | None
    example_query: str
    base_url: str
    has_transfer: bool = False
    has_temporal: bool = False
    measurements: list[str] = field(default_factory=list)
    networks: list[tuple[str, int, int | None]] = field(default_factory=list)
    """Each network: (label, layers with images, layers in its catalogue or None where unknown)."""

    @property
    def layers_text(self) -> str:
        """``"13 of the 57 conv layers of InceptionV1 and 4 of the 65 conv layers of EfficientNet-Lite0"``."""
        networks = self.networks or [(self.network, self.layers_rendered, self.layers_total)]
        parts = []
        for label, rendered, total in networks:
            if total:
                parts.append(f"{rendered} of the {total} conv layers of {label}")
            else:
                parts.append(f"{plural(rendered, 'conv layer')} of {label}")
        return join_words(parts)

    @property
    def holds(self) -> str:
        """What the atlas holds, in one clause."""
        return (
            f"{plural(self.images, 'image')} of {plural(self.channels, 'channel')} in "
            f"{self.layers_text}, in "
            f"{plural(len(self.models), 'model')} on {plural(len(self.datasets), 'dataset')}"
        )

    @property
    def synthetic_note(self) -> str:
        """Which datasets are synthetic worlds, or ``""`` if none is."""
        synthetic = [name for name, is_synth, _ in self.datasets if is_synth]
        if not synthetic:
            return ""
        if len(synthetic) == len(self.datasets):
            which = "Every dataset of this atlas is a synthetic world"
        else:
            verb = "is a synthetic world" if len(synthetic) == 1 else "are synthetic worlds"
            which = f"Of this atlas's datasets, {join_words(synthetic)} {verb}"
        return (
            which + " drawn by the code, not real images: model names say which real dataset a model "
            "stands in for, not what it was trained on."
        )

    @property
    def methods_text(self) -> str:
        """``"lucid (all 13 layers), examples (8 layers)"``."""
        return ", ".join(f"{m.name} ({m.where})" for m in self.methods)

    @property
    def description(self) -> str:
        """One sentence for the pages' meta description."""
        names = ", ".join(m.model.name for m in self.models)
        phases = []
        if self.has_transfer:
            phases.append("before and after transfer learning")
        if self.has_temporal:
            phases.append("during training")
        synthetic = " on synthetic datasets" if self.datasets and all(s for _, s, _ in self.datasets) else ""
        when = (" " + " and ".join(phases)) if phases else ""
        return (
            f"Feature visualizations of {plural(self.channels, 'channel')} of {self.network} in "
            f"{plural(len(self.models), 'model')} ({names}){synthetic}{when}."
        )

    @property
    def example_path(self) -> str:
        """Site path of the example channel, or ``""``."""
        return self.example.url if self.example else ""

    @property
    def example_url(self) -> str:
        """The example channel's permanent URL: absolute with a base URL, else its site path."""
        return self.base_url + self.example_path if self.base_url else self.example_path

    def measurement_note(self, name: str) -> str:
        """What the objective or a measurement means."""
        if name == "objective":
            return OBJECTIVE_NOTE
        return MEASUREMENT_NOTES.get(name, f"a measurement the atlas records for each image ({name}).")

    def inline(self) -> dict[str, str]:
        """The inline placeholders' texts."""
        if self.example is None:
            return {**dict.fromkeys(INLINE, "(this atlas has no channel)"), "network": self.network}
        return {
            "network": self.network,
            "example-channel": self.example.id,
            "example-channel-path": self.example_path,
            "example-channel-url": self.example_url,
            "example-layer": self.example.layer.id,
            "example-query": self.example_query,
        }


def _networks(site: Site) -> list[tuple[str, int, int | None]]:
    """(label, layers with images, catalogue size) of each network of the site, in the site's order."""
    result = []
    for network in site.networks or []:
        layers = site.network_layers(network.id)
        rendered = sum(layer.has_images for layer in layers)
        total = network.layers_total or (len(layers) if network.id == INCEPTION_V1 else None)
        result.append((network.label, rendered, total))
    return result


def _model_facts(model: ModelView) -> ModelFacts:
    parts = [model.dataset_label]
    if model.parent is not None:
        parts.append(f"transferred from {model.parent.name}")
    elif model.children:
        parts.append("the parent of " + join_words(c.name for c in model.children))
    if model.is_temporal:
        first, last = model.snapshots[0], model.snapshots[-1]
        parts.append(f"{len(model.snapshots)} snapshots, {first.label} to {last.label}")
    return ModelFacts(model, "; ".join(parts))


def _method_facts(site: Site) -> list[MethodFacts]:
    images: dict[str, int] = defaultdict(int)
    layers: dict[str, set[tuple[str, str]]] = defaultdict(set)
    models: dict[str, set[str]] = defaultdict(set)
    for image in site.atlas.images:
        images[image.method] += 1
        layers[image.method].add((site.atlas.network_of(image.model), image.layer))
        models[image.method].add(image.model)
    paper = [layer.row.key for layer in site.layers]
    model_order = [m.name for m in site.models]
    result = []
    for name in site.methods:
        row = site.atlas.methods.get(name)
        result.append(
            MethodFacts(
                name,
                row.kind if row else "image",
                row.description if row else "",
                images[name],
                tuple(layer[1] for layer in paper if layer in layers[name]),
                tuple(m for m in model_order if m in models[name]),
                name == site.primary_method,
                len(site.layers_with_images),
            )
        )
    return result


def _example(site: Site) -> tuple[ChannelView | None, str]:
    """A channel to show in examples: the first, in paper order, with a short id and a pair to compare.

    Channels of figure 6's layers come first: the paper prints their short ids.
    """
    figure6 = set(site.figure6_layers)
    candidates = [c for c in site.channels if c.layer.id in figure6 and c.layer.row.short_id and c.pairs]
    candidates = candidates or [c for c in site.channels if c.layer.row.short_id and c.pairs]
    candidates = candidates or [c for c in site.channels if c.pairs] or site.channels
    if not candidates:
        return None, ""
    channel = candidates[0]
    return channel, f"{channel.layer.row.short_id or channel.layer.id}:{channel.index}"


def describe(site: Site) -> AtlasFacts:
    """The facts of a site's atlas."""
    datasets: dict[str, tuple[bool, list[str]]] = {}
    for model in site.models:
        synthetic, names = datasets.setdefault(model.dataset or "(unknown)", (model.synthetic, []))
        names.append(model.name)
    example, query = _example(site)
    networks = _networks(site)
    return AtlasFacts(
        images=site.image_count,
        channels=len(site.channels),
        layers_rendered=len(site.layers_with_images),
        layers_total=len(site.layers),
        network=join_words(label for label, _, _ in networks) or "InceptionV1",
        models=[_model_facts(m) for m in site.models],
        datasets=[(name, synthetic, names) for name, (synthetic, names) in datasets.items()],
        methods=_method_facts(site),
        example=example,
        example_query=query,
        base_url=site.config.absolute_base,
        has_transfer=any(m.parent is not None and m.image_count for m in site.models),
        has_temporal=any(m.is_temporal and m.image_count for m in site.models),
        measurements=site.sort_keys[1:],
        networks=networks,
    )


@dataclass(frozen=True)
class DocPart:
    """A piece of a Markdown page: HTML, or a block of facts (`block` names its template)."""

    html: Markup
    block: str = ""


def doc_parts(page: MarkdownPage, facts: AtlasFacts) -> list[DocPart]:
    """A Markdown page's HTML with its placeholders filled: inline ones replaced, blocks split out.

    Raises:
        ValueError: a placeholder that is not known, or a block that is not a paragraph of its own.
    """

    def fail(name: str, problem: str) -> ValueError:
        return ValueError(
            f"site_src page {page.slug}.md: {{{{atlas:{name}}}}} {problem}. Inline placeholders: "
            f"{', '.join(INLINE)}; blocks (a paragraph of their own): {', '.join(BLOCKS)} (docs/gallery.md)."
        )

    texts = facts.inline()

    def fill(html: str) -> Markup:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in BLOCKS:
                raise fail(name, "is a block: put it in a paragraph of its own")
            if name not in texts:
                raise fail(name, "is not a known placeholder")
            return str(escape(texts[name]))

        return Markup(_INLINE.sub(one, html))

    html = str(page.html)
    parts: list[DocPart] = []
    position = 0
    for match in _BLOCK.finditer(html):
        name = match.group(1)
        if name not in BLOCKS:
            continue  # an inline placeholder alone in its paragraph
        parts.append(DocPart(fill(html[position : match.start()])))
        parts.append(DocPart(Markup(""), name))
        position = match.end()
    parts.append(DocPart(fill(html[position:])))
    return [part for part in parts if part.block or part.html]
