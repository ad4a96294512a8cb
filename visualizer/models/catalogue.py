"""The layer catalogue of any Keras model, read from its graph, and layer selections over it.

`discover_layers` lists every convolution-like layer of a functional model
(``Conv2D``, ``DepthwiseConv2D``, ``SeparableConv2D``, ``Conv2DTranspose``,
and with ``dense=True`` a ``Dense`` applied to a feature map, as ConvNeXt's
pointwise layers are) in graph order. Each is taken after its batch norm and
its nonlinearity where those follow directly (the layer's output feeds only
them): MobileNetV2's ``block_1_expand`` is catalogued as
``block_1_expand_relu``, with the convolution's and the batch norm's names as
aliases. A convolution with a nonlinearity of its own (VGG16's) is taken as it is.

The slim InceptionV1 of `visualizer.models.inception_v1` keeps its own
catalogue (`visualizer.models.layers`): the 57 layers, their aliases (slim
scope, frozen-graph op, short id) and the paper's order.

`select_layers` resolves what a plan asks for: ``"all"``, ``"every:N"``,
``"figure7"``, ``"figure6"`` (InceptionV1 only) or a list of names.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import keras

from visualizer.errors import VtlError
from visualizer.models import inception_v1
from visualizer.models import layers as slim_layers
from visualizer.models.flatten import has_nested_models, rebuild_flat
from visualizer.models.graph import calls_in_model, grid_geometry, producer
from visualizer.models.layers import (
    FIGURE7_COUNT,
    LayerSelectionError,
    UnknownLayerError,
    evenly_by_depth,
    every_nth,
)
from visualizer.models.saved import load_saved_model

__all__ = [
    "KINDS",
    "NONLINEARITIES",
    "SELECTORS",
    "LayerInfo",
    "LayerSelectionError",
    "ModelFileError",
    "catalogue_of_file",
    "discover_layers",
    "find_layer",
    "is_inception_v1",
    "load_model_file",
    "select_layers",
    "table_lines",
]

SELECTORS = ("all", "every:N", "figure7", "figure6")

# Convolution-like layer types and their kind, most specific first.
_CONVOLUTIONS: tuple[tuple[type, str], ...] = (
    (keras.layers.Conv2DTranspose, "transpose"),
    (keras.layers.SeparableConv2D, "separable"),
    (keras.layers.DepthwiseConv2D, "depthwise"),
    (keras.layers.Conv2D, "conv"),
)
KINDS = ("conv", "depthwise", "separable", "transpose", "dense")
NONLINEARITIES = (
    keras.layers.ReLU,
    keras.layers.Activation,
    keras.layers.LeakyReLU,
    keras.layers.PReLU,
    keras.layers.ELU,
)
"""Elementwise nonlinearity layer types: a catalogued layer is taken after them."""


class ModelFileError(VtlError, ValueError):
    """A file that Keras cannot load as a model."""


@dataclass(frozen=True)
class LayerInfo:
    """One catalogued layer of a model: what a render, a plan and a gallery page need to know.

    Attributes:
        id: the Keras name of the layer whose output is rendered (after the
            batch norm and nonlinearity that follow the convolution); for
            InceptionV1 the paper's id.
        aliases: every name that resolves to this layer, `id` first.
        kind: ``conv``, ``depthwise``, ``separable``, ``transpose`` or ``dense``.
        channels: output channels in this model.
        kernel: the convolution's kernel, (rows, columns).
        stride: the convolution's own stride, (rows, columns).
        receptive_field: side in input pixels of one unit's field; None where
            `visualizer.models.graph.grid_geometry` cannot follow the path
            (transposed convolutions, upsampling, non-square windows).
        grid_stride: input pixels between neighbouring units (None as above).
        graph_index: position in the catalogue's graph order (0-based).
        conv: the Keras name of the convolution (or dense) layer itself.
        paper_index: InceptionV1's position in the paper's order; None for
            other networks.
        block: InceptionV1's block (``Mixed_4c``, ``stem``); None for other networks.
    """

    id: str
    aliases: tuple[str, ...]
    kind: str
    channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    receptive_field: int | None
    grid_stride: int | None
    graph_index: int
    conv: str
    paper_index: int | None = None
    block: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The layer as JSON-ready values (tuples as lists)."""
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()
        }


def is_inception_v1(model: keras.Model) -> bool:
    """Whether `model` is (or contains by layer name) the slim InceptionV1 of `inception_v1.build`."""
    return inception_v1.has_base_network(model) and all(
        layer.id in {candidate.name for candidate in model.layers} for layer in slim_layers.LAYERS
    )


def _geometry(model: keras.Model, name: str) -> tuple[int | None, int | None]:
    """(receptive field, grid stride) of layer `name`, or Nones where the geometry cannot be followed."""
    try:
        geometry = grid_geometry(model, name)
    except ValueError:
        return None, None
    return geometry.field, geometry.stride


def _inception_catalogue(model: keras.Model) -> list[LayerInfo]:
    """The slim InceptionV1's 57 layers, with this model's channel counts, in graph order."""
    rows = []
    for layer in slim_layers.LAYERS:
        field, grid_stride = _geometry(model, layer.id)
        rows.append(
            LayerInfo(
                id=layer.id,
                aliases=layer.aliases,
                kind="conv",
                channels=int(model.get_layer(layer.id).output.shape[-1]),
                kernel=(layer.kernel, layer.kernel),
                stride=(layer.stride, layer.stride),
                receptive_field=field,
                grid_stride=grid_stride,
                graph_index=layer.graph_index,
                conv=f"{layer.id}_conv",
                paper_index=layer.paper_index,
                block=layer.block,
            )
        )
    return rows


def _kind(layer: keras.layers.Layer, dense: bool) -> str | None:
    """The catalogue kind of `layer`, or None when it is not convolution-like."""
    for cls, kind in _CONVOLUTIONS:
        if isinstance(layer, cls):
            groups = getattr(layer, "groups", 1)
            if kind == "conv" and groups > 1 and groups == layer.input.shape[-1]:
                return "depthwise"  # one filter per channel, as ConvNeXt writes its depthwise layers
            return kind
    if dense and isinstance(layer, keras.layers.Dense) and len(layer.output.shape) == 4:
        return "dense"
    return None


def _has_own_nonlinearity(layer: keras.layers.Layer) -> bool:
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", activation) != "linear"


def _is_nonlinearity(layer: keras.layers.Layer) -> bool:
    if not isinstance(layer, NONLINEARITIES):
        return False
    if isinstance(layer, keras.layers.Activation):
        name = getattr(layer.activation, "__name__", layer.activation)
        return name not in ("linear", "softmax", "log_softmax")
    return True


def _consumers(model: keras.Model) -> dict[int, list[keras.layers.Layer]]:
    """id(layer) -> the layer calls of `model` that read its output (one entry per call)."""
    readers: dict[int, list[keras.layers.Layer]] = {}
    for layer, inputs in calls_in_model(model):
        for tensor in inputs:
            readers.setdefault(id(producer(tensor)), []).append(layer)
    return readers


def _taken_after(
    conv: keras.layers.Layer, readers: dict[int, list[keras.layers.Layer]]
) -> list[keras.layers.Layer]:
    """The convolution, then its batch norm and nonlinearity where each alone reads the previous one."""
    chain = [conv]

    def only_reader(layer: keras.layers.Layer) -> keras.layers.Layer | None:
        found = readers.get(id(layer), [])
        return found[0] if len(found) == 1 else None

    if _has_own_nonlinearity(conv):
        return chain
    following = only_reader(conv)
    if isinstance(following, keras.layers.BatchNormalization):
        chain.append(following)
        following = only_reader(following)
    if following is not None and _is_nonlinearity(following):
        chain.append(following)
    return chain


def _pair(value: Any) -> tuple[int, int]:
    values = tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * 2
    return (values[0], values[-1])


def discover_layers(model: keras.Model, dense: bool = False) -> list[LayerInfo]:
    """The catalogue of `model`: every convolution-like layer, in graph order.

    Args:
        model: a functional Keras model. Nested models (a base called as one layer, a
            ``Sequential`` block) are listed by their own layers, as `rebuild_flat` names them.
        dense: also list ``Dense`` layers applied to a feature map (rank-4
            output), e.g. ConvNeXt's pointwise layers.

    Returns:
        One `LayerInfo` per layer, in the model's layer order (a topological
        order of its graph, as ``model.summary()`` lists it); for the slim
        InceptionV1 its own 57-layer catalogue (ids, aliases, paper order)
        with this model's channel counts.
    """
    if is_inception_v1(model):
        return _inception_catalogue(model)
    if has_nested_models(model):  # the graph `prepare_image_model` renders: nested models flattened
        model = rebuild_flat(model, copy_weights=False)
    elif isinstance(model, keras.Sequential):  # its graph, as a functional model over the same layers
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    readers = _consumers(model)
    rows: list[LayerInfo] = []
    for layer in model.layers:
        kind = _kind(layer, dense)
        if kind is None or len(layer.output.shape) != 4:
            continue
        chain = _taken_after(layer, readers)
        taken = chain[-1]
        field, grid_stride = _geometry(model, taken.name)
        kernel = (1, 1) if kind == "dense" else _pair(layer.kernel_size)
        stride = (1, 1) if kind == "dense" else _pair(layer.strides)
        rows.append(
            LayerInfo(
                id=taken.name,
                aliases=tuple(dict.fromkeys([taken.name, *(step.name for step in chain)])),
                kind=kind,
                channels=int(taken.output.shape[-1]),
                kernel=kernel,
                stride=stride,
                receptive_field=field,
                grid_stride=grid_stride,
                graph_index=len(rows),
                conv=layer.name,
            )
        )
    return rows


def _alias_table(catalogue: list[LayerInfo]) -> dict[str, LayerInfo]:
    table: dict[str, LayerInfo] = {}
    for entry in catalogue:
        for alias in entry.aliases:
            table.setdefault(alias, entry)
    for entry in catalogue:
        for alias in entry.aliases:
            table.setdefault(alias.lower(), entry)
    return table


def find_layer(catalogue: list[LayerInfo], name: str, source: str | None = None) -> LayerInfo:
    """The catalogued layer that `name` (its id or any alias, any case) names.

    Args:
        catalogue: a model's catalogue (`discover_layers`).
        name: a layer id or alias; Lucid's ``<op>:0`` tensor names are accepted.
        source: the model's name or file, for the message.

    Raises:
        UnknownLayerError: no layer has that name; the message gives up to
            five close matches (or the first ids when none is close).
    """
    table = _alias_table(catalogue)
    for candidate in (name, name.lower(), name.removesuffix(":0"), name.removesuffix(":0").lower()):
        if candidate in table:
            return table[candidate]
    lowered = {alias.lower(): entry.id for alias, entry in table.items()}
    close = list(
        dict.fromkeys(lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=10, cutoff=0.6))
    )[:5]
    where = f" of {source}" if source else ""
    error = UnknownLayerError(name, close)
    if close:
        error.args = (f"Unknown layer {name!r} in the catalogue{where}. Close matches: {', '.join(close)}.",)
    else:
        shown = ", ".join(entry.id for entry in catalogue[:12]) + (", ..." if len(catalogue) > 12 else "")
        error.args = (f"Unknown layer {name!r} in the catalogue{where}. Its layers: {shown or 'none'}.",)
    raise error


def select_layers(catalogue: list[LayerInfo], spec: object, source: str | None = None) -> list[LayerInfo]:
    """Resolve a plan's layer selector against a model's catalogue.

    Args:
        catalogue: the model's catalogue (`discover_layers`).
        spec: ``"all"`` (graph order); ``"every:N"`` (the Nth, 2Nth, ...
            layer in graph order); ``"figure7"`` (InceptionV1: the eight
            layers of the paper's figure 7; another network: eight layers
            evenly spaced by depth, the deepest of each eighth of the graph
            order, ending with the deepest layer); ``"figure6"`` (InceptionV1
            only: the six layers of figure 6); or a list of layer ids or
            aliases (kept in the given order, repeats dropped).
        source: the model's name or file, for messages.

    Returns:
        The selected layers.

    Raises:
        LayerSelectionError: an unknown selector, a selector that selects
            nothing, or ``"figure6"`` for a network other than InceptionV1.
        UnknownLayerError: a listed name is not in the catalogue (with close matches).
    """
    inception = bool(catalogue) and all(entry.paper_index is not None for entry in catalogue)
    if spec == "all":
        return list(catalogue)
    if isinstance(spec, str) and spec.startswith("every:"):
        return every_nth(catalogue, spec)
    if spec == "figure7":
        if inception:
            return [find_layer(catalogue, layer_id, source) for layer_id in slim_layers.FIGURE7_IDS]
        return evenly_by_depth(catalogue, FIGURE7_COUNT)
    if spec == "figure6":
        if not inception:
            where = f" {source}" if source else " this model"
            raise LayerSelectionError(
                f"Layers selector 'figure6' names layers of the paper's InceptionV1, and{where} is another "
                "network; valid here: all, every:N, figure7 or a list of layer names."
            )
        return [find_layer(catalogue, short, source) for short in slim_layers.FIGURE6_SHORT_IDS]
    if isinstance(spec, (list, tuple)) and spec and all(isinstance(name, str) for name in spec):
        chosen = [find_layer(catalogue, name, source) for name in spec]
        return list({entry.id: entry for entry in chosen}.values())
    raise LayerSelectionError(
        f"Invalid layers selector {spec!r}; valid: {', '.join(SELECTORS[:3])}, figure6 (InceptionV1 "
        "only) or a non-empty list of layer names."
    )


def load_model_file(path: str | os.PathLike) -> keras.Model:
    """Load a Keras model file (``.keras`` or ``.h5``) for its catalogue, without compiling it.

    Raises:
        FileNotFoundError: no file at `path`.
        ModelFileError: Keras cannot load it as a model (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No model file at {str(path)!r} (a .keras or .h5 file).")
    with open(path, "rb") as stream:
        head = stream.read(8)
    if not (head.startswith(b"PK\x03\x04") or head == b"\x89HDF\r\n\x1a\n"):
        raise ModelFileError(
            f"{str(path)!r} is not a Keras model file: it is neither a .keras archive (zip) nor an .h5 file."
        )
    try:
        return load_saved_model(path)
    except (ValueError, TypeError, OSError, KeyError) as error:
        raise ModelFileError(
            f"{str(path)!r} is not a Keras model file Keras can load (.keras or .h5): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
        ) from error


def catalogue_of_file(path: str | os.PathLike, dense: bool = False, order: str = "graph") -> list[LayerInfo]:
    """Load a model file and return its catalogue (what ``vtl layers --model PATH`` prints).

    Args:
        path: a ``.keras`` or ``.h5`` model file.
        dense: also list ``Dense`` layers applied to a feature map.
        order: ``"graph"``, or ``"paper"`` (InceptionV1 only: the paper's order).

    Raises:
        FileNotFoundError, ModelFileError: as `load_model_file`.
        LayerSelectionError: ``order="paper"`` for a network other than InceptionV1, or an unknown order.
    """
    if order not in ("graph", "paper"):
        raise LayerSelectionError(f"Unknown order {order!r}; valid: graph, paper.")
    rows = discover_layers(load_model_file(path), dense=dense)
    if order == "graph":
        return rows
    if not rows or any(row.paper_index is None for row in rows):
        raise LayerSelectionError(
            f"--order paper is the paper's InceptionV1 order, and {str(path)!r} is another network; "
            "valid here: --order graph."
        )
    return sorted(rows, key=lambda row: row.paper_index or 0)


def table_lines(rows: list[LayerInfo], order: str = "graph") -> list[str]:
    """A plain-text table of a catalogue, one line per layer, and a closing count."""
    header = ("#", "id", "kind", "channels", "kernel", "stride", "field", "aliases")
    table = [
        (
            str(index + 1),
            row.id,
            row.kind,
            str(row.channels),
            "x".join(map(str, row.kernel)),
            str(row.stride[0]) if row.stride[0] == row.stride[1] else "x".join(map(str, row.stride)),
            "-" if row.receptive_field is None else str(row.receptive_field),
            ", ".join(row.aliases[1:]),
        )
        for index, row in enumerate(rows)
    ]
    widths = [max(len(line[col]) for line in [header, *table]) for col in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip()
        for line in [header, *table]
    ]
    lines.append(f"{len(rows)} layers, {sum(row.channels for row in rows)} channels ({order} order)")
    return lines
