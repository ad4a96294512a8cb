"""Frozen GraphDefs: import and checks (visualizer.models.frozen_graph), rendering (render.frozen_graph)."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow.python.framework import op_def_registry  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

from visualizer.models import frozen_graph as fg  # noqa: E402
from visualizer.render.frozen_graph import render_frozen_graph_channels  # noqa: E402


def export_frozen(tmp_path, value_range=(-1.0, 1.0)):
    """Freeze a small conv net (input 'input', ReLU tensors) into a .pb; return path and tensor name."""
    keras.utils.set_random_seed(0)
    conv1 = keras.layers.Conv2D(4, 3, bias_initializer="ones")
    conv2 = keras.layers.Conv2D(3, 3, bias_initializer="ones")
    conv1.build((None, None, None, 3))
    conv2.build((None, None, None, 4))

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="input")])
    def net(x):
        return tf.nn.relu(conv2(tf.nn.relu(conv1(x)), training=False), name="features")

    frozen = convert_variables_to_constants_v2(net.get_concrete_function())
    graph_def = frozen.graph.as_graph_def()
    path = tmp_path / "tiny.pb"
    path.write_bytes(graph_def.SerializeToString())
    reference = keras.Sequential(
        [keras.Input((None, None, 3)), conv1, keras.layers.ReLU(), conv2, keras.layers.ReLU()]
    )
    return path, "features", reference


def test_wrapped_graph_matches_original(tmp_path):
    """The imported graph computes the original network on [0,1] images mapped to its value range."""
    path, tensor, reference = export_frozen(tmp_path)
    model = fg.frozen_graph_model(path, [tensor], input_name="input", image_value_range=(-1.0, 1.0))
    images = np.random.default_rng(0).random((2, 10, 10, 3)).astype("float32")
    np.testing.assert_allclose(model(images).numpy(), reference(images * 2 - 1).numpy(), atol=1e-5)
    assert model.layers[-1].name == "features"


def test_render_frozen_graph_channels(tmp_path):
    """Channels of a frozen graph render by tensor name, with the redirected ReLU swapped in."""
    path, tensor, _ = export_frozen(tmp_path)
    result = render_frozen_graph_channels(path, tensor, [0, 2], size=24, steps=20, progress=False)
    assert result.images.shape == (2, 24, 24, 3) and np.isfinite(result.objectives).all()
    assert result.failed == []
    with pytest.raises(ValueError, match=r"0\.\.2"):
        render_frozen_graph_channels(path, tensor, [3], size=24, steps=1, progress=False)


def test_redirected_gradient_in_frozen_graph(tmp_path):
    """The redirected copy gives a dead channel a gradient where the plain graph gives none."""
    path, tensor, _ = export_frozen(tmp_path)
    graph = fg.FrozenGraph(fg.load_graph_def(path), "input", image_value_range=(-100.0, -99.0))
    plain = fg.FrozenGraphLayer(graph, [tensor])
    redirected = plain.with_redirected_relu()
    images = tf.constant(np.random.default_rng(0).random((1, 8, 8, 3)).astype("float32"))
    grads = []
    for layer in (plain, redirected):
        with tf.GradientTape() as tape:
            tape.watch(images)
            loss = -tf.reduce_sum(layer(images)[0])
        grads.append(tape.gradient(loss, images).numpy())
    assert np.abs(grads[0]).max() == 0 and np.abs(grads[1]).max() > 0


def _registered_ops() -> dict[str, object]:
    """Every op registered with TensorFlow in this process, by name, as its ``OpDef``.

    The C API's full op list includes internal ops (``_Send``, ``_Recv``, ...)
    that ``tf.raw_ops`` lacks; fall back to ``tf.raw_ops`` if it moves.
    """
    try:
        from tensorflow.core.framework import op_def_pb2
        from tensorflow.python.client import pywrap_tf_session

        buffer = pywrap_tf_session.TF_GetAllOpList()
        try:
            ops = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetBuffer(buffer)).op
        finally:
            pywrap_tf_session.TF_DeleteBuffer(buffer)
        return {op.name: op for op in ops}
    except (ImportError, AttributeError):
        names = (name for name in dir(tf.raw_ops) if not name.startswith("_"))
        return {name: op_def_registry.get(name) for name in names if op_def_registry.get(name) is not None}


REGISTERED_OPS = _registered_ops()

# Substrings of op names that read or write files, reach the network or a
# server, run Python, or hold state (queues, iterators, variables).
UNSAFE_SUBSTRINGS = (
    "File",
    "Summary",
    "Writer",
    "Reader",
    "Save",
    "Restore",
    "Checkpoint",
    "Dataset",
    "DataService",
    "Record",
    "Iterator",
    "Queue",
    "Rpc",
    "Send",
    "Recv",
    "Collective",
    "TPU",
    "PyFunc",
    "Print",
    "Debug",
    "Variable",
)
# Ops an adversary used or named, and the variable, function-call and control-flow ops.
UNSAFE_NAMED = (
    "CreateSummaryFileWriter",
    "FlushSummaryWriter",
    "ExperimentalDatasetToTFRecord",
    "LoadAndRemapMatrix",
    "RecordInput",
    "DistributedSave",
    "ImmutableConst",
    "ReadFile",
    "WriteFile",
    "MatchingFiles",
    "PyFunc",
    "EagerPyFunc",
    "SaveV2",
    "RestoreV2",
    "VariableV2",
    "VarHandleOp",
    "ReadVariableOp",
    "Assign",
    "AssignVariableOp",
    "PartitionedCall",
    "StatefulPartitionedCall",
    "While",
    "StatelessWhile",
    "If",
    "StatelessIf",
    "Enter",
    "Exit",
    "Switch",
    "Merge",
    "RandomUniform",
    "Assert",
)
UNSAFE_OPS = sorted(
    {name for name in REGISTERED_OPS if any(part in name for part in UNSAFE_SUBSTRINGS)}
    | {name for name in UNSAFE_NAMED if name in REGISTERED_OPS}
)


def _graph_with(op: str, in_function: bool = False):
    """A GraphDef with an ``input`` placeholder and a node ``sneaky`` of type `op`.

    With `in_function`, ``sneaky`` hides in library function ``innocent`` instead.
    """
    graph_def = tf.compat.v1.GraphDef()
    node = graph_def.node.add()
    node.name, node.op = "input", "Placeholder"
    if in_function:
        function = graph_def.library.function.add()
        function.signature.name = "innocent"
        bad = function.node_def.add()
    else:
        bad = graph_def.node.add()
    bad.name, bad.op = "sneaky", op
    return graph_def


def test_unsafe_sample_covers_the_known_attacks():
    """The refusal sample comes from TensorFlow's registry and holds the ops the old deny-list let through."""
    assert len(REGISTERED_OPS) > 1000
    for op in UNSAFE_NAMED:
        assert op in REGISTERED_OPS, f"{op} is not a registered TensorFlow op"
    assert set(UNSAFE_NAMED) <= set(UNSAFE_OPS)
    assert len(UNSAFE_OPS) > 400
    assert any("DataService" in op for op in UNSAFE_OPS) and "_Send" in UNSAFE_OPS


@pytest.mark.parametrize("op", UNSAFE_OPS)
def test_refuses_file_network_and_stateful_ops(op):
    """Each sampled op is not allowed and is refused, in the main graph and hidden in a library function."""
    assert op not in fg.ALLOWED_OPS
    with pytest.raises(fg.UnsafeGraphError, match=f"'sneaky' is a '{re.escape(op)}' op") as refused:
        fg.check_graph_def(_graph_with(op))
    assert (refused.value.node, refused.value.op_type, refused.value.function) == ("sneaky", op, None)
    assert "visualizer.models.frozen_graph.ALLOWED_OPS" in str(refused.value)
    pattern = f"'sneaky' in library function 'innocent' is a '{re.escape(op)}' op"
    with pytest.raises(fg.UnsafeGraphError, match=pattern) as refused:
        fg.check_graph_def(_graph_with(op, in_function=True))
    assert refused.value.function == "innocent"


def test_refuses_every_registered_op_outside_the_allowlist():
    """Any registered op that is not in ALLOWED_OPS is refused, in the graph and in its library."""
    accepted = []
    for op in REGISTERED_OPS:
        for in_function in (False, True):
            try:
                fg.check_graph_def(_graph_with(op, in_function))
            except fg.UnsafeGraphError:
                continue
            accepted.append(op)
    assert sorted(set(accepted)) == sorted(fg.ALLOWED_OPS)


@pytest.mark.parametrize("op", ["WriteFile", "CreateSummaryFileWriter", "ExperimentalDatasetToTFRecord", ""])
def test_refused_before_import(tmp_path, op):
    """Loading a .pb with an unlisted op fails in the check, before TensorFlow imports or runs anything."""
    path = tmp_path / "bad.pb"
    path.write_bytes(_graph_with(op).SerializeToString())
    with pytest.raises(fg.UnsafeGraphError, match=f"sneaky.*'{op}'"):
        fg.frozen_graph_model(path, ["input"])
    graph = fg.FrozenGraph(_graph_with(op, in_function=True))
    with pytest.raises(fg.UnsafeGraphError, match=f"sneaky.*innocent.*'{op}'"):
        fg.frozen_graph_model(graph, ["input"])


def test_allowed_ops_are_registered_and_stateless():
    """Every allowed op is a registered TensorFlow op (so a typo fails) and none is stateful."""
    assert isinstance(fg.ALLOWED_OPS, frozenset)
    assert "FORBIDDEN_OPS" not in fg.__all__ and not hasattr(fg, "FORBIDDEN_OPS")
    for op in sorted(fg.ALLOWED_OPS):
        op_def = op_def_registry.get(op)
        assert op_def is not None, f"{op!r} is not a registered TensorFlow op"
        assert not op_def.is_stateful, f"{op!r} is stateful"
        assert not any(attr.type in ("func", "list(func)") for attr in op_def.attr), f"{op!r} calls functions"


def _ops(graph_def) -> set[str]:
    """The op types of a GraphDef's nodes, library functions included."""
    ops = {node.op for node in graph_def.node}
    return ops | {node.op for function in graph_def.library.function for node in function.node_def}


def test_project_exported_graphs_are_allowed(tmp_path):
    """Every op in the graphs `export_frozen_graph` writes for the project's InceptionV1 is allowed."""
    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    used = set()
    exports = (("logits", "Logits", 224), ("dense", "predictions", None))
    for head, layer, size in exports:
        net = inception_v1.build(num_classes=5, head=head, width=0.0625, input_size=size)
        path = tmp_path / f"{head}.pb"
        fg.export_frozen_graph(net, layer, path)
        graph_def = fg.load_graph_def(path)
        used |= _ops(graph_def)
    path, _, _ = export_frozen(tmp_path)
    used |= _ops(fg.load_graph_def(path))
    assert used <= fg.ALLOWED_OPS, sorted(used - fg.ALLOWED_OPS)
    expected = {"Placeholder", "Const", "Identity", "Conv2D", "Relu", "MaxPool", "AvgPool", "ConcatV2"}
    assert expected | {"Mean", "MatMul", "BiasAdd", "Softmax", "Squeeze"} <= used


def test_lucid_zoo_style_graph_is_allowed(tmp_path):
    """A graph in the style of Lucid's model zoo (caffe, slim, ResNet, MobileNet ops) passes and runs."""
    rng = np.random.default_rng(0)

    def weights(*shape):
        return tf.constant(rng.normal(0.0, 0.3, shape).astype("float32"))

    w1, b1, w2, depthwise, dense = (
        weights(3, 3, 3, 4),
        weights(4),
        weights(1, 1, 4, 4),
        weights(3, 3, 8, 1),
        weights(8, 5),
    )
    scale, offset, mean, variance = weights(8), weights(8), weights(8), tf.ones(8)

    @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="input")])
    def zoo(images):
        x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(images * 255.0 - 117.0, w1, 1, "SAME"), b1))
        x = tf.nn.local_response_normalization(x, depth_radius=2, alpha=1e-4, beta=0.75)
        x = tf.nn.max_pool2d(x, 3, 2, "SAME")
        branch = tf.nn.avg_pool2d(tf.nn.conv2d(x, w2, 1, "SAME"), 3, 1, "SAME")
        x = tf.concat([x, branch], axis=3)
        x, _, _ = tf.compat.v1.nn.fused_batch_norm(x, scale, offset, mean, variance, is_training=False)
        x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
        x = tf.nn.relu6(tf.nn.depthwise_conv2d(x, depthwise, [1, 1, 1, 1], "VALID")) + x[:, 1:-1, 1:-1, :]
        x = tf.squeeze(tf.reduce_mean(x, axis=[1, 2], keepdims=True), axis=[1, 2])
        return tf.nn.softmax(tf.matmul(tf.reshape(x, [-1, 8]), dense), name="probabilities")

    graph_def = zoo.get_concrete_function().graph.as_graph_def()
    path = tmp_path / "zoo.pb"
    path.write_bytes(graph_def.SerializeToString())
    used = _ops(graph_def)
    assert used <= fg.ALLOWED_OPS, sorted(used - fg.ALLOWED_OPS)
    assert {"LRN", "FusedBatchNormV3", "DepthwiseConv2dNative", "Relu6", "Pad", "Mean", "Squeeze"} <= used
    model = fg.frozen_graph_model(path, ["probabilities"], image_value_range=(0.0, 1.0))
    images = rng.random((2, 16, 16, 3)).astype("float32")
    probabilities = model(images).numpy()
    np.testing.assert_allclose(probabilities, zoo(tf.constant(images)).numpy(), rtol=1e-5, atol=1e-6)


def test_export_frozen_graph_round_trip(tmp_path):
    """A Keras network frozen at a layer and imported again computes that layer, at any image size."""
    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    net = inception_v1.build(width=0.0625, head="dense")
    path = tmp_path / "inception.pb"
    tensor = fg.export_frozen_graph(net, "Mixed_3b", path)
    assert tensor == "Mixed_3b:0"
    imported = fg.frozen_graph_model(path, [tensor], image_value_range=(0.0, 1.0))
    truncated = keras.Model(net.inputs[0], net.get_layer("Mixed_3b").output)
    for size in (64, 71):
        images = np.random.default_rng(size).random((2, size, size, 3)).astype("float32")
        expected = truncated(images, training=False).numpy()
        np.testing.assert_allclose(imported(images).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_export_frozen_graph_unknown_layer(tmp_path):
    """An unknown layer is refused with close names listed, and nothing is written."""
    from visualizer.models import inception_v1

    net = inception_v1.build(width=0.0625, head="dense")
    with pytest.raises(ValueError, match="Mixed_3b.*close names: Mixed_3b"):
        fg.export_frozen_graph(net, "Mixed_3bb", tmp_path / "x.pb")
    assert not (tmp_path / "x.pb").exists()
