"""FLOP counts of a truncated network: the floor a renderer can be measured against.

A multiply-add counts as 2 FLOPs. Only the layers a target layer depends on
are counted (a renderer truncates the network there). A render step is a
forward pass plus the gradient with respect to the input; the input gradient
of a conv is a transposed conv of the same cost, and no weight gradients are
needed, so a step counts as 2 x forward (pooling, batch norm and ReLU are
negligible next to the convs).
"""

from __future__ import annotations

import functools

import keras
import numpy as np

from visualizer.models.graph import truncate

__all__ = ["forward_flops", "render_step_flops"]


def _conv_flops(layer: keras.layers.Layer) -> int:
    _, height, width, out_channels = layer.output.shape
    kernel_h, kernel_w, in_channels, _ = layer.kernel.shape
    return 2 * kernel_h * kernel_w * in_channels * out_channels * height * width


@functools.lru_cache(maxsize=16)
def _inception_conv_flops(size: int, width: float) -> dict[str, int]:
    """Forward FLOPs of each of the 57 convs of the InceptionV1 at one size and width."""
    from visualizer.models import inception_v1
    from visualizer.models.layers import LAYERS

    model = inception_v1.build(width=width, input_size=size, head="single_dense", num_classes=1)
    return {layer.id: _conv_flops(model.get_layer(layer.id + "_conv")) for layer in LAYERS}


def _inception_ancestors(layer_id: str) -> list[str]:
    """The convs a layer depends on: the stem and earlier blocks whole, then its own branch."""
    from visualizer.models.layers import LAYERS, resolve

    target = resolve(layer_id)
    blocks = [layer.block for layer in LAYERS]
    if target.id in blocks:  # a block output: everything up to and including the block
        last = max(i for i, block in enumerate(blocks) if block == target.id)
        return [layer.id for layer in LAYERS[: last + 1]]
    ancestors = []
    for layer in LAYERS[: target.graph_index + 1]:
        other_block = layer.block != target.block or layer.block == "stem"
        same_branch = layer.id.rsplit("_", 2)[0] == target.id.rsplit("_", 2)[0]
        if other_block or same_branch:
            ancestors.append(layer.id)
    return ancestors


def forward_flops(model: keras.Model, layer_name: str) -> int:
    """Count the FLOPs of the convs and dense layers that `layer_name` depends on.

    Args:
        model: a functional model with a fixed input size (conv output shapes
            must be known).
        layer_name: the Keras name of the target layer.

    Returns:
        FLOPs of one forward pass of one image up to that layer.
    """
    truncated = truncate(model, layer_name)
    total = 0
    for layer in truncated.layers:
        if isinstance(layer, keras.layers.Conv2D):
            total += _conv_flops(layer)
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * int(np.prod(layer.kernel.shape))
    return int(total)


def render_step_flops(layer_id: str, size: int, width: float = 1.0) -> int:
    """FLOPs of one render step for one image of `size` px on the InceptionV1 at `width`.

    Forward to `layer_id` (any alias, or a block id) plus the gradient with
    respect to the input (2 x forward).
    """
    per_conv = _inception_conv_flops(int(size), float(width))
    return 2 * sum(per_conv[name] for name in _inception_ancestors(layer_id))
