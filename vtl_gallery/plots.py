"""Small static SVG plots of the analysis (matplotlib's SVG backend, no JavaScript).

Every plot is deterministic: a fixed ``svg.hashsalt``, no date in the
metadata, text kept as text (``svg.fonttype = none``), so the same results
always give the same bytes and an unchanged plot is not rewritten.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import matplotlib
from matplotlib.backends.backend_svg import FigureCanvasSVG
from matplotlib.figure import Figure

__all__ = ["RC", "cka_plot", "estimate_plot", "svg_bytes"]

RC = {
    "svg.hashsalt": "vtl-gallery",
    "svg.fonttype": "none",
    "font.size": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
"""The matplotlib settings every plot is drawn with."""

_INK, _ACCENT, _GREY = "#1f2937", "#b45309", "#6b7280"


def svg_bytes(figure: Figure) -> bytes:
    """The figure as SVG bytes, without a date or random ids."""
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        FigureCanvasSVG(figure)
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return buffer.getvalue()


def _finite(values: Sequence[float | None]) -> list[float]:
    return [float(v) for v in values if v is not None and math.isfinite(v)]


def estimate_plot(
    title: str,
    points: Sequence[tuple[float, float]],
    xlabel: str,
    ylabel: str,
    value: float | None,
    ci: Sequence[float] | None,
    null: float | None,
    threshold: float | None,
    guides: Sequence[float] | None = None,
) -> bytes:
    """Per-channel values against a position (depth, time) and, beside them, the statistic with its interval.

    Args:
        title: the plot's title.
        points: (x, y) of each channel (non-finite ones are left out).
        xlabel: what x is.
        ylabel: what y is.
        value: the test's statistic (None: not computed).
        ci: its 95% interval, or None.
        null: its mean under the null, or None.
        threshold: the decision threshold, or None (drawn on the statistic's side).
        guides: values to mark on the per-channel side (default: the threshold, same units).
    """
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(5.2, 2.2))
        left, right = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1]})
        kept = [(x, y) for x, y in points if math.isfinite(x) and y is not None and math.isfinite(y)]
        if kept:
            left.scatter([x for x, _ in kept], [y for _, y in kept], s=6, color=_INK, alpha=0.5, linewidths=0)
        else:
            left.text(0.5, 0.5, "no per-channel values", ha="center", va="center", transform=left.transAxes)
        left.set_xlabel(xlabel)
        left.set_ylabel(ylabel)
        left.set_title(title, loc="left")
        if threshold is not None:
            right.axhline(threshold, color=_GREY, linestyle="--", linewidth=0.8)
        for guide in [threshold] if guides is None and threshold is not None else guides or []:
            left.axhline(guide, color=_GREY, linestyle="--", linewidth=0.8)
        if value is not None and math.isfinite(value):
            if ci and len(_finite(ci)) == 2:
                lo, hi = _finite(ci)
                right.plot([0, 0], [lo, hi], color=_INK, linewidth=2)
            right.plot([0], [value], "o", color=_INK, label="value (95% CI)")
        else:
            right.text(0.5, 0.5, "not tested", ha="center", va="center", transform=right.transAxes)
            right.set_yticks([])
        if null is not None and math.isfinite(null):
            right.plot([0], [null], "x", color=_ACCENT, label="null")
        right.set_xlim(-1, 1)
        right.set_xticks([])
        right.set_title("statistic", loc="left")
        if right.get_legend_handles_labels()[0]:
            right.legend(loc="best", frameon=False, fontsize=6)
        figure.tight_layout()
        return svg_bytes(figure)


def cka_plot(layers: Sequence[str], values: Sequence[float | None]) -> bytes:
    """Linear CKA before vs after transfer by depth, one point per layer (None: not measured)."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(6.4, 2.4))
        axes = figure.subplots()
        xs = [i for i, v in enumerate(values) if v is not None and math.isfinite(v)]
        axes.plot(xs, [values[i] for i in xs], "-o", color=_INK, markersize=3, linewidth=1)
        axes.set_ylim(0, 1.05)
        axes.set_ylabel("linear CKA")
        axes.set_xlabel("layer, by depth")
        step = max(1, math.ceil(len(layers) / 12))
        ticks = list(range(0, len(layers), step))
        axes.set_xticks(ticks)
        axes.set_xticklabels([layers[i] for i in ticks], rotation=40, ha="right", fontsize=6)
        figure.tight_layout()
        return svg_bytes(figure)
