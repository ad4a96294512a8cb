"""Weights with batch norm folded in: each channel's filter change, and its upstream channels (circuits).

A conv layer of the InceptionV1 is ``relu(bn(conv(x)))``; batch norm at
inference is an affine map per output channel, so it folds into the conv:
``W' = W * gamma / sqrt(var + eps)`` and ``b' = beta - mean * gamma / sqrt(var + eps)``.
`folded_kernel` returns ``W'``; `weight_change` compares a channel's ``W'``
in two models.

The upstream channels of a conv are the input channels of its kernel. Inside
an Inception block a conv reads the concatenation of the previous block's
branches (through a max pool for Branch_3), so input channel ``i`` maps to
one channel of one source layer; `input_sources` finds that map by walking
the model's graph, through pools and concatenations. `circuit` ranks the
upstream channels of one channel by the L2 norm of their kernel slice.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from visualizer.models.graph import producer, producer_inputs
from visualizer.models.layers import LAYERS

__all__ = [
    "IMAGE_SOURCE",
    "CircuitEdge",
    "circuit",
    "compare_circuits",
    "folded_kernel",
    "input_sources",
    "upstream_strengths",
    "weight_change",
]

IMAGE_SOURCE = "image"  # the source "layer" of the first conv's inputs: the R, G and B channels
_LAYER_IDS = frozenset(layer.id for layer in LAYERS)
_PASS_THROUGH = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D, keras.layers.Rescaling)


def _is_slim(model: keras.Model, layer: str) -> bool:
    """Whether `layer` is a slim InceptionV1 layer of `model` (named ``<layer>_conv``, ``<layer>_bn``)."""
    names = {candidate.name for candidate in model.layers}
    return layer in _LAYER_IDS and f"{layer}_conv" in names


def folded_kernel(model: keras.Model, layer: str) -> np.ndarray:
    """The kernel ``[kh, kw, in, out]`` of conv layer `layer` (a catalogue id) with its batch norm folded in.

    On another network the convolution producing the layer is found in the graph
    (`visualizer.analysis.producers.folded_kernel`).

    Raises:
        ValueError: the model lacks ``<layer>_conv`` or ``<layer>_bn``, or on another network no
            convolution produces the layer.
    """
    if layer not in _LAYER_IDS:
        from visualizer.analysis import producers

        return producers.folded_kernel(model, layer)
    try:
        conv, norm = model.get_layer(f"{layer}_conv"), model.get_layer(f"{layer}_bn")
    except ValueError as error:
        raise ValueError(f"model {model.name!r} has no conv and batch norm for layer {layer!r}") from error
    kernel = np.asarray(conv.get_weights()[0], dtype="float64")
    variance = np.asarray(keras.ops.convert_to_numpy(norm.moving_variance), dtype="float64")
    scale = 1.0 / np.sqrt(variance + float(norm.epsilon))
    if getattr(norm, "gamma", None) is not None:
        scale = scale * np.asarray(keras.ops.convert_to_numpy(norm.gamma), dtype="float64")
    return kernel * scale


def weight_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """``[out]``: the relative L2 change ``|W'_after - W'_before| / |W'_before|`` of each output channel's
    folded filter (inf where the filter before is all zero and changed)."""
    if before.shape != after.shape:
        raise ValueError(f"kernels of shapes {before.shape} and {after.shape} cannot be compared")
    axes = tuple(range(before.ndim - 1))
    change = np.sqrt(((after - before) ** 2).sum(axis=axes))
    base = np.sqrt((before**2).sum(axis=axes))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(base > 0, change / np.where(base > 0, base, 1.0), np.where(change > 0, np.inf, 0.0))


def _sources(tensor: keras.KerasTensor) -> list[tuple[str, int]]:
    """(source layer, channels) feeding `tensor`, in channel order."""
    operation = producer(tensor)
    if isinstance(operation, keras.layers.InputLayer):
        return [(IMAGE_SOURCE, int(tensor.shape[-1]))]
    if operation.name in _LAYER_IDS:  # the ReLU output of a conv layer
        return [(operation.name, int(tensor.shape[-1]))]
    if isinstance(operation, keras.layers.Concatenate):
        return [part for inner in producer_inputs(tensor) for part in _sources(inner)]
    if isinstance(operation, _PASS_THROUGH):
        (inner,) = producer_inputs(tensor)
        return _sources(inner)
    raise ValueError(f"cannot follow the channels of {operation.name!r} ({type(operation).__name__})")


def input_sources(model: keras.Model, layer: str) -> list[tuple[str, int]]:
    """Where each input channel of conv layer `layer` comes from: ``[(source layer, channel), ...]``,
    one entry per input channel of its kernel; ``image`` for the network's input.

    Raises:
        ValueError: the graph has an operation between convs that is not a pool or a concatenation,
            or the count disagrees with the kernel.
    """
    conv = model.get_layer(f"{layer}_conv")
    spans = _sources(conv.input)
    mapping = [(source, channel) for source, count in spans for channel in range(count)]
    inputs = int(conv.get_weights()[0].shape[2])
    if len(mapping) != inputs:
        raise ValueError(f"{layer}: its kernel reads {inputs} channels, the graph gives {len(mapping)}")
    return mapping


def upstream_strengths(kernel: np.ndarray) -> np.ndarray:
    """``[in, out]``: the L2 norm of each input channel's kernel slice for each output channel."""
    return np.sqrt((np.asarray(kernel, dtype="float64") ** 2).sum(axis=(0, 1)))


@dataclass(frozen=True)
class CircuitEdge:
    """One upstream channel of a channel, before and after transfer.

    Attributes:
        source_layer: the upstream layer id (``image`` for the RGB input).
        source_channel: its channel.
        weight_before: L2 norm of the folded kernel slice before transfer.
        weight_after: the same after.
        rank_before: 1 for the strongest input before transfer.
        rank_after: the same after.
    """

    source_layer: str
    source_channel: int
    weight_before: float
    weight_after: float
    rank_before: int
    rank_after: int


def _ranks(strengths: np.ndarray) -> np.ndarray:
    """1-based ranks, strongest first; ties broken by input index."""
    order = np.argsort(-strengths, kind="stable")
    ranks = np.empty(len(strengths), dtype=int)
    ranks[order] = np.arange(1, len(strengths) + 1)
    return ranks


def compare_circuits(
    sources: list[tuple[str, int]], before: np.ndarray, after: np.ndarray, channel: int, top: int = 8
) -> list[CircuitEdge]:
    """The union of the `top` strongest inputs of `channel` before and after, ordered by rank before.

    Args:
        sources: `input_sources` of the layer.
        before: ``[in, out]`` `upstream_strengths` before transfer.
        after: the same after.
        channel: the output channel.
        top: inputs kept from each side.
    """
    first, second = before[:, channel], after[:, channel]
    rank_first, rank_second = _ranks(first), _ranks(second)
    keep = np.nonzero((rank_first <= top) | (rank_second <= top))[0]
    keep = keep[np.argsort(rank_first[keep], kind="stable")]
    return [
        CircuitEdge(
            sources[i][0],
            sources[i][1],
            float(first[i]),
            float(second[i]),
            int(rank_first[i]),
            int(rank_second[i]),
        )
        for i in keep
    ]


def circuit(
    before: keras.Model, after: keras.Model, layer: str, channels: list[int], top: int = 8
) -> dict[int, list[CircuitEdge]]:
    """`compare_circuits` of each of `channels` of conv layer `layer` in two models of one architecture.

    On another network than InceptionV1 the inputs are found in its graph
    (`visualizer.analysis.producers.input_sources`).

    Raises:
        ValueError: the layer's inputs cannot be followed, or it is depthwise (nothing to rank).
    """
    if _is_slim(before, layer):
        sources = input_sources(before, layer)
    else:
        from visualizer.analysis import producers

        catalogued = frozenset(info.id for info in producers.catalogue(before))
        sources = producers.input_sources(before, layer, catalogued)
    first = upstream_strengths(folded_kernel(before, layer))
    second = upstream_strengths(folded_kernel(after, layer))
    if first.shape != second.shape:
        raise ValueError(f"{layer}: kernels of {first.shape} and {second.shape} inputs x outputs differ")
    return {channel: compare_circuits(sources, first, second, channel, top) for channel in channels}
