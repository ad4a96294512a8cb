"""Validation metrics as the paper reports them.

Single-label data: accuracy (arg-max). Multi-label data: mean binary
accuracy, the fraction of (image, attribute) outputs on the right side of 0.5.
Alongside, the majority baseline ("chance" for imbalanced data): the best
accuracy of a constant prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visualizer.data.base import Dataset

__all__ = ["Evaluation", "evaluate", "metric_name"]


def metric_name(multi_label: bool) -> str:
    """``"mean_binary_accuracy"`` for multi-label data, else ``"accuracy"``."""
    return "mean_binary_accuracy" if multi_label else "accuracy"


@dataclass
class Evaluation:
    """A validation result."""

    metric: float
    baseline: float  # accuracy of the best constant prediction
    images: int


def evaluate(predict: Callable[[np.ndarray], np.ndarray], dataset: Dataset, batch_size: int) -> Evaluation:
    """Run the validation split through `predict` and score it.

    Args:
        predict: images ``[B, S, S, 3]`` to outputs ``[B, C]`` (inference mode).
        dataset: its validation split is used; the last batch is padded to
            `batch_size` so that `predict` sees one shape only.
        batch_size: images per call.

    Returns:
        An `Evaluation`.
    """
    hits = 0.0
    count = 0
    label_sums: np.ndarray | None = None
    for images, labels in dataset.validation_batches(batch_size):
        real = len(images)
        if real < batch_size:
            images = np.concatenate([images, np.repeat(images[-1:], batch_size - real, axis=0)])
        outputs = predict(images)[:real]
        if dataset.multi_label:
            hits += float(np.sum((outputs > 0.5) == (labels > 0.5))) / labels.shape[1]
            sums = labels.sum(axis=0)
        else:
            hits += float(np.sum(np.argmax(outputs, axis=-1) == labels))
            sums = np.bincount(labels, minlength=dataset.num_classes).astype(np.float64)
        label_sums = sums if label_sums is None else label_sums + sums
        count += real
    if count == 0 or label_sums is None:
        raise ValueError(f"{dataset.name}: no readable validation image.")
    rates = label_sums / count
    baseline = float(np.mean(np.maximum(rates, 1 - rates))) if dataset.multi_label else float(rates.max())
    return Evaluation(hits / count, baseline, count)
