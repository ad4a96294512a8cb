"""The weights behind a layer of any Keras network: its producing convolution, batch norm and inputs.

InceptionV1's layers name their convolution and batch norm (``<id>_conv``,
``<id>_bn``; `visualizer.analysis.circuits`). Another network's catalogued
layer (`visualizer.models.catalogue`) is the output of a convolution-like
layer, taken after the batch norm and nonlinearity that follow it; here the
graph is walked back from that output to the convolution:

- `producing_layers`: the convolution (``Conv2D``, ``DepthwiseConv2D``,
  ``SeparableConv2D``, ``Conv2DTranspose``, a ``Dense`` on a feature map)
  and its batch norm, through nonlinearities;
- `folded_kernel`: its kernel ``[kh, kw, in, out]`` with the batch norm
  folded in (a depthwise kernel as ``[kh, kw, 1, in * multiplier]``; a
  separable convolution's pointwise kernel);
- `input_sources`: where each input channel of a (non-depthwise) convolution
  comes from: a catalogued layer, the image, or the tensor of an operation
  that mixes layers (an ``Add`` of a residual connection, named by that
  operation), through pools, padding, rescaling and concatenations;
- `reference_layer`: the feature space of ``visual_change`` on such a network.

Each raises ValueError with the reason where a layer's weights cannot be
found; the analysis records null with that reason.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from visualizer.models.catalogue import NONLINEARITIES
from visualizer.models.graph import producer, producer_inputs

__all__ = ["folded_kernel", "input_sources", "producing_layers", "reference_layer"]

IMAGE_SOURCE = "image"
REFERENCE_STRIDE = 16  # InceptionV1's reference (Mixed_4b) is the first layer of its stride-16 stage
_CONVOLUTIONS = (
    keras.layers.Conv2DTranspose,
    keras.layers.SeparableConv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.Conv2D,
    keras.layers.Dense,
)
_PASS_THROUGH = (
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
    keras.layers.Rescaling,
    keras.layers.Normalization,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Dropout,
    keras.layers.SpatialDropout2D,
    keras.layers.Identity,
)


def _get(model: keras.Model, layer: str) -> keras.layers.Layer:
    try:
        return model.get_layer(layer)
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no layer {layer!r}") from error


def producing_layers(model: keras.Model, layer: str) -> tuple[keras.layers.Layer, keras.layers.Layer | None]:
    """(the convolution-like layer that produces `layer`'s output, its batch norm or None).

    Raises:
        ValueError: the path back from `layer` meets an operation that is neither a batch norm nor a
            nonlinearity before a convolution (naming it).
    """
    operation = _get(model, layer)
    norm = None
    for _ in range(8):
        if isinstance(operation, _CONVOLUTIONS):
            return operation, norm
        if isinstance(operation, keras.layers.BatchNormalization):
            if norm is not None:
                break
            norm = operation
        elif not isinstance(operation, NONLINEARITIES):
            break
        inputs = producer_inputs(operation.output)
        if len(inputs) != 1:
            break
        operation = producer(inputs[0])
    raise ValueError(
        f"{layer}: no convolution produces it through batch norm and nonlinearities only (met "
        f"{operation.name!r}, {type(operation).__name__})"
    )


def _weights(layer: keras.layers.Layer, name: str) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(getattr(layer, name)), dtype="float64")


def _kernel(conv: keras.layers.Layer) -> np.ndarray:
    """The kernel as ``[kh, kw, in, out]``, one output channel per last index."""
    if isinstance(conv, keras.layers.SeparableConv2D):
        return _weights(conv, "pointwise_kernel")
    kernel = _weights(conv, "kernel")
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        rows, columns, channels, multiplier = kernel.shape
        return kernel.reshape(rows, columns, 1, channels * multiplier)  # output channel c * m + k
    if isinstance(conv, keras.layers.Conv2DTranspose):
        return kernel.transpose(0, 1, 3, 2)
    if isinstance(conv, keras.layers.Dense):
        return kernel.reshape(1, 1, *kernel.shape)
    return kernel


def folded_kernel(model: keras.Model, layer: str) -> np.ndarray:
    """The kernel ``[kh, kw, in, out]`` of the convolution producing `layer`, its batch norm folded in.

    Raises:
        ValueError: no convolution produces the layer (`producing_layers`), or its batch norm does not
            act on the convolution's output channels.
    """
    conv, norm = producing_layers(model, layer)
    kernel = _kernel(conv)
    if norm is None:
        return kernel
    variance = _weights(norm, "moving_variance")
    if (
        norm.axis not in (-1, [-1], len(norm.input.shape) - 1, [len(norm.input.shape) - 1])
        or len(variance) != kernel.shape[-1]
    ):
        raise ValueError(
            f"{layer}: its batch norm {norm.name!r} does not act on the channels of {conv.name!r}"
        )
    scale = 1.0 / np.sqrt(variance + float(norm.epsilon))
    if getattr(norm, "gamma", None) is not None:
        scale = scale * _weights(norm, "gamma")
    return kernel * scale


def _sources(tensor: Any, catalogued: frozenset[str]) -> list[tuple[str, int]]:
    """(source, channels) feeding `tensor`, in channel order."""
    operation = producer(tensor)
    channels = int(tensor.shape[-1])
    if isinstance(operation, keras.layers.InputLayer):
        return [(IMAGE_SOURCE, channels)]
    if operation.name in catalogued:
        return [(operation.name, channels)]
    if isinstance(operation, keras.layers.Concatenate) and operation.axis in (-1, len(tensor.shape) - 1):
        return [part for inner in producer_inputs(tensor) for part in _sources(inner, catalogued)]
    inputs = producer_inputs(tensor)
    if isinstance(operation, _PASS_THROUGH) and len(inputs) == 1:
        return _sources(inputs[0], catalogued)
    return [(operation.name, channels)]  # a tensor mixing layers (Add, Multiply, ...): named by its operation


def input_sources(model: keras.Model, layer: str, catalogued: frozenset[str]) -> list[tuple[str, int]]:
    """Where each input channel of the convolution producing `layer` comes from: ``[(source, channel)]``.

    A source is a catalogued layer id (`catalogued`), ``image``, or the name of an operation that
    mixes several layers (a residual ``Add``): channel ``i`` of a sum has no single source layer.

    Raises:
        ValueError: the layer is depthwise or grouped (each output reads its own input channels, nothing
            to rank), or the graph's count disagrees with the kernel.
    """
    conv, _ = producing_layers(model, layer)
    if isinstance(conv, keras.layers.DepthwiseConv2D) or getattr(conv, "groups", 1) > 1:
        raise ValueError(
            f"{layer}: a depthwise or grouped convolution ({conv.name}) reads its own input channels only; "
            "there is no circuit to rank"
        )
    if isinstance(conv, keras.layers.SeparableConv2D):
        raise ValueError(
            f"{layer}: a separable convolution ({conv.name}) mixes channels after its depthwise part"
        )
    mapping = [(source, c) for source, count in _sources(conv.input, catalogued) for c in range(count)]
    inputs = _kernel(conv).shape[2]
    if len(mapping) != inputs:
        raise ValueError(f"{layer}: its kernel reads {inputs} channels, the graph gives {len(mapping)}")
    return mapping


_CATALOGUES: dict[int, list] = {}


def catalogue(model: keras.Model) -> list:
    """`visualizer.models.catalogue.discover_layers` of `model`, kept for this process."""
    from visualizer.models.catalogue import discover_layers

    if id(model) not in _CATALOGUES:
        if len(_CATALOGUES) >= 16:
            _CATALOGUES.pop(next(iter(_CATALOGUES)))
        _CATALOGUES[id(model)] = discover_layers(model)
    return _CATALOGUES[id(model)]


def reference_layer(model: keras.Model) -> tuple[str, str]:
    """The feature space of ``visual_change`` on a network other than InceptionV1, and why it: the first
    catalogued layer whose units are 16 input pixels apart (as InceptionV1's ``Mixed_4b``), else the
    layer in the middle of the catalogue.

    Raises:
        ValueError: the model has no catalogued layer.
    """
    layers = catalogue(model)
    if not layers:
        raise ValueError(f"model {model.name!r} has no convolution-like layer")
    for info in layers:
        if info.grid_stride is not None and info.grid_stride >= REFERENCE_STRIDE:
            return info.id, f"its first layer whose units are {REFERENCE_STRIDE} input pixels apart"
    return (
        layers[len(layers) // 2].id,
        f"the middle of its catalogue (no layer's units are {REFERENCE_STRIDE} input pixels apart)",
    )
