"""Frozen graphs as parents and as render targets: trainable weights, transfers, resume, negative."""

from __future__ import annotations

import base64

import keras
import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from tests.helpers.own_network import save_tiny_frozen_graph, tiny_keras_model, write_own_config  # noqa: E402
from visualizer.config import ConfigError, load_config  # noqa: E402
from visualizer.models.frozen_graph import (  # noqa: E402
    FrozenGraph,
    UnsafeGraphError,
    export_frozen_graph,
    frozen_graph_model,
    load_graph_def,
)
from visualizer.models.frozen_source import graph_catalogue, layer_model  # noqa: E402
from visualizer.models.frozen_trainable import FrozenTrainableGraph, find_weights, trainable_graph  # noqa: E402
from visualizer.models.own import prepare_image_model  # noqa: E402

DW = "tiny_to_pw_relu_1/dw_relu_1/Relu6"  # the depthwise layer's op: a transfer's base_layer below
PW = "tiny_to_pw_relu_1/pw_relu_1/Relu"

GRAPH_AND_CHILD = f"""\
[[models]]
name = "graph"
source = "frozen_graph"
path = "tiny.pb"
image_shape = [32, 32, 3]
image_value_range = [0, 1]

[[models]]
name = "fchild"
source = "transfer"
parent = "graph"
base_layer = "{DW}"
dataset = {{ kind = "world", world = "flowers", train_size = 32, validation_size = 8 }}
head = "single_dense"
steps = 4
batch_size = 4
snapshots = [0, 2]
resume_every = 1
"""

PLAN = """\
[[render.plan]]
models = ["fchild"]
layers = "all"
channels = "first:1"
snapshots = ["iter_000000", "final"]
methods = ["lucid", "negative"]
"""


def _images(size: int = 20, count: int = 2) -> np.ndarray:
    return np.random.default_rng(3).random((count, size, size, 3)).astype("float32")


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> FrozenGraph:
    folder = tmp_path_factory.mktemp("graph")
    tiny_keras_model().save(folder / "tiny.keras")
    save_tiny_frozen_graph(folder / "tiny.keras", folder / "tiny.pb")
    return FrozenGraph(load_graph_def(folder / "tiny.pb"), "input", (32, 32, 3), (0.0, 1.0))


def test_weights_become_variables_and_batch_norm_variances_do_not_train(graph):
    specs = find_weights(graph.graph_def)
    shapes = {spec.shape for spec in specs}
    assert {(3, 3, 3, 8), (3, 3, 8, 1), (1, 1, 8, 12)} <= shapes  # the three kernels
    # Each batch norm's variance (the constant on the way to its Rsqrt) is a statistic.
    statistics = [spec for spec in specs if not spec.trainable]
    assert len(statistics) == 2 and all("_bn_" in spec.node for spec in statistics)
    assert not any(spec.shape == () for spec in specs)  # scalars (epsilon) stay constants


def test_the_trainable_graph_computes_the_frozen_graph_and_reloads_without_the_pb(graph, tmp_path):
    rows = graph_catalogue(graph.graph_def, "input", 3)
    tensors = [row.aliases[1] for row in rows]
    layer = trainable_graph(graph, tensors)
    reference = frozen_graph_model(graph, tensors)(_images())
    for got, want in zip(layer(_images()), reference):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-5)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, layer(inputs)[-1])
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    np.testing.assert_allclose(reloaded(_images()).numpy(), reference[-1].numpy(), atol=1e-5)
    # The config holds the graph without its weights: the kernels are placeholders there.
    config = reloaded.layers[-1].get_config()
    stored = tf.compat.v1.GraphDef.FromString(base64.b64decode(config["graph"]))
    constants = [tf.make_ndarray(node.attr["value"].tensor) for node in stored.node if node.op == "Const"]
    assert not any(value.dtype.kind == "f" and value.size > 1 for value in constants)


def test_a_saved_graph_with_an_op_outside_the_allowlist_is_refused(graph):
    layer = trainable_graph(graph, [PW])
    config = layer.get_config()
    stored = tf.compat.v1.GraphDef.FromString(base64.b64decode(config["graph"]))
    stored.node.add(name="sneaky", op="ReadFile")
    config["graph"] = base64.b64encode(stored.SerializeToString()).decode("ascii")
    with pytest.raises(UnsafeGraphError, match="ReadFile"):
        FrozenTrainableGraph.from_config(config)


def test_gradients_reach_the_weights_and_not_the_statistics(graph):
    layer = trainable_graph(graph, [PW])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(layer(_images())[0])
    grads = tape.gradient(loss, [variable.value for variable in layer.trainable_weights])
    assert all(grad is not None and np.abs(grad.numpy()).max() > 0 for grad in grads)
    assert len(layer.non_trainable_weights) == 2


def test_the_layer_model_exposes_pre_relu_values(graph):
    from visualizer.models.frozen_graph import FrozenGraphLayer
    from visualizer.render.render import pre_relu_layer

    rows = {row.aliases[1]: row for row in graph_catalogue(graph.graph_def, "input", 3)}
    for op, pre in (
        (PW, "tiny_to_pw_relu_1/pw_bn_1/batchnorm/add_1"),
        (DW, "tiny_to_pw_relu_1/dw_1/BiasAdd"),
    ):
        entry = rows[op]
        model = layer_model(lambda tensors: FrozenGraphLayer(graph, tensors), graph.graph_def, entry, 3)
        target = pre_relu_layer(model, entry.id)
        assert target == f"{entry.id}_pre_relu"
        inner = keras.Model(model.inputs[0], model.get_layer(target).output)(_images())
        np.testing.assert_allclose(
            inner.numpy(), frozen_graph_model(graph, [pre])(_images()).numpy(), atol=1e-6
        )
        np.testing.assert_allclose(
            model(_images()).numpy(), frozen_graph_model(graph, [op])(_images()).numpy(), atol=1e-6
        )


def test_negative_on_a_frozen_graph_minimizes_the_graphs_own_pre_relu_mean(tmp_path):
    """The objective recorded is minus the pre-ReLU channel mean, as the graph itself computes it."""
    from visualizer.atlas.methods.optimized import negative
    from visualizer.atlas.sources import render_model

    config = load_config(write_own_config(tmp_path, extra_models=GRAPH_AND_CHILD))
    save_tiny_frozen_graph(tmp_path / "configs" / "tiny.keras", tmp_path / "configs" / "tiny.pb")
    model, layer = render_model(config, tmp_path / "runs", "graph", "final", PW)
    result = negative(model, layer, [0, 3], size=24, steps=8, seed=0, transforms="lucid")
    assert result.recorded["pre_relu_layer"] == f"{layer}_pre_relu"
    pre = frozen_graph_model(
        tmp_path / "configs" / "tiny.pb",
        ["tiny_to_pw_relu_1/pw_bn_1/batchnorm/add_1"],
        image_value_range=(0.0, 1.0),
    )
    values = pre(result.images.astype("float32")).numpy()
    want = [-values[0, ..., 0].mean(), -values[1, ..., 3].mean()]
    np.testing.assert_allclose(result.objectives, want, rtol=1e-4, atol=1e-5)


def test_negative_is_refused_only_where_a_frozen_layer_has_no_relu(tmp_path):
    from visualizer.atlas.plan import make_plan

    config_path = write_own_config(
        tmp_path,
        '[[render.plan]]\nmodels = ["graph"]\nlayers = "all"\nchannels = "first:1"\nmethods = ["negative"]\n',
        extra_models='[[models]]\nname = "graph"\nsource = "frozen_graph"\npath = "tiny.pb"\n',
    )
    folder = tmp_path / "configs"
    save_tiny_frozen_graph(folder / "tiny.keras", folder / "tiny.pb")
    assert len(make_plan(load_config(config_path), with_costs=False).batches) == 3
    # Frozen at the pointwise layer's batch norm: that layer ends in no ReLU.
    export_frozen_graph(prepare_image_model(tiny_keras_model()), "pw_bn", folder / "tiny.pb")
    with pytest.raises(ConfigError) as caught:
        make_plan(load_config(config_path), with_costs=False)
    message = str(caught.value)
    assert "pw_bn" in message and "no Relu" in message and "lucid, neuron" in message
    assert "dw_relu" not in message and "c1_relu" not in message  # those end in a ReLU


def _weights(runs, name, snapshot):
    from visualizer.train.snapshots import load_snapshot

    return load_snapshot(runs, name, snapshot)[0].get_weights()


@pytest.mark.slow
def test_a_transfer_from_a_frozen_graph_trains_resumes_and_renders(tmp_path):
    """The child's base starts as the graph, trains, resumes to the same weights, and renders its own."""
    from visualizer.atlas.sources import model_catalogue, render_model
    from visualizer.cli import main
    from visualizer.train.trainer import train_all

    class Stop(Exception):
        pass

    def stop_after_three(model, done):
        if model == "fchild" and done == 3:
            raise Stop

    runs = {}
    for label, interrupt in (("whole", False), ("resumed", True)):
        root = tmp_path / label
        config_path = write_own_config(root, PLAN, extra_models=GRAPH_AND_CHILD)
        save_tiny_frozen_graph(root / "configs" / "tiny.keras", root / "configs" / "tiny.pb")
        config = load_config(config_path)
        if interrupt:
            with pytest.raises(Stop):
                train_all(config, ["fchild"], progress=False, on_step=stop_after_three)
        results = train_all(config, ["fchild"], progress=False)
        assert [r.model for r in results] == ["graph", "fchild"]
        assert results[-1].status == ("resumed" if interrupt else "trained")
        runs[label] = config.resolve_path("runs")
    for snapshot in ("iter_000000", "iter_000002", "final"):
        for a, b in zip(
            _weights(runs["whole"], "fchild", snapshot), _weights(runs["resumed"], "fchild", snapshot)
        ):
            np.testing.assert_array_equal(a, b)

    root = tmp_path / "whole"
    config = load_config(root / "configs" / "own.toml")
    assert [row.id for row in model_catalogue(config, "fchild")] == [
        "tiny_to_pw_relu_1_c1_relu_1_Relu",
        "tiny_to_pw_relu_1_dw_relu_1_Relu6",
    ]
    pb = root / "configs" / "tiny.pb"
    frozen = frozen_graph_model(pb, [DW], image_value_range=(0.0, 1.0))(_images()).numpy()
    (pb.parent / "moved.pb").write_bytes(pb.read_bytes())
    pb.unlink()  # the snapshots load without the graph file
    untrained, layer = render_model(config, runs["whole"], "fchild", "iter_000000", DW)
    np.testing.assert_allclose(untrained(_images()).numpy(), frozen, atol=1e-5)
    trained, _ = render_model(config, runs["whole"], "fchild", "final", DW)
    assert not np.allclose(trained(_images()).numpy(), frozen, atol=1e-5)
    pb.write_bytes((pb.parent / "moved.pb").read_bytes())
    assert main(["render", "--config", str(root / "configs" / "own.toml")]) == 0
    images = sorted((root / "atlas" / "images" / "fchild").rglob("*.png"))
    # 2 layers x 1 channel x 2 snapshots x 2 methods.
    assert len(images) == 8 and {path.parts[-3] for path in images} == {"lucid", "negative"}


def test_an_inception_graph_keeps_its_values_and_every_weight(tmp_path):
    """Branches, concatenations and slim's batch norms: every Keras weight becomes one variable."""
    from tests.helpers.frozen_models import build_model

    model = build_model(width=0.125)
    tensor = export_frozen_graph(model, "Mixed_4b", tmp_path / "inception.pb")
    graph = FrozenGraph(load_graph_def(tmp_path / "inception.pb"), "input", (224, 224, 3), (0.0, 1.0))
    layer = trainable_graph(graph, [tensor])
    images = _images(64)
    np.testing.assert_allclose(
        layer(images)[0].numpy(), frozen_graph_model(graph, [tensor])(images).numpy(), atol=1e-5
    )
    cut = keras.Model(model.inputs, model.get_layer("Mixed_4b").output)
    assert sorted(tuple(v.shape) for v in layer.weights) == sorted(tuple(v.shape) for v in cut.weights)
    statistics = sum("moving_variance" in v.path for v in cut.weights)
    assert len(layer.non_trainable_weights) == statistics > 0
