"""Linear CKA between two models' activations: the representation similarity of a layer before and after.

Centered kernel alignment (Kornblith et al. 2019) with linear kernels,
accumulated over minibatches with the unbiased HSIC estimator (Nguyen,
Raghu and Kornblith 2021), as celebalucid measures it: for minibatches
``i`` of activations ``X_i`` and ``Y_i`` of the same images,

    CKA = sum_i HSIC1(X_i X_i^T, Y_i Y_i^T) / sqrt(sum_i HSIC1(K_i, K_i) * sum_i HSIC1(L_i, L_i))

It is 1 for a model compared with itself and unchanged when the channels
are rotated (any orthogonal transform of the features) or scaled together.
"""

from __future__ import annotations

import numpy as np

__all__ = ["MinibatchCKA", "gram", "hsic_unbiased", "linear_cka"]


def gram(features: np.ndarray) -> np.ndarray:
    """The linear kernel ``X X^T`` of ``[n, ...]`` features (flattened per example), in float64."""
    flat = np.asarray(features, dtype="float64").reshape(len(features), -1)
    return flat @ flat.T


def hsic_unbiased(k: np.ndarray, l: np.ndarray) -> float:  # noqa: E741 (the paper's names)
    """The unbiased HSIC estimator (Song et al. 2012) of two ``[n, n]`` kernels, n at least 4.

    Raises:
        ValueError: fewer than 4 examples.
    """
    n = len(k)
    if n < 4:
        raise ValueError(f"the unbiased HSIC needs at least 4 examples per minibatch; received {n}")
    k = np.array(k, dtype="float64")
    l = np.array(l, dtype="float64")  # noqa: E741
    np.fill_diagonal(k, 0.0)
    np.fill_diagonal(l, 0.0)
    ones_k, ones_l = k.sum(axis=0), l.sum(axis=0)
    trace = float(np.sum(k * l))
    middle = float(k.sum() * l.sum()) / ((n - 1) * (n - 2))
    cross = 2.0 * float(ones_k @ ones_l) / (n - 2)
    return (trace + middle - cross) / (n * (n - 3))


class MinibatchCKA:
    """Accumulates linear CKA over minibatches of paired activations, for several layers at once."""

    def __init__(self) -> None:
        self._sums: dict[str, np.ndarray] = {}
        self._counts: dict[str, int] = {}

    def update_grams(self, layer: str, k: np.ndarray, l: np.ndarray) -> None:  # noqa: E741
        """Add one minibatch given as the two kernels ``[b, b]`` of the same images."""
        terms = np.array([hsic_unbiased(k, l), hsic_unbiased(k, k), hsic_unbiased(l, l)])
        self._sums[layer] = self._sums.get(layer, np.zeros(3)) + terms
        self._counts[layer] = self._counts.get(layer, 0) + len(k)

    def update(self, layer: str, first: np.ndarray, second: np.ndarray) -> None:
        """Add one minibatch of activations ``[b, ...]`` of the same b images in the two models."""
        if len(first) != len(second):
            raise ValueError(
                f"{layer}: {len(first)} and {len(second)} examples; a minibatch pairs the same images"
            )
        self.update_grams(layer, gram(first), gram(second))

    def images(self, layer: str) -> int:
        """How many images `layer` has accumulated."""
        return self._counts.get(layer, 0)

    def value(self, layer: str) -> float | None:
        """CKA of `layer` so far; None when either side carries no signal (a constant representation)."""
        cross, first, second = self._sums.get(layer, np.zeros(3))
        if first <= 0 or second <= 0:
            return None
        return float(cross / np.sqrt(first * second))


def linear_cka(first: np.ndarray, second: np.ndarray, batch_size: int | None = None) -> float | None:
    """Linear CKA of two activation arrays ``[n, ...]`` of the same images, over minibatches of `batch_size`
    (default: one batch of all n); a trailing minibatch under 4 images is left out."""
    accumulator = MinibatchCKA()
    step = batch_size or len(first)
    for start in range(0, len(first), step):
        if min(step, len(first) - start) >= 4:
            accumulator.update("layer", first[start : start + step], second[start : start + step])
    return accumulator.value("layer")
