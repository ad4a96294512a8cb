"""FLOP counts of a truncated network: the floor a renderer can be measured against.

A multiply-add counts as 2 FLOPs. Only the layers a target layer depends on
are counted (a renderer truncates the network there). A render step is a
forward pass plus the gradient with respect to the input; the input gradient
of a conv is a transposed conv of the same cost, and no weight gradients are
needed, so a step counts as 2 x forward (pooling, batch norm and ReLU are
negligible next to the convs).

`render_step_flops` knows the slim InceptionV1's catalogue; `model_forward_flops`
and `model_render_step_flops` count any Keras model from its layers' shapes at
an image size: ``Conv2D`` (grouped and depthwise-as-grouped included),
``DepthwiseConv2D``, ``SeparableConv2D``, ``Conv2DTranspose`` and ``Dense``
(once per position where it reads a feature map), inside nested models too.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import keras
import numpy as np

from visualizer.models.graph import calls_in_model, resolve_model_layer, truncate

__all__ = [
    "forward_flops",
    "layer_forward_flops",
    "model_forward_flops",
    "model_render_step_flops",
    "render_step_flops",
]

_COUNTED = (
    keras.layers.Conv2DTranspose,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2D,
    keras.layers.Dense,
)


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


def layer_forward_flops(layer: keras.layers.Layer, input_shape: Sequence[int]) -> int:
    """FLOPs of one call of a convolution-like or dense `layer` on one input of `input_shape`.

    Args:
        layer: a built ``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``,
            ``Conv2DTranspose`` or ``Dense`` (channels last); any other layer counts 0.
        input_shape: the input's shape with its batch axis (the count is per image).

    Returns:
        2 FLOPs per multiply-add of the layer's kernels (biases not counted).
    """
    shape = tuple(1 if d is None else int(d) for d in input_shape)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        # Each input position scatters the whole kernel: (kh, kw, filters, in) in Keras 3.
        kh, kw, filters, channels = layer.kernel.shape
        return 2 * math.prod(shape[1:-1]) * kh * kw * channels * filters
    if isinstance(layer, keras.layers.Dense):
        return 2 * math.prod(shape[1:-1]) * math.prod(layer.kernel.shape)
    if not isinstance(layer, _COUNTED):
        return 0
    positions = math.prod(int(d) for d in layer.compute_output_shape(shape)[1:-1])
    if isinstance(layer, keras.layers.SeparableConv2D):
        kh, kw, channels, multiplier = layer.depthwise_kernel.shape
        return 2 * positions * channels * multiplier * (kh * kw + layer.filters)
    # Conv2D: (kh, kw, in / groups, out); DepthwiseConv2D: (kh, kw, in, multiplier).
    return 2 * positions * math.prod(layer.kernel.shape)


def _call_flops(layer: keras.layers.Layer, input_shapes: list[tuple]) -> int:
    """FLOPs of one call of any layer: counted layers, nested functional and sequential models, else 0."""
    if isinstance(layer, keras.Sequential):
        total, shape = 0, input_shapes[0]
        for inner in layer.layers:
            total += _call_flops(inner, [shape])
            shape = tuple(inner.compute_output_shape(shape))
        return total
    if isinstance(layer, keras.Model):
        return _graph_flops(layer, input_shapes)
    return layer_forward_flops(layer, input_shapes[0]) if isinstance(layer, _COUNTED) else 0


def _graph_flops(model: keras.Model, input_shapes: list[tuple]) -> int:
    """FLOPs of every call in a functional `model`'s graph, its inputs of `input_shapes` (shapes only)."""
    calls = [
        (layer, inputs)
        for layer, inputs in calls_in_model(model)
        if isinstance(layer, (*_COUNTED, keras.Model))
    ]
    if not calls:
        return 0
    tensors = list({id(t): t for _, inputs in calls for t in inputs}.values())
    probe = keras.Model(model.inputs, tensors)
    specs = [keras.KerasTensor(shape, dtype=t.dtype) for shape, t in zip(input_shapes, model.inputs)]
    outputs = probe.compute_output_spec(specs if len(specs) > 1 else specs[0])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    shape_of = {id(t): tuple(o.shape) for t, o in zip(tensors, outputs)}
    return sum(_call_flops(layer, [shape_of[id(t)] for t in inputs]) for layer, inputs in calls)


def model_forward_flops(model: keras.Model, layer: str | None = None, size: int | None = None) -> int:
    """FLOPs of one image's forward pass through any functional Keras model, up to `layer`.

    Args:
        model: a functional model with one image input (channels last).
        layer: a Keras layer name (or an alias the model resolves); only the
            layers it depends on count. None: the whole model.
        size: the image side in pixels; None uses the model's own fixed input size.

    Returns:
        2 FLOPs per multiply-add of every convolution-like and dense layer
        that runs (`layer_forward_flops`), nested models included.

    Raises:
        ValueError: no `size` for a model whose input size is not fixed.
    """
    net = model if layer is None else truncate(model, resolve_model_layer(model, layer))
    shape = tuple(net.inputs[0].shape)
    if size is not None:
        shape = (1, int(size), int(size), *shape[3:])
    if any(d is None for d in shape[1:]):
        raise ValueError(
            f"Model {model.name!r} takes images of any size ({shape[1:]}); give size= in pixels."
        )
    return int(_graph_flops(net, [(1, *shape[1:])]))


def model_render_step_flops(model: keras.Model, layer: str, size: int | None = None) -> int:
    """FLOPs of one render step for one image on any model: forward to `layer` plus the input gradient.

    The same convention as `render_step_flops`: 2 x `model_forward_flops`.
    """
    return 2 * model_forward_flops(model, layer, size)
