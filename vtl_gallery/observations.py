"""The analysis on the site: the Observations page, one page per analysed pair, channel metrics and downloads.

`vtl analyse` stores its results in the atlas's catalog (`visualizer.analysis.store`);
this module turns them into pages. An atlas without analysis tables gets
none of it: no Observations page, no menu entry, no metric sections.

Plots are static SVG files written beside the pages (`vtl_gallery.plots`);
the downloads (``analysis-channels.csv``, ``analysis-layers.csv``,
``analysis-observations.csv`` and ``analysis.json``) are listed in
``manifest.json`` with the other downloads.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from visualizer.analysis.entries import ChannelRef, Observation, json_ready
from visualizer.analysis.store import CircuitRow, Results, Subject, load_results, subject_id
from vtl_gallery import plots, urls
from vtl_gallery.catalog import INCEPTION_V1, ImageRow
from vtl_gallery.files import write_if_changed

if TYPE_CHECKING:
    from vtl_gallery.pages import Page, Picture, Site

__all__ = [
    "DOWNLOADS",
    "METRIC_NOTES",
    "OBSERVATIONS",
    "ChannelAnalysis",
    "analysis_digest",
    "analysis_pages",
    "channel_analysis",
    "has_observations",
    "load_analysis",
    "pair_lookup",
    "pair_path",
    "plot_path",
    "write_analysis_downloads",
    "write_analysis_plots",
]

OBSERVATIONS = "observations/"
"""Site path of the Observations page."""

DOWNLOADS = (
    "analysis-channels.csv",
    "analysis-layers.csv",
    "analysis-observations.csv",
    "analysis.json",
)
"""The analysis downloads, at the site's root beside ``images.csv``."""

METRIC_NOTES: dict[str, str] = {
    "visual_change": "cosine distance between the two images in the before model's own feature space "
    "(pooled activations of a reference layer); ignores where a pattern sits.",
    "pixel_change": "1 minus the best normalized cross-correlation of the two images over all shifts "
    "(0 for a shifted copy).",
    "colour_change": "Hellinger distance between the two images' chroma histograms (luminance left out).",
    "colour_mean_shift": "distance between the two images' mean chroma, as a share of its largest value.",
    "structure_change": "Hellinger distance of luminance structure: gradient orientations and power per "
    "octave, without regard to position.",
    "colour_change_rel": "colour_change over its mean between different channels of the layer (1: as "
    "different as two channels).",
    "structure_change_rel": "structure_change over its mean between different channels of the layer.",
    "cross_activation": "the after channel's response to the before image over its response to its own "
    "image (near 1: a reused detector).",
    "cross_activation_reverse": "the before channel's response to the after image over its response to "
    "its own.",
    "own_activation_before": "the before model's channel on its own image (mean activation).",
    "own_activation_after": "the after model's channel on its own image (mean activation).",
    "weight_change": "relative L2 change of the channel's filter, batch norm folded in.",
    "period_before": "the before image's dominant period, in pixels.",
    "period_after": "the after image's dominant period, in pixels.",
    "period_ratio": "period after over period before (1: the same spatial scale).",
    "image_scale_before": "share of the before image's luminance power at periods of at least half the "
    "image.",
    "image_scale_after": "the same for the after image.",
}
"""One-line definition of each per-channel metric of a pair (docs/formats.md has them in full)."""

_PLOTS = "observations/plots/"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def load_analysis(atlas_root: str | os.PathLike) -> Results:
    """The analysis stored in an atlas, or an empty `Results` when there is none (or no catalog)."""
    try:
        return load_results(atlas_root)
    except FileNotFoundError:
        return Results()


def analysis_digest(results: Results) -> str:
    """A fingerprint of everything the pages show from the analysis (empty results: ``""``)."""
    if not results.subjects:
        return ""
    h = hashlib.sha256()
    h.update(json.dumps(_json(results), sort_keys=True).encode())
    return h.hexdigest()[:16]


def _slug(text: str) -> str:
    return _SAFE.sub("-", text).strip("-") or "x"


def pair_path(subject: Subject) -> str:
    """Site path of a pair's page: ``observations/imagenet-final-to-celeba-final-lucid/``."""
    name = f"{subject.before}-{subject.before_snapshot}-to-{subject.after}-{subject.after_snapshot}"
    return f"{OBSERVATIONS}{_slug(name + '-' + subject.method)}/"


def plot_path(subject: Subject, name: str) -> str:
    """Site path of one SVG plot of a pair (`name`: an observation id or ``cka``)."""
    return f"{_PLOTS}{pair_path(subject).removeprefix(OBSERVATIONS).rstrip('/')}-{_slug(name)}.svg"


_TABLES: dict[int, tuple[Results, dict]] = {}


def _channel_table(results: Results) -> dict[tuple[str, str, int], dict[str, float | None]]:
    """{(subject, layer, channel): metrics}, built once per `Results`."""
    cached = _TABLES.get(id(results))
    if cached is None or cached[0] is not results:
        table = {(row.subject, row.layer, row.channel): row.metrics for row in results.channels}
        _TABLES.clear()  # keep only the latest site's
        cached = _TABLES[id(results)] = (results, table)
    return cached[1]


def pair_lookup(results: Results) -> Callable[[ImageRow, ImageRow], Mapping[str, float]]:
    """A `vtl_gallery.orders.change_context` lookup: a pair of images' per-channel metrics, if analysed."""
    table = _channel_table(results)

    def lookup(before: ImageRow, after: ImageRow) -> Mapping[str, float]:
        subject = subject_id(before.model, before.snapshot, after.model, after.snapshot, after.method)
        metrics = table.get((subject, after.layer, after.channel), {})
        return {name: value for name, value in metrics.items() if value is not None}

    return lookup


def _fmt(value: float | None, digits: int = 3) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}"


@dataclass
class Link:
    """A channel the page links to, with its thumbnails before and after (None where not rendered)."""

    layer: str
    channel: int
    value: str
    url: str
    before: Picture | None
    after: Picture | None


@dataclass
class ObservationView:
    """One observation as the page shows it."""

    entry: Observation
    plot: str
    best: list[Link]
    worst: list[Link]

    @property
    def verdict(self) -> str:
        """``holds``, ``does not hold`` or ``not testable here``."""
        return {True: "holds", False: "does not hold", None: "not testable here"}[self.entry.holds]

    @property
    def verdict_class(self) -> str:
        return {True: "holds", False: "fails", None: "untested"}[self.entry.holds]

    @property
    def value(self) -> str:
        return _fmt(self.entry.value)

    @property
    def ci(self) -> str:
        ci = self.entry.ci
        return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]" if ci else "—"

    @property
    def null(self) -> str:
        return _fmt(self.entry.null)

    @property
    def p(self) -> str:
        return _fmt(self.entry.p, 2)

    @property
    def threshold(self) -> str:
        return _fmt(self.entry.details.get("threshold"))


@dataclass
class MetricValue:
    """One per-channel metric of a channel, for its page."""

    name: str
    value: str
    note: str


@dataclass
class CircuitLink:
    """One upstream channel of a rewired circuit."""

    row: CircuitRow
    url: str
    before: Picture | None
    after: Picture | None

    @property
    def rank_change(self) -> str:
        change = self.row.rank_before - self.row.rank_after
        return "=" if change == 0 else f"{change:+d}"

    @property
    def weight_change(self) -> str:
        before, after = self.row.weight_before, self.row.weight_after
        if before is None or after is None or not before:
            return "—"
        return f"{(after - before) / before:+.0%}"

    @property
    def weights(self) -> tuple[str, str]:
        return _fmt(self.row.weight_before), _fmt(self.row.weight_after)


@dataclass
class ChannelAnalysis:
    """A channel's metrics and rewired circuit for one analysed pair."""

    subject: Subject
    url: str
    metrics: list[MetricValue]
    circuit: list[CircuitLink]


def _picture(site: Site, model: str, snapshot: str, layer: str, channel: int, method: str) -> Picture | None:
    row = site.index.primary.get((model, snapshot, layer, channel)) if method == site.primary_method else None
    return site.picture(row) if row is not None else None


_URLS: dict[int, tuple[Site, dict]] = {}


def _channel_urls(site: Site, subject: Subject) -> dict[tuple[str, int], str]:
    """{(layer id, channel): page} of the channels of the network of `subject`'s models."""
    cached = _URLS.get(id(site))
    if cached is None or cached[0] is not site:
        _URLS.clear()
        table: dict[str, dict[tuple[str, int], str]] = defaultdict(dict)
        for c in site.channels:
            table[c.layer.row.network][(c.layer.id, c.index)] = c.url
        cached = _URLS[id(site)] = (site, table)
    return cached[1].get(site.atlas.network_of(subject.after), {})


def _same_network(site: Site, subject: Subject) -> bool:
    """Whether a pair's two models are of one network (no other pair is shown: its channels do not match)."""
    return site.atlas.network_of(subject.before) == site.atlas.network_of(subject.after)


def channel_analysis(
    site: Site, layer: str, channel: int, network: str = INCEPTION_V1
) -> list[ChannelAnalysis]:
    """The channel's metrics and circuit for every analysed pair of its network measuring it."""
    results: Results = site.analysis
    if not results.subjects:
        return []
    found = []
    for subject in results.pairs():
        if site.atlas.network_of(subject.after) != network or not _same_network(site, subject):
            continue
        pages = _channel_urls(site, subject)
        metrics = _channel_table(results).get((subject.id, layer, channel), {})
        circuit = results.circuits.get((subject.id, layer, channel), [])
        if not metrics and not circuit:
            continue
        values = [MetricValue(n, _fmt(metrics[n]), METRIC_NOTES.get(n, "")) for n in sorted(metrics)]
        links = [
            CircuitLink(
                row,
                pages.get((row.source_layer, row.source_channel), ""),
                _picture(
                    site,
                    subject.before,
                    subject.before_snapshot,
                    row.source_layer,
                    row.source_channel,
                    subject.method,
                ),
                _picture(
                    site,
                    subject.after,
                    subject.after_snapshot,
                    row.source_layer,
                    row.source_channel,
                    subject.method,
                ),
            )
            for row in circuit
        ]
        found.append(ChannelAnalysis(subject, pair_path(subject), values, links))
    return found


def _links(site: Site, subject: Subject, refs: Iterable[ChannelRef]) -> list[Link]:
    pages = _channel_urls(site, subject)
    by_path = {image.path: image for image in site.atlas.images}
    links = []
    for ref in refs:
        before = by_path.get(ref.before_path) if ref.before_path else None
        after = by_path.get(ref.after_path) if ref.after_path else None
        links.append(
            Link(
                ref.layer,
                ref.channel,
                _fmt(ref.value),
                pages.get((ref.layer, ref.channel), ""),
                site.picture(before)
                if before
                else _picture(
                    site, subject.before, subject.before_snapshot, ref.layer, ref.channel, subject.method
                ),
                site.picture(after)
                if after
                else _picture(
                    site, subject.after, subject.after_snapshot, ref.layer, ref.channel, subject.method
                ),
            )
        )
    return links


def _depth(results: Results, subject: Subject) -> dict[str, int]:
    return {row.layer: row.paper_index for row in results.layer_table(subject.id)}


def _points(results: Results, subject: Subject, entry: Observation) -> tuple[list, str, str]:
    """Per-channel (x, y) of an observation's plot, with the axes' labels."""
    depth = _depth(results, subject)
    rows = results.channel_table(subject.id)

    def by_depth(where: str, value: Callable[[dict], float | None]) -> list[tuple[float, float | None]]:
        return [
            (float(depth.get(r.layer, -1)), value(r.metrics))
            for r in rows
            if where == "all" or results.stage(subject.id, r.layer) == where
        ]

    def diff(a: str, b: str) -> Callable[[dict], float | None]:
        def value(m: dict) -> float | None:
            return None if m.get(a) is None or m.get(b) is None else m[a] - m[b]

        return value

    if entry.id == "early_adaptation":
        run = str(entry.details.get("run", ""))
        rows_run = [s for s in results.snapshots if s.subject.split(":")[0] == run]
        last = max((s.iteration for s in rows_run), default=0) or 1
        return [(s.iteration / last, s.progress) for s in rows_run], "fraction of training", "progress"
    if entry.id == "middle_reuse":
        return by_depth("middle", lambda m: m.get("cross_activation")), "layer depth", "cross_activation"
    if entry.id == "stable_scale":

        def log_ratio(m: dict) -> float | None:
            ratio = m.get("period_ratio")
            return math.log2(ratio) if ratio and ratio > 0 else None

        return by_depth("all", log_ratio), "layer depth", "log2 period ratio"
    if entry.id == "small_data_redundancy":
        points = [
            (
                float(r.paper_index),
                diff("data_max_correlation_median_small", "data_max_correlation_median_large")(r.metrics),
            )
            for r in results.layer_table(subject.id)
        ]
        return points, "layer depth", "median max |r|, small − large"
    if entry.id == "low_layers_colour":
        return (
            by_depth("lower", diff("colour_change_rel", "structure_change_rel")),
            "layer depth",
            "colour − structure",
        )
    if entry.id == "image_scale_structure":
        return (
            by_depth("top", diff("image_scale_after", "image_scale_before")),
            "layer depth",
            "image scale, after − before",
        )
    return [], "", ""


def _plots(site: Site) -> dict[str, bytes]:
    """Every SVG of the analysis pages, by site path."""
    results: Results = site.analysis
    files: dict[str, bytes] = {}
    for subject in results.pairs():
        for entry in results.observations.get(subject.id, []):
            points, xlabel, ylabel = _points(results, subject, entry)
            files[plot_path(subject, entry.id)] = plots.estimate_plot(
                entry.id,
                points,
                xlabel,
                ylabel,
                entry.value,
                entry.ci,
                entry.null,
                entry.details.get("threshold"),
                [-1.0, 1.0] if entry.id == "stable_scale" else None,  # within a factor 2
            )
        layers = results.layer_table(subject.id)
        if any(row.metrics.get("cka") is not None for row in layers):
            files[plot_path(subject, "cka")] = plots.cka_plot(
                [row.layer for row in layers], [row.metrics.get("cka") for row in layers]
            )
    return files


def write_analysis_plots(site: Site, dist: Path) -> tuple[list[str], int]:
    """Write the analysis SVGs; returns (their site paths, how many files changed)."""
    files = _plots(site)
    changed = 0
    for path, data in files.items():
        changed += write_if_changed(urls.safe_output_path(dist, path), data)
    return sorted(files), changed


def _synthetic(site: Site, subject: Subject) -> bool:
    """Whether either model of the pair was trained on a synthetic world (`ModelView.synthetic`)."""
    return any(model.synthetic for model in site.models if model.name in (subject.before, subject.after))


def _pair_context(site: Site, subject: Subject) -> dict[str, Any]:
    results: Results = site.analysis
    entries = results.observations.get(subject.id, [])
    views = [
        ObservationView(
            entry,
            plot_path(subject, entry.id),
            _links(site, subject, entry.best),
            _links(site, subject, entry.worst),
        )
        for entry in entries
    ]
    layers = results.layer_table(subject.id)
    names = sorted({name for row in layers for name in row.metrics})
    table = [(row.layer, [_fmt(row.metrics.get(name)) for name in names]) for row in layers]
    return {
        "subject": subject,
        "observations": views,
        "pair_url": pair_path(subject),
        "cka_plot": plot_path(subject, "cka")
        if any(r.metrics.get("cka") is not None for r in layers)
        else "",
        "layer_names": names,
        "layer_table": table,
        "layer_urls": {
            layer.id: layer.url
            for layer in site.network_layers(site.atlas.network_of(subject.after))
            if layer.has_images
        },
        "synthetic": site.facts.synthetic_note if site.facts and _synthetic(site, subject) else "",
    }


def analysis_pages(site: Site) -> Iterable[Page]:
    """The Observations page and one page per analysed pair (none without analysis)."""
    from vtl_gallery.pages import Page  # pages imports this module

    results: Results = site.analysis
    pairs = [
        s
        for s in results.pairs()
        if (results.observations.get(s.id) or results.layer_table(s.id)) and _same_network(site, s)
    ]
    if not pairs:
        return
    contexts = [_pair_context(site, subject) for subject in pairs]
    deps = [analysis_digest(results)]
    yield Page(OBSERVATIONS, "observations.html", {"page_title": "Observations", "pairs": contexts}, deps)
    for context in contexts:
        subject = context["subject"]
        title = f"{subject.before} → {subject.after}"
        yield Page(context["pair_url"], "model_pair.html", {"page_title": title, **context}, deps)


def has_observations(site: Site) -> bool:
    """Whether the site has an Observations page."""
    results: Results = site.analysis
    return any(results.observations.get(s.id) or results.layer_table(s.id) for s in results.pairs())


# --- downloads ------------------------------------------------------------------------------------


def _json(results: Results) -> dict[str, Any]:
    return json_ready(
        {
            "subjects": [
                {
                    k: getattr(s, k)
                    for k in (
                        "id",
                        "kind",
                        "before",
                        "before_snapshot",
                        "after",
                        "after_snapshot",
                        "method",
                        "settings",
                    )
                }
                for s in results.subjects
            ],
            "observations": {k: [o.as_dict() for o in v] for k, v in sorted(results.observations.items())},
            "layers": [
                {"subject": r.subject, "layer": r.layer, "paper_index": r.paper_index, "metrics": r.metrics}
                for r in results.layers
            ],
            "channels": [
                {"subject": r.subject, "layer": r.layer, "channel": r.channel, "metrics": r.metrics}
                for r in sorted(results.channels, key=lambda r: (r.subject, r.layer, r.channel))
            ],
            "circuits": [
                {"subject": s, "layer": layer, "channel": c, **vars(row)}
                for (s, layer, c), rows in sorted(results.circuits.items())
                for row in rows
            ],
        }
    )


def _number(value: float | int | None) -> str:
    return "" if value is None or (isinstance(value, float) and not math.isfinite(value)) else repr(value)


def _csv(header: list[str], rows: Iterable[list]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _download_bytes(results: Results) -> dict[str, bytes]:
    names = sorted({n for r in results.channels for n in r.metrics})
    channels = _csv(
        ["subject", "layer", "channel", *names],
        (
            [r.subject, r.layer, r.channel, *(_number(r.metrics.get(n)) for n in names)]
            for r in sorted(results.channels, key=lambda r: (r.subject, r.layer, r.channel))
        ),
    )
    layer_names = sorted({n for r in results.layers for n in r.metrics})
    layers = _csv(
        ["subject", "layer", "paper_index", *layer_names],
        (
            [r.subject, r.layer, r.paper_index, *(_number(r.metrics.get(n)) for n in layer_names)]
            for r in results.layers
        ),
    )
    observations = _csv(
        [
            "subject",
            "id",
            "statement",
            "metric",
            "value",
            "ci_lo",
            "ci_hi",
            "null",
            "p",
            "holds",
            "reason",
            "n",
        ],
        (
            [
                subject,
                o.id,
                o.statement,
                o.metric,
                _number(o.value),
                _number(o.ci[0] if o.ci else None),
                _number(o.ci[1] if o.ci else None),
                _number(o.null),
                _number(o.p),
                "" if o.holds is None else str(o.holds).lower(),
                o.reason,
                o.n,
            ]
            for subject, entries in sorted(results.observations.items())
            for o in entries
        ),
    )
    text = json.dumps(_json(results), sort_keys=True, indent=1) + "\n"
    return dict(zip(DOWNLOADS, (channels, layers, observations, text.encode())))


def write_analysis_downloads(site: Site, dist: Path) -> tuple[list[str], int]:
    """Write the analysis CSVs and JSON (none without analysis); returns (their site paths, files changed)."""
    results: Results = site.analysis
    if not results.subjects:
        return [], 0
    files = _download_bytes(results)
    changed = sum(write_if_changed(dist / name, data) for name, data in files.items())
    return list(files), changed
