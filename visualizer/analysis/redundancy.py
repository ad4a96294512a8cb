"""Redundancy of a layer: how many of its channels duplicate another, on data and on visualizations.

Two similarity matrices between the channels of one model's layer:

- on data: the Pearson correlation of the channels' activations over the
  same held-out images and positions (each map area-pooled to 4 x 4 cells
  by `features.data_statistics`; `correlation_similarity`);
- on visualizations: the cross-activation matrix, where entry ``(i, j)`` is
  channel j's mean activation on channel i's visualization divided by its
  activation on its own; two channels are alike when each responds to the
  other's image almost as strongly as to its own (`cross_activation_similarity`).

Near-duplicates are pairs above a threshold (`DUPLICATE_THRESHOLD`); a group
is a connected set of them (`duplicate_groups`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DUPLICATE_THRESHOLD",
    "LayerRedundancy",
    "correlation_similarity",
    "cross_activation_similarity",
    "duplicate_groups",
    "layer_redundancy",
    "max_similarity",
]

DUPLICATE_THRESHOLD = 0.9


def correlation_similarity(activations: np.ndarray) -> np.ndarray:
    """``[C, C]`` absolute Pearson correlations of the channels of ``[N, C]`` (or ``[N, H, W, C]``, every
    position of every image a sample); NaN in the rows and columns of channels that are constant."""
    values = np.asarray(activations, dtype="float64")
    values = values.reshape(-1, values.shape[-1])
    centred = values - values.mean(axis=0, keepdims=True)
    norms = np.sqrt((centred**2).sum(axis=0))
    alive = norms > 1e-12 * max(1.0, float(np.abs(values).max(initial=0.0)))
    unit = np.where(alive, centred / np.where(alive, norms, 1.0), 0.0)
    similarity = np.abs(unit.T @ unit)
    similarity[~alive, :] = np.nan
    similarity[:, ~alive] = np.nan
    return similarity


def cross_activation_similarity(responses: np.ndarray) -> np.ndarray:
    """``[C, C]`` from ``responses[i, j]``, channel j's mean activation on channel i's visualization:
    ``min(r_ij / r_jj, r_ji / r_ii)``; NaN where a channel does not respond to its own image."""
    responses = np.asarray(responses, dtype="float64")
    own = np.diag(responses)
    alive = own > 1e-9
    relative = np.where(alive[None, :], responses / np.where(alive, own, 1.0)[None, :], np.nan)
    return np.minimum(relative, relative.T)


def max_similarity(similarity: np.ndarray) -> np.ndarray:
    """``[C]``: each channel's largest similarity to another channel (NaN when it has none defined)."""
    values = np.array(similarity, dtype="float64")
    np.fill_diagonal(values, np.nan)
    with np.errstate(all="ignore"):
        finite = np.isfinite(values).any(axis=1)
        return np.where(finite, np.nanmax(np.where(np.isfinite(values), values, -np.inf), axis=1), np.nan)


def duplicate_groups(similarity: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> list[list[int]]:
    """Groups of two or more channels joined by similarities of at least `threshold` (connected sets)."""
    values = np.array(similarity, dtype="float64")
    count = len(values)
    parent = list(range(count))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    rows, cols = np.nonzero(np.nan_to_num(values, nan=-np.inf) >= threshold)
    for i, j in zip(rows, cols):
        if i != j:
            parent[root(int(i))] = root(int(j))
    members: dict[int, list[int]] = {}
    for i in range(count):
        members.setdefault(root(i), []).append(i)
    return sorted((group for group in members.values() if len(group) > 1), key=lambda g: g[0])


class LayerRedundancy:
    """The redundancy of one layer, from a similarity matrix.

    Attributes:
        max_similarity: ``[C]`` each channel's largest similarity to another.
        groups: the near-duplicate groups at `threshold`.
        threshold: the threshold used.
    """

    def __init__(self, similarity: np.ndarray, threshold: float = DUPLICATE_THRESHOLD):
        self.max_similarity = max_similarity(similarity)
        self.groups = duplicate_groups(similarity, threshold)
        self.threshold = threshold

    @property
    def duplicated_share(self) -> float:
        """The share of channels that belong to a near-duplicate group."""
        count = len(self.max_similarity)
        return sum(len(group) for group in self.groups) / count if count else 0.0

    @property
    def flagged(self) -> bool:
        """Whether the layer has any near-duplicate group."""
        return bool(self.groups)


def layer_redundancy(activations: np.ndarray, threshold: float = DUPLICATE_THRESHOLD) -> LayerRedundancy:
    """`LayerRedundancy` of a layer from its activations ``[N, C]`` or ``[N, H, W, C]`` on held-out images
    (every position a sample)."""
    return LayerRedundancy(correlation_similarity(activations), threshold)
