"""Uncertainty for the observations: bootstrap intervals over channels, permutation nulls, AUC.

Every function takes a seed and returns the same numbers for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = [
    "RESAMPLES",
    "Test",
    "auc",
    "bootstrap_ci",
    "permutation_test",
    "sign_flip_test",
]

RESAMPLES = 2000  # bootstrap resamples and permutations of every test

Statistic = Callable[[np.ndarray], np.ndarray]  # [R, n] -> [R], one value per row


def _median(rows: np.ndarray) -> np.ndarray:
    return np.median(rows, axis=-1)


def _mean(rows: np.ndarray) -> np.ndarray:
    return np.mean(rows, axis=-1)


STATISTICS: dict[str, Statistic] = {"median": _median, "mean": _mean}


def bootstrap_ci(
    values: np.ndarray, statistic: str = "median", resamples: int = RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95% percentile bootstrap interval of `statistic` (``median`` or ``mean``) over `values`.

    Raises:
        ValueError: no values, or an unknown statistic (naming the valid ones).
    """
    values = np.asarray(values, dtype="float64")
    if values.size == 0:
        raise ValueError("bootstrap_ci needs at least one value")
    function = _statistic(statistic)
    rng = np.random.default_rng(seed)
    draws = values[rng.integers(0, len(values), size=(resamples, len(values)))]
    lo, hi = np.percentile(function(draws), [2.5, 97.5])
    return float(lo), float(hi)


def _statistic(name: str) -> Statistic:
    if name not in STATISTICS:
        raise ValueError(f"Unknown statistic {name!r}; valid: {', '.join(STATISTICS)}.")
    return STATISTICS[name]


@dataclass
class Test:
    """The outcome of a test against a null.

    Attributes:
        value: the statistic on the data.
        null: the mean of the statistic under the null.
        p: one-sided p-value, the share of null draws at least as large as `value`
            (with the data counted among them, so never 0).
        draws: the statistic under each null draw.
    """

    value: float
    null: float
    p: float
    draws: np.ndarray


def _test(value: float, draws: np.ndarray) -> Test:
    p = (1.0 + float(np.sum(draws >= value - 1e-12))) / (1.0 + len(draws))
    return Test(float(value), float(np.mean(draws)), p, draws)


def sign_flip_test(
    differences: np.ndarray, statistic: str = "median", resamples: int = RESAMPLES, seed: int = 0
) -> Test:
    """Is `statistic` of paired differences larger than under random signs (the two labels exchangeable)?"""
    differences = np.asarray(differences, dtype="float64")
    function = _statistic(statistic)
    rng = np.random.default_rng(seed)
    signs = rng.choice(np.array([-1.0, 1.0]), size=(resamples, len(differences)))
    return _test(float(function(differences[None, :])[0]), function(signs * differences[None, :]))


def permutation_test(
    value: float,
    draw: Callable[[np.random.Generator], float],
    resamples: int = RESAMPLES,
    seed: int = 0,
) -> Test:
    """Compare `value` with `resamples` draws of the statistic under a null; `draw(rng)` computes one."""
    rng = np.random.default_rng(seed)
    draws = np.array([draw(rng) for _ in range(resamples)], dtype="float64")
    return _test(value, draws)


def auc(positives: np.ndarray, negatives: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a random positive scores above a random negative (ties 1/2).

    Raises:
        ValueError: either group is empty.
    """
    positives = np.asarray(positives, dtype="float64").ravel()
    negatives = np.asarray(negatives, dtype="float64").ravel()
    if not len(positives) or not len(negatives):
        raise ValueError(f"auc needs both groups; received {len(positives)} and {len(negatives)} values")
    above = (positives[:, None] > negatives[None, :]).sum()
    ties = (positives[:, None] == negatives[None, :]).sum()
    return float((above + 0.5 * ties) / (len(positives) * len(negatives)))
