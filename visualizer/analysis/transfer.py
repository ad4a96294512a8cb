"""Does a channel keep its spatial scale through transfer? Measured from an atlas catalog.

The paper observes that each channel has a fundamental spatial scale that is
stable during transfer, and that the predominant period grows with depth.
`scale_stability` pairs each channel's image in a model before transfer with
the same channel after it and compares their dominant periods (the
``period_px`` metric the atlas stores, `analysis.spatial.dominant_period`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from visualizer.analysis.atlasindex import NetworkLayers
from visualizer.analysis.readonly import connect_read_only

__all__ = ["LayerScale", "depth_trend", "scale_stability"]


@dataclass
class LayerScale:
    """Spatial scale of one layer's channels before and after transfer.

    Attributes:
        layer: layer id.
        paper_index: the layer's depth order: its position in the paper's order on InceptionV1, its
            ``graph_index`` on another network (-1 when unknown).
        channels: channels with a measured period in both models.
        median_before: median period (px) before transfer.
        median_after: median period (px) after transfer.
        correlation: Pearson correlation of log2 periods across channels
            (None with fewer than 3 channels or no spread).
        within_2x: share of channels whose period changed by less than a factor 2.
    """

    layer: str
    paper_index: int
    channels: int
    median_before: float
    median_after: float
    correlation: float | None
    within_2x: float


def _periods(db: sqlite3.Connection, model: str, snapshot: str, method: str) -> dict[tuple[str, int], float]:
    rows = db.execute(
        "SELECT images.layer, images.channel, metrics.value FROM images "
        "JOIN metrics ON metrics.path = images.path AND metrics.name = 'period_px' "
        "WHERE images.model = ? AND images.snapshot = ? AND images.method = ? AND images.variant = ''",
        (model, snapshot, method),
    )
    return {(layer, channel): float(value) for layer, channel, value in rows if value and value > 0}


def _correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    if len(x) < 3 or np.std(x) == 0 or np.std(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def scale_stability(
    atlas_dir: str | os.PathLike,
    before: str,
    after: str,
    method: str = "lucid",
    before_snapshot: str = "final",
    after_snapshot: str = "final",
) -> list[LayerScale]:
    """Compare each channel's dominant period in two models (or snapshots).

    Args:
        atlas_dir: an atlas with ``catalog.sqlite``.
        before: the model before transfer (e.g. ``imagenet``).
        after: the model after transfer (e.g. ``celeba``).
        method: the rendering method to compare.
        before_snapshot: snapshot of `before`.
        after_snapshot: snapshot of `after`.

    Returns:
        One `LayerScale` per layer present in both, by depth (the paper's order, or graph order).

    Raises:
        FileNotFoundError: when the atlas has no catalog.
        ValueError: when the two share no measured channel, naming the models in the atlas.
    """
    path = Path(atlas_dir) / "catalog.sqlite"
    if not path.is_file():
        raise FileNotFoundError(f"No catalog at {path}; run `vtl catalog rebuild --atlas {atlas_dir}` first.")
    with contextlib.closing(connect_read_only(path)) as db:
        first = _periods(db, before, before_snapshot, method)
        second = _periods(db, after, after_snapshot, method)
        facts = NetworkLayers.read(db)
        models = [row[0] for row in db.execute("SELECT name FROM models ORDER BY name")]
    network = facts.network(before)
    order = {layer: facts.order(layer, network) for layer, _ in set(first) | set(second)}
    shared = sorted(set(first) & set(second), key=lambda key: (order[key[0]], key[0], key[1]))
    if not shared:
        raise ValueError(
            f"{before}/{before_snapshot} and {after}/{after_snapshot} share no measured {method} channel; "
            f"models in the atlas: {', '.join(models)}."
        )
    by_layer: dict[str, list[tuple[float, float]]] = {}
    for key in shared:
        by_layer.setdefault(key[0], []).append((first[key], second[key]))
    results = []
    for layer, pairs in by_layer.items():
        values = np.asarray(pairs)
        log_ratio = np.abs(np.log2(values[:, 1] / values[:, 0]))
        results.append(
            LayerScale(
                layer=layer,
                paper_index=order[layer] if order[layer] < 10**6 else -1,
                channels=len(pairs),
                median_before=float(np.median(values[:, 0])),
                median_after=float(np.median(values[:, 1])),
                correlation=_correlation(np.log2(values[:, 0]), np.log2(values[:, 1])),
                within_2x=float(np.mean(log_ratio < 1.0)),
            )
        )
    return results


def _ranks(values: list[float]) -> np.ndarray:
    """Ranks with ties sharing their average rank (as Spearman's correlation needs)."""
    values_array = np.asarray(values, dtype="float64")
    ranks = np.empty(len(values_array))
    ranks[np.argsort(values_array, kind="stable")] = np.arange(len(values_array), dtype="float64")
    for value in np.unique(values_array):
        tied = values_array == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def depth_trend(scales: list[LayerScale]) -> float | None:
    """Spearman rank correlation between layer depth and median period before transfer.

    Periods as large as the image mean "no pattern smaller than the image" and
    tie; tied values share their rank, so ties add no trend.
    """
    if len(scales) < 3:
        return None
    return _correlation(_ranks([s.paper_index for s in scales]), _ranks([s.median_before for s in scales]))
