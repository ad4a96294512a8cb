"""The paper's six observations as tests: a statistic over channels, a bootstrap interval, a null, a rule.

docs/observations.md states each test: its metric, its null and its
decision rule. The functions here take the per-channel measurements (from
`visualizer.analysis.pipeline`, or planted in tests) and return one
`Observation` each; they touch no model and no atlas.

A page builder reads the stored results with `load_results` (re-exported
from `visualizer.analysis.store`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visualizer.analysis.depth import stage
from visualizer.analysis.entries import OBSERVATION_IDS, ChannelRef, Observation, json_ready
from visualizer.analysis.stats import bootstrap_ci, permutation_test, sign_flip_test
from visualizer.analysis.store import Results, load_results

__all__ = [
    "ALPHA",
    "MIN_CHANNELS",
    "OBSERVATION_IDS",
    "STATEMENTS",
    "ChannelRef",
    "Observation",
    "Results",
    "early_adaptation",
    "image_scale_structure",
    "json_ready",
    "load_results",
    "low_layers_colour",
    "middle_reuse",
    "progress_auc",
    "small_data_redundancy",
    "stable_scale",
    "stage",
    "unavailable",
]

ALPHA = 0.05
MIN_CHANNELS = 5  # a sign-flip test on 4 values cannot reach p < 0.05 (its smallest p is 1/16)


STATEMENTS: dict[str, tuple[str, str]] = {
    "early_adaptation": (
        "Adaptation happens early: a channel's visualization covers most of its change early in training.",
        "mean over channels of the area under progress (0 at the start, 1 at the end) against the fraction "
        "of training",
    ),
    "middle_reuse": (
        "Even middle-layer detectors are reused: after transfer a middle-layer channel still responds to its "
        "pre-transfer visualization.",
        "median over middle-layer channels of cross_activation "
        "(after channel on the before image / on its own)",
    ),
    "stable_scale": (
        "Each channel has a fundamental spatial scale, stable during transfer.",
        "share of channels whose dominant period changes by less than a factor 2",
    ),
    "small_data_redundancy": (
        "With a small dataset the channels solve the same tasks repeatedly: more channels duplicate another "
        "one than after transfer to a large dataset.",
        "mean over channels of the largest |correlation| with another channel of the layer on held-out "
        "images, small-data model minus large-data model",
    ),
    "low_layers_colour": (
        "The lower layers rarely adapt besides adjusting colour.",
        "mean over lower-layer channels of colour_change_rel - structure_change_rel",
    ),
    "image_scale_structure": (
        "Image-scale structures emerge in the top layers.",
        "mean over top-layer channels of image_scale_share after minus before transfer",
    ),
}


def _stage_of(layer: str, stages: Mapping[str, str] | None) -> str:
    """The layer's stage: from `stages` (the pipeline's, by graph depth on networks other than InceptionV1)
    when it lists the layer, else InceptionV1's block rule (`stage`)."""
    if stages is not None and layer in stages:
        return stages[layer]
    return stage(layer)


def unavailable(observation_id: str, reason: str, n: int = 0, **details: Any) -> Observation:
    """An entry with ``holds: None`` and the reason the atlas cannot answer it."""
    statement, metric = STATEMENTS[observation_id]
    return Observation(observation_id, statement, metric, reason=reason, n=n, details=details)


def _refs(layers: Sequence[str], channels: Sequence[int], values: np.ndarray) -> tuple[list, list]:
    order = np.argsort(-values, kind="stable")
    refs = [ChannelRef(layers[i], int(channels[i]), float(values[i])) for i in order]
    return refs[:3], refs[::-1][:3]


def _finish(
    observation_id: str,
    per_channel: np.ndarray,
    layers: Sequence[str],
    channels: Sequence[int],
    statistic: str,
    value: float,
    test,
    threshold: float,
    extra: tuple[bool, str] = (True, ""),
    **details: Any,
) -> Observation:
    statement, metric = STATEMENTS[observation_id]
    ci = bootstrap_ci(per_channel, statistic)
    ok, why_not = extra
    holds = bool(test.p < ALPHA and ci[0] > threshold and ok)
    best, worst = _refs(layers, channels, per_channel)
    return Observation(
        observation_id,
        statement,
        metric,
        value=float(value),
        ci=[ci[0], ci[1]],
        null=test.null,
        p=test.p,
        holds=holds,
        reason="" if holds or ok else why_not,
        n=len(per_channel),
        best=best,
        worst=worst,
        details={"threshold": threshold, "alpha": ALPHA, **details},
    )


def _too_few(observation_id: str, n: int, where: str, **details: Any) -> Observation | None:
    if n >= MIN_CHANNELS:
        return None
    return unavailable(
        observation_id, f"needs at least {MIN_CHANNELS} channels {where}; the atlas has {n}", n=n, **details
    )


# -- 1. early adaptation ----------------------------------------------------------------------


def progress_auc(distances: np.ndarray, iterations: np.ndarray) -> np.ndarray:
    """Per channel, the area under progress against the fraction of training.

    Args:
        distances: ``[n, K, K]``, each channel's distances between its K snapshot images, in the
            order of `iterations`.
        iterations: ``[K]`` increasing, the first 0.

    Returns:
        ``[n]``; NaN for a channel whose first and last images are identical.
    """
    distances = np.asarray(distances, dtype="float64")
    start, end = distances[:, :, 0], distances[:, :, -1]
    total = start + end
    progress = np.where(total > 0, start / np.where(total > 0, total, 1.0), 0.5)
    fraction = np.asarray(iterations, dtype="float64") / float(iterations[-1])
    area = np.sum(0.5 * (progress[:, 1:] + progress[:, :-1]) * np.diff(fraction)[None, :], axis=1)
    return np.where(distances[:, 0, -1] > 0, area, np.nan)


def half_change_iterations(distances: np.ndarray, iterations: np.ndarray) -> np.ndarray:
    """Per channel, the first iteration whose progress reaches one half (NaN when it never changes)."""
    distances = np.asarray(distances, dtype="float64")
    start, end = distances[:, :, 0], distances[:, :, -1]
    total = start + end
    progress = np.where(total > 0, start / np.where(total > 0, total, 1.0), 0.0)
    first = np.argmax(progress >= 0.5, axis=1)
    values = np.asarray(iterations, dtype="float64")[first]
    return np.where(distances[:, 0, -1] > 0, values, np.nan)


def early_adaptation(
    distances: np.ndarray,
    iterations: Sequence[int],
    layers: Sequence[str],
    channels: Sequence[int],
    **details: Any,
) -> Observation:
    """Test 1 (docs/observations.md): mean progress area, against snapshots shuffled per channel.

    Args:
        distances: ``[n, K, K]`` each channel's distances between its snapshot images.
        iterations: the K snapshot iterations, increasing from 0.
        layers: the layer of each channel.
        channels: the channel index of each.
    """
    observation_id = "early_adaptation"
    iterations = np.asarray(iterations, dtype="float64")
    if len(iterations) < 3 or iterations[0] != 0:
        return unavailable(
            observation_id,
            "needs a temporal run with at least 3 rendered snapshots, the first at iteration 0",
        )
    distances = np.asarray(distances, dtype="float64")
    area = progress_auc(distances, iterations)
    keep = np.isfinite(area)
    distances, area = distances[keep], area[keep]
    layers = [layer for layer, k in zip(layers, keep) if k]
    channels = [channel for channel, k in zip(channels, keep) if k]
    too_few = _too_few(
        observation_id, len(area), "with a changing visualization in the temporal run", **details
    )
    if too_few:
        return too_few
    value = float(area.mean())
    count = len(iterations)

    def draw(rng: np.random.Generator) -> float:
        order = np.argsort(rng.random((len(distances), count)), axis=1)
        rows = np.arange(len(distances))[:, None, None]
        shuffled = distances[rows, order[:, :, None], order[:, None, :]]
        return float(np.nanmean(progress_auc(shuffled, iterations)))

    test = permutation_test(value, draw)
    half = half_change_iterations(distances, iterations)
    return _finish(
        observation_id,
        area,
        layers,
        channels,
        "mean",
        value,
        test,
        0.5,
        iterations=[int(i) for i in iterations],
        median_half_change_iteration=float(np.median(half)),
        **details,
    )


# -- 2. middle-layer reuse ---------------------------------------------------------------------


def middle_reuse(
    responses: dict[str, np.ndarray],
    own: dict[str, np.ndarray],
    channels: dict[str, Sequence[int]],
    stages: Mapping[str, str] | None = None,
    **details: Any,
) -> Observation:
    """Test 2: the median cross-activation of middle-layer channels, against before images permuted.

    Args:
        responses: {layer: ``[c, c]``} entry ``(i, j)``: the after model's channel ``channels[j]`` on the
            before image of channel ``channels[i]`` (mean activation).
        own: {layer: ``[c]``} each after channel's mean activation on its own after image.
        channels: {layer: the channel indices, in the matrices' order}.
        stages: {layer: stage} where not InceptionV1's (`visualizer.analysis.depth`).
    """
    observation_id = "middle_reuse"
    layers = [layer for layer in responses if _stage_of(layer, stages) == "middle"]
    blocks: list[tuple[np.ndarray, np.ndarray]] = []
    names: list[str] = []
    indices: list[int] = []
    for layer in layers:
        matrix, mine = np.asarray(responses[layer], float), np.asarray(own[layer], float)
        keep = np.nonzero(mine > 1e-9)[0]
        if len(keep) == 0:
            continue
        blocks.append((matrix[:, keep] / mine[keep][None, :], keep))
        names += [layer] * len(keep)
        indices += [int(channels[layer][k]) for k in keep]
    ratios = (
        np.concatenate([ratio[keep, np.arange(len(keep))] for ratio, keep in blocks])
        if blocks
        else np.zeros(0)
    )
    too_few = _too_few(
        observation_id, len(ratios), "in middle layers responding to their own image", **details
    )
    if too_few:
        return too_few
    value = float(np.median(ratios))

    def draw(rng: np.random.Generator) -> float:
        values = [ratio[rng.permutation(len(ratio))[keep], np.arange(len(keep))] for ratio, keep in blocks]
        return float(np.median(np.concatenate(values)))

    return _finish(
        observation_id, ratios, names, indices, "median", value, permutation_test(value, draw), 0.5, **details
    )


# -- 3. stable scale ---------------------------------------------------------------------------


def stable_scale(
    before: np.ndarray, after: np.ndarray, layers: Sequence[str], channels: Sequence[int], **details: Any
) -> Observation:
    """Test 3: the share of channels whose dominant period stays within a factor 2, against periods permuted
    within each layer.

    Args:
        before: ``[n]`` periods (px) before transfer.
        after: ``[n]`` periods after, same channels.
        layers: each channel's layer.
        channels: each channel's index.
    """
    observation_id = "stable_scale"
    before, after = np.asarray(before, float), np.asarray(after, float)
    keep = np.isfinite(before) & np.isfinite(after) & (before > 0) & (after > 0)
    before, after = before[keep], after[keep]
    layers = [layer for layer, k in zip(layers, keep) if k]
    channels = [channel for channel, k in zip(channels, keep) if k]
    too_few = _too_few(observation_id, len(before), "with a measured period in both models", **details)
    if too_few:
        return too_few
    log_before, log_after = np.log2(before), np.log2(after)
    within = (np.abs(log_after - log_before) < 1.0).astype(float)
    groups = [np.nonzero(np.asarray(layers) == layer)[0] for layer in dict.fromkeys(layers)]

    def draw(rng: np.random.Generator) -> float:
        shuffled = log_after.copy()
        for group in groups:
            shuffled[group] = log_after[rng.permutation(group)]
        return float(np.mean(np.abs(shuffled - log_before) < 1.0))

    value = float(within.mean())
    closeness = 1.0 - np.minimum(np.abs(log_after - log_before), 4.0) / 4.0  # ranks best and worst channels
    observation = _finish(
        observation_id, within, layers, channels, "mean", value, permutation_test(value, draw), 0.5, **details
    )
    observation.best, observation.worst = _refs(layers, channels, closeness)
    return observation


# -- 4, 5, 6: paired differences ------------------------------------------------------------


def _paired(
    observation_id: str,
    differences: np.ndarray,
    layers: Sequence[str],
    channels: Sequence[int],
    statistic: str,
    where: str,
    extra: tuple[bool, str] = (True, ""),
    **details: Any,
) -> Observation:
    differences = np.asarray(differences, float)
    keep = np.isfinite(differences)
    differences = differences[keep]
    layers = [layer for layer, k in zip(layers, keep) if k]
    channels = [channel for channel, k in zip(channels, keep) if k]
    too_few = _too_few(observation_id, len(differences), where, **details)
    if too_few:
        return too_few
    test = sign_flip_test(differences, statistic)
    return _finish(
        observation_id, differences, layers, channels, statistic, test.value, test, 0.0, extra, **details
    )


def small_data_redundancy(
    small: np.ndarray, large: np.ndarray, layers: Sequence[str], channels: Sequence[int], **details: Any
) -> Observation:
    """Test 4: each channel's largest |correlation| with another of its layer, small- minus large-data model.

    Args:
        small: ``[n]`` per channel, in the small-data model (NaN: undefined).
        large: ``[n]`` the same channels in the large-data model.
        layers: each channel's layer.
        channels: each channel's index.
    """
    return _paired(
        "small_data_redundancy",
        np.asarray(small, float) - np.asarray(large, float),
        layers,
        channels,
        "mean",
        "with a defined correlation in both models",
        **details,
    )


def low_layers_colour(
    colour_rel: np.ndarray,
    structure_rel: np.ndarray,
    layers: Sequence[str],
    channels: Sequence[int],
    stages: Mapping[str, str] | None = None,
    **details: Any,
) -> Observation:
    """Test 5: in lower layers, colour change minus structure change (each relative to unrelated pairs).

    Args:
        colour_rel: ``[n]`` `colour_change_rel` per channel (every layer; lower layers are selected here).
        structure_rel: ``[n]`` `structure_change_rel`.
        layers: each channel's layer.
        channels: each channel's index.
        stages: {layer: stage} where not InceptionV1's (`visualizer.analysis.depth`).
    """
    lower = np.array([_stage_of(layer, stages) == "lower" for layer in layers], dtype=bool)
    colour_rel, structure_rel = np.asarray(colour_rel, float)[lower], np.asarray(structure_rel, float)[lower]
    finite = np.isfinite(colour_rel) & np.isfinite(structure_rel)
    median_structure = float(np.median(structure_rel[finite])) if finite.any() else float("nan")
    extra = (
        bool(median_structure < 0.5),
        f"the median structure_change_rel is {median_structure:.2f}, not below 0.5",
    )
    return _paired(
        "low_layers_colour",
        colour_rel - structure_rel,
        [layer for layer, k in zip(layers, lower) if k],
        [channel for channel, k in zip(channels, lower) if k],
        "mean",
        "in lower layers",
        extra,
        median_structure_change_rel=median_structure,
        median_colour_change_rel=float(np.median(colour_rel[finite])) if finite.any() else None,
        **details,
    )


def image_scale_structure(
    before: np.ndarray,
    after: np.ndarray,
    layers: Sequence[str],
    channels: Sequence[int],
    stages: Mapping[str, str] | None = None,
    **details: Any,
) -> Observation:
    """Test 6: in top layers, `image_scale_share` after minus before transfer.

    Args:
        before: ``[n]`` per channel (every layer; top layers are selected here).
        after: ``[n]`` the same channels after transfer.
        layers: each channel's layer.
        channels: each channel's index.
        stages: {layer: stage} where not InceptionV1's (`visualizer.analysis.depth`).
    """
    top = np.array([_stage_of(layer, stages) == "top" for layer in layers], dtype=bool)
    return _paired(
        "image_scale_structure",
        np.asarray(after, float)[top] - np.asarray(before, float)[top],
        [layer for layer, k in zip(layers, top) if k],
        [channel for channel, k in zip(channels, top) if k],
        "mean",
        "in top layers",
        **details,
    )
