"""Lucid-style frozen TF1 GraphDefs (``.pb``) as Keras models, and Keras models frozen into them.

Lucid's model zoo ships networks as frozen graphs plus three facts (its
``modelzoo`` metadata): the input placeholder's name, the image shape and
the value range the network expects. `frozen_graph_model` imports such a
graph into a TensorFlow function, maps [0, 1] images to that range (and to
BGR where needed), and wraps it as a Keras model whose outputs are the
requested tensors, named (`output_layer_name`) so that
`visualizer.render.render_channels` finds them by tensor name (or by
catalogue alias, for slim InceptionV1 graphs);
`visualizer.render.frozen_graph.render_frozen_graph_channels` does both.

A GraphDef is a program: before importing one, every op (including those
in its function library) is checked against an allowlist, `ALLOWED_OPS`,
of the stateless ops frozen vision networks are made of (convolutions,
pooling, normalization, activations, arithmetic, reshapes, constants); a
graph with any other op (files, datasets, summaries, the network, Python,
variables, function calls, control flow, anything stateful or random) is
refused with `UnsafeGraphError`. TensorFlow backend only. Its weights stay
constants here; `visualizer.models.frozen_trainable` runs the same graph with
its weights as variables, for a transfer to train.

`export_frozen_graph` goes the other way: it freezes a Keras model, cut at
one of its layers, into such a graph (placeholder ``input``, images in
[0, 1]), so that Lucid's own code can run this project's networks (the
parity tests and the benchmark's ``lucid-0.3.10`` row do).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from visualizer.models.graph import truncate

__all__ = [
    "ALLOWED_OPS",
    "REDIRECT_GRADIENT",
    "FrozenGraph",
    "FrozenGraphLayer",
    "UnsafeGraphError",
    "check_graph_def",
    "export_frozen_graph",
    "frozen_graph_model",
    "load_graph_def",
    "output_layer_name",
    "register_redirected_gradient",
    "tensor_name",
]

ALLOWED_OPS = frozenset(
    {
        # Convolutions (the fused pad/resize forms come from TF's graph-transform tool).
        "Conv2D",
        "Conv2DBackpropInput",
        "Conv3D",
        "DepthwiseConv2dNative",
        "FusedPadConv2D",
        "FusedResizeAndPadConv2D",
        # Pooling.
        "MaxPool",
        "MaxPoolV2",
        "MaxPool3D",
        "AvgPool",
        "AvgPool3D",
        # Normalization (BatchNormWithGlobalNormalization: 2015-era Inception graphs).
        "FusedBatchNorm",
        "FusedBatchNormV2",
        "FusedBatchNormV3",
        "BatchNormWithGlobalNormalization",
        "LRN",
        # Activations (Erf: GELU).
        "Relu",
        "Relu6",
        "Elu",
        "Selu",
        "LeakyRelu",
        "Sigmoid",
        "Tanh",
        "Softplus",
        "Softsign",
        "Softmax",
        "LogSoftmax",
        "Erf",
        # Elementwise arithmetic.
        "Add",
        "AddV2",
        "AddN",
        "Sub",
        "Mul",
        "Div",
        "RealDiv",
        "DivNoNan",
        "FloorDiv",
        "FloorMod",
        "Maximum",
        "Minimum",
        "Neg",
        "Abs",
        "Sign",
        "Square",
        "Sqrt",
        "Rsqrt",
        "Reciprocal",
        "Exp",
        "Log",
        "Log1p",
        "Pow",
        "SquaredDifference",
        "Floor",
        "Ceil",
        "Round",
        "ClipByValue",
        "BiasAdd",
        "BiasAddV1",
        # Reductions.
        "Mean",
        "Sum",
        "Max",
        "Min",
        "Prod",
        "ArgMax",
        "ArgMin",
        "All",
        "Any",
        # Matrix products.
        "MatMul",
        "BatchMatMul",
        "BatchMatMulV2",
        "BatchMatMulV3",
        "Einsum",
        # Concatenation and splitting.
        "Concat",
        "ConcatV2",
        "Pack",
        "Unpack",
        "Split",
        "SplitV",
        # Shapes, reshapes and tensor construction.
        "Reshape",
        "Squeeze",
        "ExpandDims",
        "Transpose",
        "Shape",
        "ShapeN",
        "Size",
        "Rank",
        "BroadcastTo",
        "BroadcastArgs",
        "Tile",
        "Fill",
        "Range",
        "ZerosLike",
        "OnesLike",
        "Cast",
        # Padding, slicing, gathering and space/depth rearrangement.
        "Pad",
        "PadV2",
        "MirrorPad",
        "Slice",
        "StridedSlice",
        "Gather",
        "GatherV2",
        "ReverseV2",
        "SpaceToBatchND",
        "BatchToSpaceND",
        "SpaceToDepth",
        "DepthToSpace",
        # Constants, inputs and identities.
        "Const",
        "Placeholder",
        "PlaceholderWithDefault",
        "Identity",
        "IdentityN",
        "Snapshot",
        "StopGradient",
        "PreventGradient",
        "NoOp",
        # Image resizing.
        "ResizeBilinear",
        "ResizeNearestNeighbor",
        "ResizeBicubic",
        "ResizeArea",
        # Comparisons, logic and elementwise selection (no control flow).
        "Equal",
        "NotEqual",
        "Greater",
        "GreaterEqual",
        "Less",
        "LessEqual",
        "LogicalAnd",
        "LogicalOr",
        "LogicalNot",
        "Select",
        "SelectV2",
    }
)
"""The only ops a frozen graph may contain: the stateless computation of frozen vision networks.

Everything else is refused: file, dataset, summary, queue, reader and
writer ops, Python calls, Send/Recv, collectives, RPC and TPU ops,
variables, function calls, control flow, and all stateful or random ops.
"""


class UnsafeGraphError(ValueError):
    """Raised when a GraphDef contains an op that is not in `ALLOWED_OPS`.

    Attributes:
        op_type: the refused op.
        node: the name of the node that uses it.
        function: the library function holding the node, or ``None`` for the main graph.
    """

    def __init__(self, op_type: str, node: str, function: str | None = None):
        self.op_type = op_type
        self.node = node
        self.function = function
        where = f" in library function {function!r}" if function is not None else ""
        super().__init__(
            f"Refusing to import the graph: node {node!r}{where} is a {op_type!r} op, which is not one of "
            "the vision ops listed in visualizer.models.frozen_graph.ALLOWED_OPS. Only those ops "
            "(pure computation, frozen weights as constants) are accepted."
        )


@dataclass(frozen=True)
class FrozenGraph:
    """A frozen graph and Lucid's metadata for it.

    Attributes:
        graph_def: the parsed ``tf.compat.v1.GraphDef``.
        input_name: the input placeholder's name (Lucid: ``"input"``).
        image_shape: ``(H, W, C)`` the graph was built for; H and W are
            forgotten (any size flows in), as Lucid's ``forget_xy`` does.
        image_value_range: ``(lo, hi)``: images in [0, 1] are mapped to
            ``lo + x * (hi - lo)`` (slim: (-1, 1); Lucid's InceptionV1: (-117, 138)).
        is_bgr: reverse the colour channels first (caffe models).
    """

    graph_def: Any
    input_name: str = "input"
    image_shape: tuple[int | None, int | None, int] = (224, 224, 3)
    image_value_range: tuple[float, float] = (-1.0, 1.0)
    is_bgr: bool = False


def check_graph_def(graph_def: Any) -> None:
    """Refuse graphs with any op that is not in `ALLOWED_OPS`.

    Every node of the main graph and of every function in its library is
    checked, before anything is imported or run.

    Args:
        graph_def: a ``GraphDef``.

    Raises:
        UnsafeGraphError: naming the first such node, its op and its function, if any.
    """
    for node in graph_def.node:
        if node.op not in ALLOWED_OPS:
            raise UnsafeGraphError(node.op, node.name)
    for function in graph_def.library.function:
        for node in function.node_def:
            if node.op not in ALLOWED_OPS:
                raise UnsafeGraphError(node.op, node.name, function.signature.name)


def load_graph_def(path: str | Path) -> Any:
    """Read and check a frozen ``.pb`` GraphDef from a local path.

    Args:
        path: the file.

    Returns:
        The parsed ``GraphDef`` with every node's device cleared (as Lucid does).

    Raises:
        UnsafeGraphError: if the graph contains an op that is not in `ALLOWED_OPS`.
    """
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(Path(path).read_bytes())
    check_graph_def(graph_def)
    for node in graph_def.node:
        node.device = ""
    return graph_def


def tensor_name(name: str) -> str:
    """`name` as a tensor name: ``"scope/op"`` becomes ``"scope/op:0"``; a tensor name stays."""
    return name if ":" in name else name + ":0"


def _keras_name(tensor: str) -> str:
    """The Keras layer name for a tensor: its catalogue id if it has one, else a sanitized name."""
    from visualizer.models.layers import UnknownLayerError, resolve

    for candidate in (tensor, tensor.rsplit(":", 1)[0]):
        try:
            return resolve(candidate).id
        except UnknownLayerError:
            continue
    return re.sub(r"[^A-Za-z0-9_.-]", "_", tensor.rsplit(":", 1)[0] if tensor.endswith(":0") else tensor)


def output_layer_name(tensor: str) -> str:
    """The name `frozen_graph_model` gives the Keras layer that outputs `tensor`.

    Args:
        tensor: a tensor name of the graph (``"scope/op"`` or ``"scope/op:0"``).

    Returns:
        Its catalogue id when it has one (slim InceptionV1 graphs), else the
        tensor name with the characters Keras refuses replaced by ``_``.
    """
    return _keras_name(tensor_name(tensor))


REDIRECT_GRADIENT = "VisualizerRedirectedRelu"
"""The gradient override name of Lucid's redirected ReLU (`register_redirected_gradient`)."""
_registered = False


def register_redirected_gradient() -> None:
    """Register Lucid's redirected ReLU gradient for graphs imported under an override map."""
    global _registered
    if _registered:
        return
    import tensorflow as tf

    @tf.RegisterGradient(REDIRECT_GRADIENT)
    def _redirected(op, grad):  # noqa: ANN001, ANN202 - TensorFlow's gradient signature
        x = op.inputs[0]
        zeros = tf.zeros_like(grad)
        relu_grad = tf.where(x < 0.0, zeros, grad)
        redirected = tf.where(tf.logical_and(x < 0.0, grad > 0.0), zeros, grad)
        axes = tf.range(1, tf.rank(x))
        alive = tf.reduce_max(tf.abs(relu_grad), axis=axes, keepdims=True) > 0
        return tf.where(alive, relu_grad, redirected)

    _registered = True


class FrozenGraphLayer(keras.layers.Layer):
    """Runs an imported frozen graph from its input to the requested tensors.

    Args:
        graph: the `FrozenGraph`.
        tensors: tensor names to return (``"scope/op"`` or ``"scope/op:0"``).
        redirect_relu: import with Lucid's redirected gradient on every Relu.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(
        self, graph: FrozenGraph, tensors: Sequence[str], redirect_relu: bool = False, **kwargs: Any
    ):
        super().__init__(trainable=False, **kwargs)
        import tensorflow as tf

        self.graph = graph
        self.tensors = [tensor_name(t) for t in tensors]
        self.redirect_relu = redirect_relu
        if redirect_relu:
            register_redirected_gradient()
        input_tensor = tensor_name(graph.input_name)
        overrides = {"Relu": REDIRECT_GRADIENT} if redirect_relu else {}

        def imported(images):
            with tf.compat.v1.get_default_graph().gradient_override_map(overrides):
                return tf.import_graph_def(
                    graph.graph_def,
                    input_map={input_tensor: images},
                    return_elements=self.tensors,
                    name="frozen",
                )

        spec = tf.TensorSpec((None, None, None, graph.image_shape[-1]), tf.float32)
        self._function = tf.compat.v1.wrap_function(imported, [spec])

    def call(self, images: Any) -> list[Any]:
        lo, hi = self.graph.image_value_range
        if self.graph.is_bgr:
            images = images[..., ::-1]
        return list(self._function(lo + images * (hi - lo)))

    def with_redirected_relu(self) -> FrozenGraphLayer:
        """A copy whose Relu gradients are Lucid's redirected ones (used by the renderer)."""
        return FrozenGraphLayer(self.graph, self.tensors, redirect_relu=True, name=self.name)

    def compute_output_spec(self, images: Any) -> list[keras.KerasTensor]:
        import tensorflow as tf

        outputs = []
        for tensor in self.tensors:
            shape = self._function.graph.get_tensor_by_name("frozen/" + tensor).shape
            rank = 4 if shape.rank is None else shape.rank
            channels = shape[-1] if shape.rank else None
            outputs.append(keras.KerasTensor((None,) * (rank - 1) + (channels,), dtype=tf.float32.name))
        return outputs


def frozen_graph_model(
    graph: FrozenGraph | str | Path,
    tensors: Sequence[str],
    input_name: str = "input",
    image_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    image_value_range: tuple[float, float] = (-1.0, 1.0),
    is_bgr: bool = False,
) -> keras.Model:
    """Wrap a frozen graph as a Keras model from images in [0, 1] to `tensors`.

    Args:
        graph: a `FrozenGraph`, or a ``.pb`` path (then the metadata below apply).
        tensors: the tensor names to expose; each becomes a Keras layer
            output named by its catalogue id when it has one (slim
            InceptionV1 graphs), else by the tensor name with ``/`` and
            ``:`` replaced by ``_``.
        input_name: the input placeholder (Lucid's ``input_name``).
        image_shape: Lucid's ``image_shape``; only the channel count is used.
        image_value_range: Lucid's ``image_value_range``.
        is_bgr: caffe-style BGR input.

    Returns:
        A `keras.Model` (TensorFlow backend) with one output per tensor.

    Raises:
        UnsafeGraphError: the graph contains an op that is not in `ALLOWED_OPS`.
        RuntimeError: the Keras backend is not TensorFlow.
    """
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"Frozen TF1 graphs need the TensorFlow backend; KERAS_BACKEND is {keras.config.backend()!r}."
        )
    if not isinstance(graph, FrozenGraph):
        graph = FrozenGraph(
            load_graph_def(graph), input_name, tuple(image_shape), tuple(image_value_range), is_bgr
        )
    else:
        check_graph_def(graph.graph_def)
    if not tensors:
        raise ValueError("tensors must name at least one tensor of the graph.")
    inputs = keras.Input((None, None, graph.image_shape[-1]), name="images")
    outputs = FrozenGraphLayer(graph, tensors, name="frozen_graph")(inputs)
    named = [
        keras.layers.Identity(name=output_layer_name(tensor))(output)
        for tensor, output in zip(tensors, outputs)
    ]
    return keras.Model(inputs, named, name="frozen_graph")


def export_frozen_graph(model: keras.Model, layer: str, path: str | Path, input_name: str = "input") -> str:
    """Freeze `model` from its input to `layer`'s output into a Lucid-style GraphDef file.

    The graph takes images in [0, 1] exactly as `model` does (so its Lucid
    metadata is ``image_value_range = (0, 1)``), of any height and width,
    with the weights as constants and the network in inference mode.

    Args:
        model: a functional Keras model with one image input (NHWC float32).
        layer: the Keras name of the layer whose output the graph ends at.
        path: where to write the serialized ``GraphDef`` (``.pb``).
        input_name: the name of the input placeholder.

    Returns:
        The name of `layer`'s output tensor in the graph (``"<layer>:0"``).

    Raises:
        RuntimeError: the Keras backend is not TensorFlow.
        ValueError: `layer` is not a layer of `model` (the message lists close names).
    """
    if keras.config.backend() != "tensorflow":
        raise RuntimeError(
            f"Freezing a TF1 graph needs the TensorFlow backend; KERAS_BACKEND is {keras.config.backend()!r}."
        )
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    names = [candidate.name for candidate in model.layers]
    if layer not in names:
        close = difflib.get_close_matches(layer, names, n=5)
        raise ValueError(
            f"Model {model.name!r} has no layer {layer!r}; close names: {', '.join(close) or 'none'}."
        )
    truncated = truncate(model, layer)
    channels = model.inputs[0].shape[-1]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, channels], tf.float32, name=input_name)])
    def forward(images: tf.Tensor) -> tf.Tensor:
        return tf.identity(truncated(images, training=False), name=layer)

    graph_def = convert_variables_to_constants_v2(forward.get_concrete_function()).graph.as_graph_def()
    if not {layer, input_name} <= {node.name for node in graph_def.node}:
        raise RuntimeError(
            f"The frozen graph lacks the {input_name!r} placeholder or the {layer!r} output node."
        )
    Path(path).write_bytes(graph_def.SerializeToString())
    return f"{layer}:0"
