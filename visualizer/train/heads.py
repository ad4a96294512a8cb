"""Models for training: a fresh InceptionV1 with the configured head, the
base weights of a parent copied in by layer name.

The base network's layer names (``<id>_conv``, ``<id>_bn`` and the ReLU
``<id>`` of the 57 conv layers) are those of `inception_v1.build`, so the
renderer finds every layer of every snapshot by its id. Only the head is new:
``dense`` (global average pool, dense(1024, relu), dense(n)) or
``single_dense`` (global average pool, dense(n)) on Mixed_5c's output, with
softmax, or sigmoid for multi-label data.
"""

from __future__ import annotations

import keras

from visualizer.models import inception_v1
from visualizer.models.inception_v1 import base_layer_names, copy_base_weights

__all__ = ["TRAINABLE_HEADS", "base_layer_names", "copy_base_weights", "new_model", "set_batch_norm_momentum"]

TRAINABLE_HEADS = ("dense", "single_dense")


def new_model(num_classes: int, head: str, width: float, multi_label: bool) -> keras.Model:
    """Build an untrained InceptionV1 with a training head.

    Args:
        num_classes: outputs (classes, or attributes when multi-label).
        head: one of `TRAINABLE_HEADS`.
        width: channel multiplier of the base network.
        multi_label: sigmoid outputs instead of softmax.

    Returns:
        A `keras.Model` from images in [0, 1] of any size to the head's outputs.
    """
    if head not in TRAINABLE_HEADS:
        raise ValueError(
            f"Cannot train a model with head {head!r} (slim's logits head needs 224 px images and "
            f"only comes from a checkpoint); valid heads: {', '.join(TRAINABLE_HEADS)}."
        )
    activation = "sigmoid" if multi_label else "softmax"
    return inception_v1.build(num_classes, head, width, activation)


def set_batch_norm_momentum(model: keras.Model, momentum: float) -> None:
    """Set the moving-statistics momentum of every batch-norm layer."""
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"batch_norm_momentum must be in [0, 1), received {momentum!r}.")
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = momentum
