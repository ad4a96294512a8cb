"""A frozen TF1 graph with trainable weights: the base of a transfer from a ``frozen_graph`` parent.

A frozen graph holds its weights as constants. `trainable_graph` finds them
(`find_weights`: float constants of two or more elements that feed, through
identity-like ops, a convolution's filter, a matrix product, a bias, a batch
norm, or the elementwise form of a batch norm applied to a feature map),
turns each into a placeholder of the same dtype and shape, and returns a
`FrozenTrainableGraph` layer whose variables hold the constants' values and
are fed to those placeholders. Everything else runs exactly as in the
frozen graph (inference-mode batch norms included), so before training the
layer computes the frozen graph's values. Batch-norm statistics (a fused
batch norm's mean and variance, and constants on the path to an unfused batch
norm's ``Rsqrt``) are non-trainable variables; they are never updated, as
the graph's batch norms are in inference form.

The layer saves with Keras: its config holds the GraphDef with the weights
stripped (placeholders instead), the weights go to the Keras weights file, so
a ``model.keras`` snapshot loads without the original ``.pb`` (once this
module is imported, which registers the layer). The allowlist
(`visualizer.models.frozen_graph.ALLOWED_OPS`) is checked whenever a layer is
built, from a graph or from a saved config. TensorFlow backend only.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from visualizer.models.frozen_graph import (
    REDIRECT_GRADIENT,
    FrozenGraph,
    check_graph_def,
    register_redirected_gradient,
    tensor_name,
)

__all__ = [
    "FrozenTrainableGraph",
    "RedirectedFrozenGraph",
    "WeightSpec",
    "ancestors",
    "find_weights",
    "frozen_graph_in",
    "trainable_graph",
]

# Ops a weight passes through unchanged on its way to where it is used.
_PASS = {"Identity", "Reshape", "Squeeze", "ExpandDims", "Cast", "Snapshot", "Transpose"}
# Ops whose inputs at these positions are weights, and those that are batch-norm statistics.
_WEIGHT_INPUTS = {
    "Conv2D": {1},
    "Conv3D": {1},
    "DepthwiseConv2dNative": {1},
    "Conv2DBackpropInput": {1},
    "FusedPadConv2D": {2},
    "FusedResizeAndPadConv2D": {3},
    "MatMul": {0, 1},
    "BatchMatMul": {0, 1},
    "BatchMatMulV2": {0, 1},
    "BatchMatMulV3": {0, 1},
    "BiasAdd": {1},
    "BiasAddV1": {1},
    "FusedBatchNorm": {1, 2, 3, 4},
    "FusedBatchNormV2": {1, 2, 3, 4},
    "FusedBatchNormV3": {1, 2, 3, 4},
    "BatchNormWithGlobalNormalization": {1, 2, 3, 4},
}
_STATISTICS = {
    "FusedBatchNorm": {3, 4},
    "FusedBatchNormV2": {3, 4},
    "FusedBatchNormV3": {3, 4},
    "BatchNormWithGlobalNormalization": {1, 2},
}
# The elementwise form of a batch norm (Keras exports): a constant reaching one of these ops whose other
# operand comes from a convolution is a weight; one whose path went through a root is a variance.
_AFFINE = {"Mul", "Add", "AddV2", "Sub", "RealDiv", "Div", "Rsqrt", "Sqrt", "Reciprocal"}
_ROOTS = {"Rsqrt", "Sqrt", "Reciprocal"}
_PRODUCTS = {op for op, positions in _WEIGHT_INPUTS.items() if "Norm" not in op and "Bias" not in op}


@dataclass(frozen=True)
class WeightSpec:
    """One constant of a frozen graph that becomes a variable.

    Attributes:
        node: the constant's node name in the graph.
        shape: its shape.
        dtype: its dtype name (``"float32"``).
        trainable: False for batch-norm statistics.
    """

    node: str
    shape: tuple[int, ...]
    dtype: str
    trainable: bool


def _source(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _readers(graph_def: Any) -> dict[str, list[tuple[Any, int]]]:
    """For each node name, the (node, input position) of every data input that reads it."""
    readers: dict[str, list[tuple[Any, int]]] = {}
    for node in graph_def.node:
        for position, name in enumerate(node.input):
            if not name.startswith("^"):
                readers.setdefault(_source(name), []).append((node, position))
    return readers


def ancestors(graph_def: Any, tensors: Sequence[str]) -> set[str]:
    """The names of the nodes `tensors` are computed from, their own nodes included (data inputs only)."""
    nodes = {node.name: node for node in graph_def.node}
    seen: set[str] = set()
    stack = [_source(tensor) for tensor in tensors]
    while stack:
        name = stack.pop()
        if name in seen or name not in nodes:
            continue
        seen.add(name)
        stack.extend(_source(source) for source in nodes[name].input if not source.startswith("^"))
    return seen


def _after_products(graph_def: Any, readers: dict[str, list[tuple[Any, int]]]) -> set[str]:
    """Nodes that read, directly or not, the output of a convolution or matrix product."""
    stack = [node.name for node in graph_def.node if node.op in _PRODUCTS]
    seen: set[str] = set()
    while stack:
        name = stack.pop()
        for reader, _ in readers.get(name, []):
            if reader.name not in seen:
                seen.add(reader.name)
                stack.append(reader.name)
    return seen | {node.name for node in graph_def.node if node.op in _PRODUCTS}


def _role(start: str, readers: dict, after: set[str]) -> str | None:
    """How the constant `start` is used: ``"weight"``, ``"statistic"``, or None (not a weight)."""
    roles: set[str] = set()
    stack, seen = [(start, False)], set()
    while stack:
        name, through_root = stack.pop()
        if (name, through_root) in seen:
            continue
        seen.add((name, through_root))
        for reader, position in readers.get(name, []):
            if reader.op in _PASS:
                stack.append((reader.name, through_root))
            elif position in _WEIGHT_INPUTS.get(reader.op, ()):
                statistic = position in _STATISTICS.get(reader.op, ())
                roles.add("statistic" if statistic else "weight")
            elif reader.op in _AFFINE:
                others = [_source(s) for i, s in enumerate(reader.input) if i != position and s[0] != "^"]
                if any(other in after for other in others):
                    roles.add("statistic" if through_root else "weight")
                else:
                    stack.append((reader.name, through_root or reader.op in _ROOTS))
    if not roles:
        return None
    return "weight" if "weight" in roles else "statistic"


def find_weights(graph_def: Any) -> list[WeightSpec]:
    """The constants of `graph_def` that are the network's weights, in the graph's node order.

    A weight is a float constant with at least two elements that feeds
    (through identity, reshape, squeeze, cast or transpose ops) a
    convolution's filter, a matrix product, a bias, a batch norm, or an
    elementwise op (``Mul``, ``Add``, ``Sub``...) whose other operand comes
    from a convolution or matrix product (a batch norm in elementwise form).
    Batch-norm means and variances are marked not trainable.
    """
    import tensorflow as tf

    readers = _readers(graph_def)
    after = _after_products(graph_def, readers)
    specs = []
    for node in graph_def.node:
        if node.op != "Const":
            continue
        tensor = node.attr["value"].tensor
        dtype = tf.dtypes.as_dtype(tensor.dtype)
        if not dtype.is_floating:
            continue
        shape = tuple(int(dim.size) for dim in tensor.tensor_shape.dim)
        if int(np.prod(shape, dtype=np.int64)) < 2:
            continue
        role = _role(node.name, readers, after)
        if role is not None:
            specs.append(WeightSpec(node.name, shape, dtype.name, role == "weight"))
    return specs


def _stripped(graph_def: Any, specs: Sequence[WeightSpec]) -> tuple[Any, list[np.ndarray]]:
    """A copy of `graph_def` with each weight constant replaced by a placeholder, and the weights' values."""
    import tensorflow as tf

    copy = tf.compat.v1.GraphDef()
    copy.CopyFrom(graph_def)
    wanted = {spec.node for spec in specs}
    values: dict[str, np.ndarray] = {}
    for node in copy.node:
        if node.name not in wanted:
            continue
        values[node.name] = tf.make_ndarray(node.attr["value"].tensor)
        dtype = node.attr["dtype"].type
        shape = node.attr["value"].tensor.tensor_shape
        node.op = "Placeholder"
        node.ClearField("attr")
        node.attr["dtype"].type = dtype
        node.attr["shape"].shape.CopyFrom(shape)
    return copy, [values[spec.node] for spec in specs]


def _pruned(graph_def: Any, tensors: Sequence[str]) -> Any:
    """`graph_def` reduced to the nodes `tensors` are computed from (control inputs to others dropped)."""
    import tensorflow as tf

    kept = ancestors(graph_def, tensors)
    pruned = tf.compat.v1.GraphDef()
    pruned.versions.CopyFrom(graph_def.versions)
    pruned.library.CopyFrom(graph_def.library)
    for node in graph_def.node:
        if node.name in kept:
            copy = pruned.node.add()
            copy.CopyFrom(node)
            del copy.input[:]
            copy.input.extend(name for name in node.input if not name.startswith("^") or name[1:] in kept)
    return pruned


def _variable_names(specs: Sequence[WeightSpec]) -> list[str]:
    """Keras-safe, distinct variable names for the weights (Keras refuses ``/`` in a name)."""
    names: list[str] = []
    taken: set[str] = set()
    for spec in specs:
        name = re.sub(r"[^A-Za-z0-9_]", "_", spec.node)
        while name in taken:
            name += "_"
        taken.add(name)
        names.append(name)
    return names


@keras.saving.register_keras_serializable(package="visualizer")
class FrozenTrainableGraph(keras.layers.Layer):
    """Runs a frozen graph (weights stripped) from images in [0, 1] to `tensors`, weights as variables.

    Build one with `trainable_graph`; the constructor takes the saved form.

    Args:
        graph: the GraphDef with its weights replaced by placeholders, serialized and base64-encoded.
        tensors: tensor names to return.
        weights_spec: one ``[node, shape, dtype, trainable]`` per weight, in the order of `values`.
        input_name: the image placeholder.
        image_value_range: images in [0, 1] are mapped to ``lo + x * (hi - lo)``.
        is_bgr: reverse the colour channels first.
        channels: the image channels.
        values: the weights' initial values (None: zeros, as when Keras loads a saved model and
            then sets the weights from its weights file).
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(
        self,
        graph: str,
        tensors: Sequence[str],
        weights_spec: Sequence[Sequence[Any]],
        input_name: str = "input",
        image_value_range: Sequence[float] = (-1.0, 1.0),
        is_bgr: bool = False,
        channels: int = 3,
        values: Sequence[np.ndarray] | None = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        import tensorflow as tf

        self.graph_b64 = graph
        self.graph_def = tf.compat.v1.GraphDef.FromString(base64.b64decode(graph))
        check_graph_def(self.graph_def)
        self.tensors = [tensor_name(t) for t in tensors]
        self.specs = [
            WeightSpec(str(n), tuple(int(d) for d in s), str(t), bool(r)) for n, s, t, r in weights_spec
        ]
        self.input_name = input_name
        self.image_value_range = (float(image_value_range[0]), float(image_value_range[1]))
        self.is_bgr = bool(is_bgr)
        self.channels = int(channels)
        self.graph_variables = []
        for index, (spec, name) in enumerate(zip(self.specs, _variable_names(self.specs))):
            initial = values[index] if values is not None else None
            self.graph_variables.append(
                self.add_weight(
                    shape=spec.shape,
                    dtype=spec.dtype,
                    name=name,
                    trainable=spec.trainable,
                    initializer=keras.initializers.Constant(initial) if initial is not None else "zeros",
                )
            )
        self._functions: dict[bool, Any] = {}
        self.built = True

    def _function(self, redirect: bool):  # noqa: ANN202 (a TensorFlow concrete function)
        if redirect not in self._functions:
            import tensorflow as tf

            if redirect:
                register_redirected_gradient()
            overrides = {"Relu": REDIRECT_GRADIENT} if redirect else {}
            nodes = [spec.node for spec in self.specs]

            def imported(images, *weights):  # noqa: ANN001, ANN202
                input_map = {tensor_name(self.input_name): images}
                input_map.update({f"{node}:0": weight for node, weight in zip(nodes, weights)})
                with tf.compat.v1.get_default_graph().gradient_override_map(overrides):
                    return tf.import_graph_def(
                        self.graph_def, input_map=input_map, return_elements=self.tensors, name="frozen"
                    )

            specs = [tf.TensorSpec((None, None, None, self.channels), tf.float32)]
            specs += [tf.TensorSpec(spec.shape, spec.dtype) for spec in self.specs]
            self._functions[redirect] = tf.compat.v1.wrap_function(imported, specs)
        return self._functions[redirect]

    def run(self, images: Any, redirect: bool = False) -> list[Any]:
        """The graph's `tensors` for images in [0, 1], its weights the layer's (redirect: Lucid's Relu)."""
        import tensorflow as tf

        lo, hi = self.image_value_range
        if self.is_bgr:
            images = images[..., ::-1]
        weights = [tf.convert_to_tensor(variable.value) for variable in self.graph_variables]
        return list(self._function(redirect)(lo + images * (hi - lo), *weights))

    def call(self, images: Any) -> list[Any]:
        return self.run(images)

    def compute_output_spec(self, images: Any) -> list[keras.KerasTensor]:
        outputs = []
        graph = self._function(False).graph
        for tensor in self.tensors:
            shape = graph.get_tensor_by_name("frozen/" + tensor).shape
            rank = 4 if shape.rank is None else shape.rank
            channels = shape[-1] if shape.rank else None
            outputs.append(keras.KerasTensor((None,) * (rank - 1) + (channels,), dtype="float32"))
        return outputs

    def with_redirected_relu(self) -> RedirectedFrozenGraph:
        """This layer, its variables shared, with Lucid's redirected Relu gradient (for the renderer)."""
        return RedirectedFrozenGraph(self, name=self.name)

    def cut(self, tensors: Sequence[str], name: str | None = None) -> FrozenTrainableGraph:
        """A new layer computing `tensors` of this graph, pruned to what they need, with this layer's weights.

        The weights are copied (their current values): training the new layer leaves this one as it is.
        """
        graph_def = _pruned(self.graph_def, tensors)
        kept = {node.name for node in graph_def.node}
        indices = [index for index, spec in enumerate(self.specs) if spec.node in kept]
        config = {
            **self.get_config(),
            "graph": base64.b64encode(graph_def.SerializeToString()).decode("ascii"),
            "tensors": list(tensors),
            "weights_spec": [self.get_config()["weights_spec"][index] for index in indices],
            "name": name or self.name,
        }
        layer = FrozenTrainableGraph.from_config(config)
        for target, index in zip(layer.graph_variables, indices):
            target.assign(self.graph_variables[index].value)
        return layer

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FrozenTrainableGraph:
        """The layer of a saved config; its graph is checked against the allowlist first."""
        import tensorflow as tf

        check_graph_def(tf.compat.v1.GraphDef.FromString(base64.b64decode(config["graph"])))
        return super().from_config(config)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "graph": self.graph_b64,
            "tensors": list(self.tensors),
            "weights_spec": [[s.node, list(s.shape), s.dtype, s.trainable] for s in self.specs],
            "input_name": self.input_name,
            "image_value_range": list(self.image_value_range),
            "is_bgr": self.is_bgr,
            "channels": self.channels,
        }


class RedirectedFrozenGraph(keras.layers.Layer):
    """A `FrozenTrainableGraph` run with Lucid's redirected Relu gradient, its variables shared."""

    def __init__(self, inner: FrozenTrainableGraph, **kwargs: Any):
        super().__init__(trainable=False, **kwargs)
        self.inner = inner
        self.built = True

    def call(self, images: Any) -> list[Any]:
        return self.inner.run(images, redirect=True)

    def compute_output_spec(self, images: Any) -> list[keras.KerasTensor]:
        return self.inner.compute_output_spec(images)


def trainable_graph(
    graph: FrozenGraph, tensors: Sequence[str], name: str = "frozen_graph"
) -> FrozenTrainableGraph:
    """A `FrozenTrainableGraph` of `graph` computing `tensors`, its weights the graph's constants.

    The layer keeps only the part of the graph `tensors` are computed from, and its weights.

    Raises:
        UnsafeGraphError: the graph contains an op outside `ALLOWED_OPS`.
        RuntimeError: the Keras backend is not TensorFlow.
    """
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"Frozen TF1 graphs need the TensorFlow backend; KERAS_BACKEND is {keras.config.backend()!r}."
        )
    check_graph_def(graph.graph_def)
    graph_def = _pruned(graph.graph_def, tensors)
    specs = find_weights(graph_def)
    stripped, values = _stripped(graph_def, specs)
    return FrozenTrainableGraph(
        base64.b64encode(stripped.SerializeToString()).decode("ascii"),
        tensors,
        [[s.node, list(s.shape), s.dtype, s.trainable] for s in specs],
        input_name=graph.input_name.removesuffix(":0"),
        image_value_range=graph.image_value_range,
        is_bgr=graph.is_bgr,
        channels=int(graph.image_shape[-1]),
        values=values,
        name=name,
    )


def frozen_graph_in(model: keras.Model) -> FrozenTrainableGraph | None:
    """The `FrozenTrainableGraph` layer of `model` (a transfer of a frozen graph), or None."""
    for layer in model.layers:
        if isinstance(layer, FrozenTrainableGraph):
            return layer
    return None
