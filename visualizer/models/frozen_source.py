"""A config's ``frozen_graph`` source: its graph checked up front, its catalogue, and its Keras model.

The graph is refused whole before anything runs if any op is outside
`visualizer.models.frozen_graph.ALLOWED_OPS`, or if it has no node named by
the config's ``input``. Its catalogue lists each convolution op
(``Conv2D``, ``DepthwiseConv2dNative``, ``Conv2DBackpropInput``) taken after
the bias, batch norm and nonlinearity that alone read it, as the Keras
catalogue does (`visualizer.models.catalogue`); ids are the Keras-safe names
`output_layer_name` gives, aliases the op names.

The renderer's model of a layer (`layer_model`) ends, where the layer's op is
a ``Relu`` or ``Relu6``, in a ``<id>_pre_relu`` layer and a Keras ``ReLU``
named by the id, so the ``negative`` methods find the pre-ReLU values. A
transfer from a frozen graph (`frozen_parent_network`, `frozen_base`) holds
the graph with its weights as variables (`visualizer.models.frozen_trainable`);
its catalogue is the graph's, restricted to what its cut is computed from
(`transfer_catalogue`, `layer_catalogue`), and its layers render with its
trained weights (`trained_layer_model`). `graph_file_catalogue` is
``vtl layers --model <file>.pb``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from visualizer.config import Config, ModelConfig
from visualizer.errors import VtlError
from visualizer.models.catalogue import LayerInfo
from visualizer.models.frozen_graph import (
    FrozenGraph,
    FrozenGraphLayer,
    UnsafeGraphError,
    load_graph_def,
    output_layer_name,
)
from visualizer.models.frozen_trainable import ancestors

__all__ = [
    "PRE_RELU_SUFFIX",
    "FrozenInputError",
    "catalogue_within",
    "check_frozen_graph",
    "cut_entry",
    "frozen_base",
    "frozen_catalogue",
    "frozen_graph_of",
    "frozen_parent_network",
    "frozen_source_model",
    "graph_catalogue",
    "graph_file_catalogue",
    "has_relu",
    "layer_catalogue",
    "layer_model",
    "layers_without_relu",
    "trained_layer_model",
    "transfer_catalogue",
]

PRE_RELU_SUFFIX = "_pre_relu"
_RELUS = {"Relu": None, "Relu6": 6.0}

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
    return _read(path)


def _read(path: Path):  # noqa: ANN202 (a GraphDef)
    """The checked GraphDef of a file; every error names the file."""
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
    return graph_catalogue(_load(config, model), model.input, int(model.image_shape[-1]))


def graph_catalogue(graph_def: Any, input_name: str, channels: int = 3) -> list[LayerInfo]:
    """The catalogue of a frozen GraphDef: each convolution op taken after the ops that alone follow it.

    Args:
        graph_def: the graph (weights as constants, or as placeholders of a known shape).
        input_name: its image placeholder.
        channels: the image channels (where the placeholder does not say).
    """
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
    return _with_channels(graph_def, input_name, channels, rows)


def _with_channels(graph_def: Any, input_name: str, channels: int, rows: list[LayerInfo]) -> list[LayerInfo]:
    """The rows with channel counts and kernels read from the imported graph's static shapes."""
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, (None, None, None, int(channels)))
        tf.import_graph_def(graph_def, input_map={input_name.removesuffix(":0") + ":0": image}, name="g")
    out = []
    for row in rows:
        depth = graph.get_tensor_by_name(f"g/{row.aliases[1]}:0").shape[-1]
        kernel = graph.get_tensor_by_name(f"g/{row.conv}:0").op.inputs[1].shape
        out.append(
            dataclasses.replace(
                row, channels=int(depth or 0), kernel=(int(kernel[0] or 0), int(kernel[1] or 0))
            )
        )
    return _numbered([row for row in out if row.channels])


def _numbered(rows: list[LayerInfo]) -> list[LayerInfo]:
    return [dataclasses.replace(row, graph_index=index) for index, row in enumerate(rows)]


def catalogue_within(graph_def: Any, rows: list[LayerInfo], tensors: Sequence[str]) -> list[LayerInfo]:
    """The rows whose tensor `tensors` are computed from (a transfer's base cut at them), renumbered."""
    kept = ancestors(graph_def, tensors)
    return _numbered([row for row in rows if row.aliases[1] in kept])


def cut_entry(rows: list[LayerInfo], base_layer: str, source: str) -> LayerInfo:
    """Where a transfer cuts a frozen graph: `base_layer` (an id, op or tensor name), or its last layer.

    Raises:
        UnknownLayerError: no such layer (with close matches).
        NoChannelAxisError: the catalogue is empty.
    """
    from visualizer.models.catalogue import find_layer
    from visualizer.models.own import NoChannelAxisError

    if base_layer:
        return find_layer(rows, base_layer, source)
    if not rows:
        raise NoChannelAxisError(f"{source}: the frozen graph has no convolution to cut a transfer at.")
    return rows[-1]


def transfer_catalogue(config: Config, root: ModelConfig, base_layers: Sequence[str]) -> list[LayerInfo]:
    """The catalogue of a transfer (or a transfer of a transfer...) of the ``frozen_graph`` model `root`.

    Args:
        config: the experiment.
        root: the frozen graph model.
        base_layers: each transfer's ``base_layer``, from the root's child down.
    """
    graph_def = _load(config, root)
    rows = frozen_catalogue(config, root)
    source = f"model {root.name!r}"
    for base_layer in base_layers:
        entry = cut_entry(rows, base_layer, source)
        rows = catalogue_within(graph_def, rows, [entry.aliases[1]])
    return rows


def layer_model(make_layer: Callable[[list[str]], Any], graph_def: Any, entry: LayerInfo, channels: int):  # noqa: ANN201
    """A Keras model from images in [0, 1] to `entry`'s layer, named by its id, for the renderer.

    Where the layer's op is a ``Relu`` or ``Relu6``, the graph runs to the
    op's input, a layer named ``<id>_pre_relu`` outputs it, and a Keras
    ``ReLU`` named by the id applies the nonlinearity: the same values, and
    the pre-ReLU values the ``negative`` methods need
    (`visualizer.models.graph.pre_relu_layer`).

    Args:
        make_layer: builds the graph layer (frozen or trainable) computing the given tensors.
        graph_def: the graph.
        entry: the catalogue row.
        channels: the image channels.
    """
    import keras

    inputs = keras.Input((None, None, channels), name="images")
    node = _node(graph_def, entry.aliases[1])
    if node.op in _RELUS:
        pre = make_layer([node.input[0]])(inputs)[0]
        pre = keras.layers.Identity(name=f"{entry.id}{PRE_RELU_SUFFIX}")(pre)
        output = keras.layers.ReLU(max_value=_RELUS[node.op], name=entry.id)(pre)
    else:
        output = keras.layers.Identity(name=entry.id)(make_layer([entry.aliases[1]])(inputs)[0])
    return keras.Model(inputs, output, name="frozen_graph")


def has_relu(graph_def: Any, entry: LayerInfo) -> bool:
    """Whether `entry`'s op is a ``Relu`` or ``Relu6`` (so its pre-ReLU values can be rendered)."""
    return _node(graph_def, entry.aliases[1]).op in _RELUS


def layers_without_relu(config: Config, root: ModelConfig, ids: Sequence[str]) -> list[str]:
    """Those of the catalogue layers `ids` of a ``frozen_graph`` model whose op is no Relu or Relu6."""
    graph_def = _load(config, root)
    rows = {row.id: row for row in frozen_catalogue(config, root)}
    return [name for name in ids if name in rows and not has_relu(graph_def, rows[name])]


def _node(graph_def: Any, name: str):  # noqa: ANN202 (a NodeDef)
    for node in graph_def.node:
        if node.name == name:
            return node
    raise KeyError(f"No node {name!r} in the graph.")


def frozen_graph_of(config: Config, model: ModelConfig) -> FrozenGraph:
    """The checked `FrozenGraph` of a ``frozen_graph`` model, with its config's metadata."""
    check_frozen_graph(config, model)
    return FrozenGraph(
        _load(config, model),
        model.input.removesuffix(":0"),
        tuple(model.image_shape),
        tuple(model.image_value_range),
    )


def frozen_source_model(config: Config, model: ModelConfig, layer: str):  # noqa: ANN201 (a keras.Model)
    """(A Keras model from images in [0, 1] to `layer` of a ``frozen_graph`` model, the layer's id)."""
    from visualizer.models.catalogue import find_layer

    graph = frozen_graph_of(config, model)
    entry = find_layer(frozen_catalogue(config, model), layer, str(config.model_path(model)))

    def make(tensors: list[str]) -> FrozenGraphLayer:
        return FrozenGraphLayer(graph, tensors, name="frozen_graph")

    return layer_model(make, graph.graph_def, entry, int(model.image_shape[-1])), entry.id


def frozen_parent_network(config: Config, model: ModelConfig):  # noqa: ANN201 (a keras.Model)
    """A ``frozen_graph`` model as a transfer's parent: every catalogued layer, weights as variables."""
    import keras

    from visualizer.models.frozen_trainable import trainable_graph

    graph = frozen_graph_of(config, model)
    rows = frozen_catalogue(config, model)
    if not rows:
        raise FrozenInputError(
            f"{config.model_path(model)}: the frozen graph has no convolution to cut a transfer at "
            f"(model {model.name!r})."
        )
    layer = trainable_graph(graph, list(dict.fromkeys(row.aliases[1] for row in rows)))
    inputs = keras.Input((None, None, int(model.image_shape[-1])), name="images")
    outputs = [keras.layers.Identity(name=row.id)(out) for row, out in zip(rows, layer(inputs))]
    return keras.Model(inputs, outputs, name=model.name)


def layer_catalogue(layer: Any) -> list[LayerInfo]:
    """The catalogue of a `FrozenTrainableGraph`: its graph's layers that its outputs are computed from."""
    rows = _layer_rows(layer.graph_b64, layer.input_name, layer.channels)
    return catalogue_within(layer.graph_def, list(rows), layer.tensors)


@functools.lru_cache(maxsize=8)
def _layer_rows(graph_b64: str, input_name: str, channels: int) -> tuple[LayerInfo, ...]:
    import base64

    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(base64.b64decode(graph_b64))
    return tuple(graph_catalogue(graph_def, input_name, channels))


def frozen_base(parent: Any, base_layer: str = "", source: str = "the parent"):  # noqa: ANN201 (a keras.Model)
    """A transfer's base from a parent holding a `FrozenTrainableGraph`: cut at `base_layer`, weights copied.

    Raises:
        UnknownLayerError: `base_layer` is not in the parent's catalogue (with close matches).
    """
    import keras

    from visualizer.models.frozen_trainable import frozen_graph_in

    graph = frozen_graph_in(parent)
    entry = cut_entry(layer_catalogue(graph), base_layer, source)
    layer = graph.cut([entry.aliases[1]], name="frozen_graph")
    inputs = keras.Input((None, None, graph.channels), name="images")
    output = keras.layers.Identity(name=entry.id)(layer(inputs)[0])
    return keras.Model(inputs, output, name=parent.name)


def trained_layer_model(network: Any, layer: str, source: str):  # noqa: ANN201 (a keras.Model)
    """(The renderer's model for `layer` of a trained transfer of a frozen graph, the layer's id).

    The layer is computed by a copy of the network's graph layer with its trained weights.
    """
    from visualizer.models.catalogue import find_layer
    from visualizer.models.frozen_trainable import frozen_graph_in

    graph = frozen_graph_in(network)
    entry = find_layer(layer_catalogue(graph), layer, source)
    return layer_model(lambda tensors: graph.cut(tensors), graph.graph_def, entry, graph.channels), entry.id


def graph_file_catalogue(
    path: str | Path, input_name: str | None = None, order: str = "graph"
) -> list[LayerInfo]:
    """The catalogue of a ``.pb`` file (``vtl layers --model x.pb``), in graph order.

    Args:
        path: the GraphDef file.
        input_name: its image placeholder; None: the graph's only placeholder.
        order: ``"graph"`` (the paper's order is InceptionV1's, for the slim catalogue only).

    Raises:
        LayerSelectionError: another order.
        FileNotFoundError: no file.
        UnsafeGraphError: an op outside the allowlist (the message names the file).
        FrozenInputError: not a GraphDef, no such input, or several placeholders and no `input_name`
            (the message lists them).
    """
    from visualizer.models.layers import LayerSelectionError

    if order != "graph":
        raise LayerSelectionError(f"A frozen graph's catalogue is in graph order; received order {order!r}.")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No frozen graph at {str(path)!r} (a .pb file).")
    graph_def = _read(path)
    placeholders = [node for node in graph_def.node if node.op == "Placeholder"]
    names = [node.name for node in placeholders]
    if input_name is None:
        if len(placeholders) != 1:
            raise FrozenInputError(
                f"{path}: the graph has {len(placeholders)} placeholders ({', '.join(names) or 'none'}); "
                "name its image input with --input NAME."
            )
        input_name = names[0]
    input_name = input_name.removesuffix(":0")
    if input_name not in names:
        raise FrozenInputError(
            f"{path}: no input placeholder {input_name!r} in the graph; its placeholders: "
            f"{', '.join(names) or 'none'}."
        )
    shape = placeholders[names.index(input_name)].attr["shape"].shape
    dims = [int(dim.size) for dim in shape.dim]
    channels = dims[-1] if len(dims) == 4 and dims[-1] > 0 else 3
    return graph_catalogue(graph_def, input_name, channels)


def graph_path(config: Config, model: ModelConfig) -> Path:
    """The graph file of a ``frozen_graph`` model."""
    return config.model_path(model)
