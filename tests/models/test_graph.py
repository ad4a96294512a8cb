"""`visualizer.models.graph`: the Keras internals it reads, then its public functions.

Keras 3 offers no public way to walk a functional graph, so `models.graph` reads
``KerasTensor._keras_history``, ``Operation._inbound_nodes`` and
``Functional._nodes`` (and nothing else in the project does). The first tests
check each of them on the installed Keras, with the meaning graph.py relies
on; when Keras changes one, they fail naming the attribute and the version.
"""

from __future__ import annotations

import keras
import pytest

from visualizer.models import graph
from visualizer.models.layers import UnknownLayerError


def _require(condition: bool, attribute: str, meaning: str) -> None:
    assert condition, (
        f"Keras {keras.__version__} changed {attribute}: visualizer/models/graph.py relies on it being "
        f"{meaning}. Update graph.py's Keras internals (producer, producer_inputs, inbound_layers, "
        "calls_in_model) to the new Keras, then this test."
    )


def _attribute(owner: object, name: str, meaning: str) -> object:
    _require(hasattr(owner, name), f"{type(owner).__name__}.{name}", meaning)
    return getattr(owner, name)


def _same(tensors: list, expected: list) -> bool:
    """The same KerasTensor objects in the same order (`==` on KerasTensors builds an op)."""
    return len(tensors) == len(expected) and all(a is b for a, b in zip(tensors, expected))


def shared_model() -> tuple[keras.Model, dict[str, keras.layers.Layer]]:
    """conv -> relu -> (shared) dense twice -> add: a layer called twice, a branch and a join."""
    inputs = keras.Input((6, 6, 3), name="images")
    layers = {
        "conv": keras.layers.Conv2D(4, 3, name="conv"),
        "relu": keras.layers.ReLU(name="relu"),
        "dense": keras.layers.Dense(4, name="dense"),
        "add": keras.layers.Add(name="add"),
    }
    features = layers["relu"](layers["conv"](inputs))
    once = layers["dense"](features)
    twice = layers["dense"](once)
    return keras.Model(inputs, layers["add"]([once, twice]), name="shared"), layers


def test_keras_tensor_history_names_the_call_that_made_it():
    model, layers = shared_model()
    twice = layers["add"].input[1]
    meaning = "a (operation, node_index, tensor_index) record of the call that produced the tensor"
    history = _attribute(twice, "_keras_history", meaning)
    _require(
        getattr(history, "operation", None) is layers["dense"],
        "KerasTensor._keras_history.operation",
        "the layer whose call produced the tensor",
    )
    _require(
        getattr(history, "node_index", None) == 1,
        "KerasTensor._keras_history.node_index",
        "the index of that call in the layer's _inbound_nodes (1 for a layer's second call)",
    )


def test_inbound_nodes_are_the_calls_of_a_layer_in_order():
    model, layers = shared_model()
    nodes = _attribute(
        layers["dense"], "_inbound_nodes", "a list of one Node per call of the layer, in order"
    )
    _require(len(nodes) == 2, "Layer._inbound_nodes", "one Node per call (2 for a layer called twice)")
    first, second = nodes
    for name, meaning in (
        ("input_tensors", "the call's input KerasTensors"),
        ("parent_nodes", "the Nodes of the calls that produced those inputs"),
        ("operation", "the layer the Node is a call of"),
    ):
        _attribute(first, name, meaning)
    _require(
        _same(second.input_tensors, first.output_tensors),
        "Node.input_tensors",
        "the inputs of that call (the second call reads the first's output)",
    )
    _require(
        [node.operation for node in first.parent_nodes] == [layers["relu"]],
        "Node.parent_nodes",
        "the Nodes whose operation produced the call's inputs",
    )
    _require(first.operation is layers["dense"], "Node.operation", "the layer the Node is a call of")


def test_functional_nodes_key_the_calls_of_its_own_graph():
    model, layers = shared_model()
    truncated = keras.Model(model.inputs[0], layers["relu"].output, name="truncated")
    keys = _attribute(
        truncated, "_nodes", 'a set of "<id(layer)>_ib-<call index>" keys of its graph\'s calls'
    )
    relu, dense = layers["relu"], layers["dense"]
    _require(
        f"{id(relu)}_ib-0" in keys and not any(key.startswith(f"{id(dense)}_ib-") for key in keys),
        "Functional._nodes",
        'the "<id(layer)>_ib-<call index>" keys of the calls inside this model only (layers are shared '
        "with the models they were cut from)",
    )
    _require(
        {f"{id(dense)}_ib-0", f"{id(dense)}_ib-1"} <= model._nodes,
        "Functional._nodes",
        "one key per call, a shared layer's calls numbered in order",
    )


def test_producer_and_its_inputs():
    model, layers = shared_model()
    once, twice = layers["add"].input
    assert graph.producer(twice) is layers["dense"]
    assert _same(graph.producer_inputs(twice), [once])
    assert graph.producer(model.outputs[0]) is layers["add"]
    assert _same(graph.producer_inputs(model.outputs[0]), [once, twice])


def test_inbound_layers_over_every_call():
    model, layers = shared_model()
    assert graph.inbound_layers(layers["dense"]) == [layers["relu"], layers["dense"]]
    assert graph.inbound_layers(layers["add"]) == [layers["dense"], layers["dense"]]
    assert [layer.name for layer in graph.inbound_layers(layers["conv"])] == ["images"]


def test_calls_in_model_count_only_the_models_own_graph():
    model, layers = shared_model()
    calls = [(layer.name, len(inputs)) for layer, inputs in graph.calls_in_model(model)]
    assert calls == [("images", 0), ("conv", 1), ("relu", 1), ("dense", 1), ("dense", 1), ("add", 2)]
    truncated = graph.truncate(model, "relu")
    assert [layer.name for layer, _ in graph.calls_in_model(truncated)] == ["images", "conv", "relu"]


def test_truncate_shares_the_layers():
    model, layers = shared_model()
    truncated = graph.truncate(model, "dense")
    assert truncated.name == "shared_to_dense"
    assert truncated.get_layer("conv") is layers["conv"]
    assert graph.single_input(model) is model.inputs[0]


def test_single_input_refuses_two_inputs():
    first, second = keras.Input((2,), name="a"), keras.Input((2,), name="b")
    model = keras.Model([first, second], keras.layers.Add()([first, second]), name="pair")
    with pytest.raises(ValueError, match="one image input; 'pair' takes 2"):
        graph.single_input(model)


def test_resolve_and_pre_relu():
    model, _ = shared_model()
    assert graph.resolve_model_layer(model, "relu") == "relu"
    assert graph.layer_names(model) == ["images", "conv", "relu", "dense", "add"]
    assert graph.pre_relu_layer(model, "relu") == "conv"
    with pytest.raises(UnknownLayerError, match="relu"):
        graph.resolve_model_layer(model, "rel")
    with pytest.raises(ValueError, match="not a ReLU layer"):
        graph.pre_relu_layer(model, "conv")
