"""Graph surgery on functional Keras models, and the only code that reads Keras internals.

- Layers: `layer_names`, `resolve_model_layer` (a catalogue alias or a Keras
  layer name to the model's layer), `pre_relu_layer` (the layer that feeds a
  ReLU, where a channel can go below zero).
- Truncation: `truncate` (the sub-model from the input to one layer) and
  `single_input`.
- Grid geometry: `grid_geometry` and `receptive_field` (where a layer's units
  look in the input image).
- The functional graph: `producer`, `producer_inputs`, `inbound_layers`,
  `calls_in_model` and `run_through_graph`.

Keras 3 has no public API for walking a functional graph, so the last five
read private attributes; nothing else in the project does:

- ``KerasTensor._keras_history``: ``(operation, node_index, tensor_index)``,
  the layer call that produced a symbolic tensor;
- ``Operation._inbound_nodes``: one ``Node`` per call of a layer, in call
  order (``Node.input_tensors``, ``Node.parent_nodes`` and ``Node.operation``
  are public);
- ``Functional._nodes``: the keys ``f"{id(layer)}_ib-{index}"`` of the calls
  that belong to a model's own graph (layers can be shared between models).
- ``Functional._run_through_graph``: Keras's walk of a functional graph,
  the one ``keras.models.clone_model`` runs.

``tests/models/test_graph.py`` checks each of them on the installed Keras and
names the attribute and the version when one changes
(``tests/models/test_nested_models.py`` covers ``_run_through_graph``).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import keras

from visualizer.models.layers import UnknownLayerError, resolve

__all__ = [
    "GridGeometry",
    "calls_in_model",
    "grid_geometry",
    "inbound_layers",
    "layer_names",
    "pre_relu_layer",
    "producer",
    "producer_inputs",
    "receptive_field",
    "resolve_model_layer",
    "run_through_graph",
    "single_input",
    "truncate",
]

# -- the Keras internals ----------------------------------------------------------------------


def producer(tensor: keras.KerasTensor) -> keras.Operation:
    """The layer (operation) whose call produced the symbolic tensor `tensor`."""
    return tensor._keras_history.operation


def producer_inputs(tensor: keras.KerasTensor) -> list[keras.KerasTensor]:
    """The symbolic input tensors of the layer call that produced `tensor`."""
    history = tensor._keras_history
    return list(history.operation._inbound_nodes[history.node_index].input_tensors)


def inbound_layers(layer: keras.Operation) -> list[keras.Operation]:
    """The layers whose outputs `layer` reads, over all its calls (in every model that shares it)."""
    return [node.operation for inbound in layer._inbound_nodes for node in inbound.parent_nodes]


def calls_in_model(model: keras.Model) -> Iterator[tuple[keras.Operation, list[keras.KerasTensor]]]:
    """Each call of a layer that belongs to `model`'s graph, with the call's input tensors.

    Layers can be shared with other models (a truncated model shares its
    layers with the full one); only the calls of this graph are yielded, a
    layer called twice in it twice, in `model.operations` order.
    """
    in_graph = model._nodes
    for layer in model.operations:
        for index, node in enumerate(layer._inbound_nodes):
            if f"{id(layer)}_ib-{index}" in in_graph:
                yield layer, list(node.input_tensors)


def run_through_graph(
    model: keras.Model,
    inputs: Any,
    operation_fn: Callable[[keras.Operation], Any],
    call_fn: Callable[..., Any],
) -> Any:
    """`model`'s functional graph replayed on `inputs`, in Keras's own graph order.

    Args:
        model: a functional Keras model.
        inputs: tensors in the structure of ``model.input``.
        operation_fn: maps each layer of the graph to the layer to call instead.
        call_fn: ``call_fn(layer, *args, **kwargs)`` makes each call.

    Returns:
        The outputs, in the structure of ``model.output``.
    """
    return model._run_through_graph(inputs, operation_fn=operation_fn, call_fn=call_fn)


# -- layers -----------------------------------------------------------------------------------


def layer_names(model: keras.Model) -> list[str]:
    """The names of `model`'s layers, in its order."""
    return [layer.name for layer in model.layers]


def resolve_model_layer(model: keras.Model, layer: str) -> str:
    """Find `layer` in `model`: a catalogue id or alias first, then a raw Keras layer name.

    Args:
        model: the Keras model.
        layer: any alias `visualizer.models.layers.resolve` knows, or a layer name.

    Returns:
        The Keras layer name.

    Raises:
        UnknownLayerError: naming the closest layer names of the model.
    """
    names = layer_names(model)
    try:
        entry_id = resolve(layer).id
    except UnknownLayerError:
        entry_id = None
    if entry_id is not None and entry_id in names:
        return entry_id
    if layer in names:
        return layer
    close = difflib.get_close_matches(layer, names, n=5, cutoff=0.5)
    error = UnknownLayerError(layer, close)
    if not close:
        shown = ", ".join(names[:30]) + (", ..." if len(names) > 30 else "")
        error.args = (f"Unknown layer {layer!r} in model {model.name!r}. Its layers: {shown}.",)
    raise error


def pre_relu_layer(model: keras.Model, layer: str) -> str:
    """The layer whose output feeds `layer`'s ReLU: where a channel can go below zero.

    For the slim InceptionV1 of `visualizer.models.inception_v1` that is the
    batch norm ``<id>_bn``; Lucid's ``*_pre_relu`` tensors play this part.

    Args:
        model: the Keras model.
        layer: a catalogue id or alias, or a raw layer name, of a ``ReLU``
            layer or an ``Activation("relu")`` layer.

    Returns:
        The Keras name of the layer that produces the ReLU's input.

    Raises:
        UnknownLayerError: the layer is not in the model.
        ValueError: the layer is not a separate ReLU (for example a
            convolution with ``activation="relu"`` built in, whose pre-ReLU
            values no layer outputs).
    """
    name = resolve_model_layer(model, layer)
    target = model.get_layer(name)
    is_relu = type(target) is keras.layers.ReLU or (
        type(target) is keras.layers.Activation
        and getattr(target.activation, "__name__", target.activation) == "relu"
    )
    if not is_relu:
        raise ValueError(
            f"Layer {name!r} of model {model.name!r} is a {type(target).__name__}, not a ReLU layer, so no "
            "layer holds its pre-ReLU values; name a ReLU or Activation('relu') layer."
        )
    return producer(target.input).name


# -- truncation -------------------------------------------------------------------------------


def single_input(model: keras.Model) -> keras.KerasTensor:
    """The input tensor of a model that takes one input.

    Raises:
        ValueError: the model takes several inputs.
    """
    if len(model.inputs) != 1:
        raise ValueError(f"The model must take one image input; {model.name!r} takes {len(model.inputs)}.")
    return model.inputs[0]


def truncate(model: keras.Model, layer: str) -> keras.Model:
    """The sub-model from the input to `layer`'s output (a Keras layer name).

    Layers are shared with `model`; only the path to `layer` is computed.

    Raises:
        ValueError: the model takes several inputs, or has no layer `layer`.
    """
    return keras.Model(single_input(model), model.get_layer(layer).output, name=f"{model.name}_to_{layer}")


# -- grid geometry ----------------------------------------------------------------------------

_WINDOWED = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling2D,
)
# Layers that move or resample the grid in ways a unit's window cannot follow here.
_UNSUPPORTED = (
    keras.layers.Conv2DTranspose,
    keras.layers.UpSampling2D,
    keras.layers.Cropping2D,
    keras.layers.Resizing,
)


@dataclass(frozen=True)
class GridGeometry:
    """Where the units of a layer look in the input image.

    Attributes:
        field: side of one unit's receptive field in input pixels.
        stride: input pixels between neighbouring units.
        offset: input coordinate of the centre of unit 0's field (pixel
            centres at 0, 1, ...; may be negative where padding is seen);
            unit j's centre is ``offset + j * stride``. None when no image
            size was given.
        cells: the layer's grid side for that image size (None without one).
    """

    field: int
    stride: int
    offset: float | None = None
    cells: int | None = None


def _padding_before(layer: keras.layers.Layer, cells: int, span: int) -> tuple[int, int]:
    """(padding before, output cells) of a windowed layer with window `span` over `cells` inputs."""
    step = layer.strides[0]
    if layer.padding == "same":
        out = -(-cells // step)
        return max((out - 1) * step + span - cells, 0) // 2, out
    return 0, (cells - span) // step + 1


def _joined(branches: list[tuple[int, int, float, int]], placed: bool) -> tuple[int, int, float, int]:
    """Where branches meet: the widest field, or with unit positions known, the union of the windows."""
    if len(branches) == 1 or not placed:
        return max(branches)
    low = min(offset - (field - 1) / 2 for field, _, offset, _ in branches)
    high = max(offset + (field - 1) / 2 for field, _, offset, _ in branches)
    stride = max(branch[1] for branch in branches)
    return int(round(high - low)) + 1, stride, (low + high) / 2, branches[0][3]


def _window_shape(layer: keras.layers.Layer) -> tuple[tuple, tuple, tuple]:
    """(kernel, strides, dilation) of a convolution or pooling layer."""
    kernel = getattr(layer, "kernel_size", None) or layer.pool_size
    return tuple(kernel), tuple(layer.strides), tuple(getattr(layer, "dilation_rate", (1, 1)))


def _check_square(layer: keras.layers.Layer) -> None:
    """Raise ValueError for a window, stride or padding that differs between rows and columns."""
    if isinstance(layer, _WINDOWED):
        pairs = list(_window_shape(layer))
    elif isinstance(layer, keras.layers.ZeroPadding2D):
        pairs = [tuple(layer.padding[0]), tuple(layer.padding[1])]
        pairs = [(pairs[0][0], pairs[1][0]), (pairs[0][1], pairs[1][1])]
    else:
        return
    if any(rows != columns for rows, columns in pairs):
        raise ValueError(
            f"Layer {layer.name!r} ({type(layer).__name__}) treats rows and columns differently; "
            "unit positions are computed for square windows, strides and padding only."
        )


def grid_geometry(model: keras.Model, layer: str, size: int | None = None) -> GridGeometry:
    """The receptive field, stride and (for a square input of `size` px) unit positions of `layer`.

    Walks the functional graph from the input: a convolution or pooling of
    kernel k, stride s and dilation d grows the field by ``(k - 1) * d``
    times the stride accumulated so far and shifts the units by its padding
    before them (TensorFlow's ``same`` padding puts the odd pixel after);
    where branches meet (Inception's concatenations), the widest field counts,
    or with `size` given, the union of the branches' windows (the same where
    every branch pads symmetrically). Nested models count as the layers
    inside them.

    Args:
        model: a functional Keras model.
        layer: the Keras name of a layer of `model`.
        size: the input's side in pixels, for `GridGeometry.offset` and
            `GridGeometry.cells`; None for the field and stride alone.

    Returns:
        A `GridGeometry`.

    Raises:
        ValueError: the path to `layer` has a layer that resamples the grid
            (transposed convolution, upsampling, cropping, resizing) or that
            treats rows and columns differently.
    """
    known: dict[int, tuple[int, int, float, int]] = {}

    def visit(target: keras.layers.Layer) -> tuple[int, int, float, int]:
        key = id(target)
        if key not in known:
            if isinstance(target, _UNSUPPORTED):
                raise ValueError(
                    f"Receptive fields through {type(target).__name__} layer {target.name!r} "
                    "are not supported."
                )
            parents = inbound_layers(target)
            field, stride, offset, cells = (1, 1, 0.0, size or 0)
            if parents:
                field, stride, offset, cells = _joined([visit(parent) for parent in parents], bool(size))
            _check_square(target)
            if isinstance(target, keras.Model):  # a nested model: its output's geometry, composed
                output = producer(target.outputs[0]).name
                inner = grid_geometry(target, output, cells or None)
                offset += (inner.offset or 0.0) * stride
                field += (inner.field - 1) * stride
                stride *= inner.stride
                cells = inner.cells or 0
            elif isinstance(target, _WINDOWED):
                kernel, _strides, dilation = _window_shape(target)
                span = (kernel[0] - 1) * dilation[0] + 1
                before, out = _padding_before(target, cells, span) if size else (0, 0)
                offset += ((span - 1) / 2 - before) * stride
                field += (span - 1) * stride
                stride *= target.strides[0]
                cells = out
            elif isinstance(target, keras.layers.ZeroPadding2D):
                (top, bottom), _ = target.padding
                offset -= top * stride
                cells += top + bottom
            known[key] = (field, stride, offset, cells)
        return known[key]

    field, stride, offset, cells = visit(model.get_layer(layer))
    return GridGeometry(field, stride, offset if size else None, cells if size else None)


def receptive_field(model: keras.Model, layer: str) -> tuple[int, int]:
    """The receptive field of one unit of `layer`, in input pixels (see `grid_geometry`).

    Args:
        model: a functional Keras model.
        layer: the Keras name of a layer of `model`.

    Returns:
        (field side, accumulated stride), both in pixels.

    Raises:
        ValueError: as `grid_geometry` (resampling layers, or windows,
            strides or padding that differ between rows and columns).
    """
    geometry = grid_geometry(model, layer)
    return geometry.field, geometry.stride
