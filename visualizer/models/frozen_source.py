"""A config's ``frozen_graph`` source: its graph checked up front, its catalogue, and its Keras model.

The graph is refused whole before anything runs if any op is outside
`visualizer.models.frozen_graph.ALLOWED_OPS`, or if it has no node named by
the config's ``input``. Its catalogue lists each convolution op
(``Conv2D``, ``DepthwiseConv2dNative``, ``Conv2DBackpropInput``) taken after
the bias, batch norm and nonlinearity that alone read it, as the Keras
catalogue does (`visualizer.models.catalogue`); ids are the Keras-safe names
`output_layer_name` gives, aliases the op names.
"""

from __future__ import annotations

import functools
from pathlib import Path

from visualizer.config import Config, ModelConfig
from visualizer.errors import VtlError
from visualizer.models.catalogue import LayerInfo
from visualizer.models.frozen_graph import (
    FrozenGraph,
    UnsafeGraphError,
    frozen_graph_model,
    load_graph_def,
    output_layer_name,
)

__all__ = ["FrozenInputError", "check_frozen_graph", "frozen_catalogue", "frozen_source_model"]

_CONVOLUTIONS = {"Conv2D": "conv", "DepthwiseConv2dNative": "depthwise", "Conv2DBackpropInput": "transpose"}
# Ops taken after a convolution where they alone read it: bias, batch norm (fused or Mul/Add), nonlinearity.
_FOLLOWERS = (
    "BiasAdd",
    "Add",
    "AddV2",
    "Sub",
    "Mul",
    "FusedBatchNorm",
    "FusedBatchNormV3",
    "Relu",
    "Relu6",
    "Elu",
)


class FrozenInputError(VtlError, ValueError):
    """A frozen graph without the input the config names."""


@functools.lru_cache(maxsize=4)
def _graph(path: str, stamp: int):  # noqa: ANN202 (a GraphDef)
    return load_graph_def(path)


def _load(config: Config, model: ModelConfig):  # noqa: ANN202 (a GraphDef)
    path = config.model_path(model)
    if not path.is_file():
        raise FileNotFoundError(f"No frozen graph at {str(path)!r} (model {model.name!r}: path, a .pb file).")
    try:
        return _graph(str(path), path.stat().st_mtime_ns)
    except UnsafeGraphError as error:
        error.args = (f"{path}: {error.args[0]}",)  # the message names the file
        raise
    except Exception as error:  # protobuf's DecodeError has no common base with the others
        if isinstance(error, VtlError):
            raise
        raise FrozenInputError(f"{str(path)!r} is not a frozen TF1 GraphDef (.pb): {error}") from error


def check_frozen_graph(config: Config, model: ModelConfig) -> None:
    """Read and check `model`'s graph: allowed ops only, and a node named by ``input``.

    Raises:
        FileNotFoundError: no file at the path.
        UnsafeGraphError: an op outside the allowlist.
        FrozenInputError: not a GraphDef, or no node named ``input`` (the message lists the placeholders).
    """
    graph_def = _load(config, model)
    names = {node.name for node in graph_def.node}
    wanted = model.input.removesuffix(":0")
    if wanted not in names:
        placeholders = [node.name for node in graph_def.node if node.op == "Placeholder"]
        raise FrozenInputError(
            f"{config.model_path(model)}: no input {model.input!r} in the graph (model {model.name!r}); "
            f"its placeholders: {', '.join(placeholders) or 'none'}."
        )


def frozen_catalogue(config: Config, model: ModelConfig) -> list[LayerInfo]:
    """The catalogue of a ``frozen_graph`` model, in the graph's node order."""
    graph_def = _load(config, model)
    readers: dict[str, list] = {}
    for node in graph_def.node:
        for source in node.input:
            readers.setdefault(source.lstrip("^").split(":")[0], []).append(node)
    rows: list[LayerInfo] = []
    for node in graph_def.node:
        kind = _CONVOLUTIONS.get(node.op)
        if kind is None:
            continue
        chain = [node]
        while True:
            found = readers.get(chain[-1].name, [])
            if len(found) != 1 or found[0].op not in _FOLLOWERS:
                break
            chain.append(found[0])
        taken = chain[-1].name
        strides = list(node.attr["strides"].list.i) or [1, 1, 1, 1]
        rows.append(
            LayerInfo(
                id=output_layer_name(taken),
                aliases=tuple(
                    dict.fromkeys([output_layer_name(taken), *(step.name for step in reversed(chain))])
                ),
                kind=kind,
                channels=0,
                kernel=(0, 0),
                stride=(int(strides[1]), int(strides[2])),
                receptive_field=None,
                grid_stride=None,
                graph_index=len(rows),
                conv=node.name,
            )
        )
    return _with_channels(config, model, rows)


def _with_channels(config: Config, model: ModelConfig, rows: list[LayerInfo]) -> list[LayerInfo]:
    """The rows with channel counts and kernels read from the imported graph's static shapes."""
    import dataclasses

    import tensorflow as tf

    graph_def = _load(config, model)
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (None, None, None, int(model.image_shape[-1])))
        tf.import_graph_def(graph_def, input_map={model.input.removesuffix(":0") + ":0": image}, name="g")
    out = []
    for row in rows:
        channels = graph.get_tensor_by_name(f"g/{row.aliases[1]}:0").shape[-1]
        kernel = graph.get_tensor_by_name(f"g/{row.conv}:0").op.inputs[1].shape
        out.append(
            dataclasses.replace(
                row, channels=int(channels or 0), kernel=(int(kernel[0] or 0), int(kernel[1] or 0))
            )
        )
    return [row for row in out if row.channels]


def frozen_source_model(config: Config, model: ModelConfig, layer: str):  # noqa: ANN201 (a keras.Model)
    """(A Keras model from images in [0, 1] to `layer` of a ``frozen_graph`` model, the layer's id)."""
    check_frozen_graph(config, model)
    from visualizer.models.catalogue import find_layer

    entry = find_layer(frozen_catalogue(config, model), layer, str(config.model_path(model)))
    graph = FrozenGraph(
        _load(config, model),
        model.input.removesuffix(":0"),
        tuple(model.image_shape),
        tuple(model.image_value_range),
    )
    return frozen_graph_model(graph, [entry.aliases[1]]), entry.id


def graph_path(config: Config, model: ModelConfig) -> Path:
    """The graph file of a ``frozen_graph`` model."""
    return config.model_path(model)
