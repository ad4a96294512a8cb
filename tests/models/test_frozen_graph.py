"""Tests for visualizer.models.frozen_graph: importing, checking and rendering frozen GraphDefs."""

from __future__ import annotations

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2,
)

from visualizer.models import frozen_graph as fg  # noqa: E402


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
    result = fg.render_frozen_graph_channels(path, tensor, [0, 2], size=24, steps=20, progress=False)
    assert result.images.shape == (2, 24, 24, 3) and np.isfinite(result.objectives).all()
    assert result.failed == []
    with pytest.raises(ValueError, match=r"0\.\.2"):
        fg.render_frozen_graph_channels(path, tensor, [3], size=24, steps=1, progress=False)


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


@pytest.mark.parametrize(
    "op", ["ReadFile", "WriteFile", "SaveV2", "RestoreV2", "PyFunc", "EagerPyFunc", "MatchingFiles"]
)
def test_refuses_graphs_that_touch_files_or_python(tmp_path, op):
    """A graph with a file, network or Python op is refused with an error naming the op."""
    graph_def = tf.compat.v1.GraphDef()
    node = graph_def.node.add()
    node.name, node.op = "input", "Placeholder"
    bad = graph_def.node.add()
    bad.name, bad.op = "sneaky", op
    path = tmp_path / "bad.pb"
    path.write_bytes(graph_def.SerializeToString())
    with pytest.raises(fg.UnsafeGraphError, match=f"sneaky.*{op}"):
        fg.frozen_graph_model(path, ["input"])


def test_refuses_forbidden_ops_inside_functions():
    """Ops hidden in the graph's function library are checked too."""
    graph_def = tf.compat.v1.GraphDef()
    function = graph_def.library.function.add()
    node = function.node_def.add()
    node.name, node.op = "inner", "WriteFile"
    with pytest.raises(fg.UnsafeGraphError, match="WriteFile"):
        fg.check_graph_def(graph_def)


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
