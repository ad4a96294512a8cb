"""Nested Keras models flattened into one functional graph of fresh layers.

Fine-tuned networks often hold a whole ``keras.applications`` base as one
layer (``x = base(inputs)``), and some architectures nest ``Sequential``
blocks (ConvNeXt's stem and downsampling layers). The catalogue, truncation
and the fused renderer see a model's own layers only, so `rebuild_flat`
replaces every nested functional or ``Sequential`` model, at any depth, by
its layers, called on the tensors the nested model was called on.

Every layer of the result is a fresh copy (``from_config``) carrying the
original's weights, so the result shares nothing with the model it came from
and ``layer.output`` is the new graph's tensor.

Names: the outer model's own layers keep theirs. A nested layer keeps its own
name unless that name is already taken (by an outer layer or a layer flattened
before it); then it becomes ``<nested model name>_<name>``, numbered
``_2``, ``_3``, ... if that is taken too. The nested models themselves are
gone: `nested_outputs` says which layer now gives each one's output.

It walks each nested graph with `visualizer.models.graph.run_through_graph`
(Keras's own walk, the one ``keras.models.clone_model`` uses);
``tests/models/test_nested_models.py`` fails if it changes.

A ``training=`` argument the nested model was called with (``base(x,
training=False)`` keeps a fine-tuned base's batch norms in inference mode) is
passed on to each of its layers that takes one.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import keras

from visualizer.models.graph import producer, run_through_graph

__all__ = ["has_nested_models", "nested_outputs", "rebuild_flat"]

CallFunction = Callable[..., Any]

# Set on a flattened model: nested model name -> the layer that now computes its output.
_NESTED_ATTRIBUTE = "_vtl_nested_outputs"


def has_nested_models(model: keras.Model) -> bool:
    """Whether any layer of `model` is itself a Keras model."""
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def nested_outputs(model: keras.Model) -> dict[str, str]:
    """For a model made by `rebuild_flat`: each flattened nested model's name -> its output layer's name."""
    return dict(getattr(model, _NESTED_ATTRIBUTE, {}))


def _takes_training(layer: keras.layers.Layer) -> bool:
    try:
        return "training" in inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False


class _Flattener:
    """One rebuild: the fresh layers made so far, their originals, and the names taken."""

    def __init__(self, model: keras.Model, call: CallFunction | None) -> None:
        self.call = call or (lambda layer, *args, **kwargs: layer(*args, **kwargs))
        self.taken = {layer.name for layer in model.layers if not isinstance(layer, keras.Model)}
        self.clones: dict[int, keras.layers.Layer] = {}
        self.pairs: list[tuple[keras.layers.Layer, keras.layers.Layer]] = []
        self.nested: dict[str, str] = {}

    def clone(self, layer: keras.layers.Layer, scope: str = "") -> keras.layers.Layer:
        """A fresh copy of `layer` (one per original, so shared layers stay shared)."""
        if isinstance(layer, keras.Model):
            return layer  # flattened where it is called
        if id(layer) not in self.clones:
            config = layer.get_config()
            if scope:  # a nested layer: its own name unless that is taken
                name, candidate, number = layer.name, layer.name, 1
                while candidate in self.taken:
                    number += 1
                    candidate = f"{scope}_{name}" if number == 2 else f"{scope}_{name}_{number - 1}"
                config["name"] = candidate
                self.taken.add(candidate)
            fresh = layer.__class__.from_config(config)
            self.clones[id(layer)] = fresh
            self.pairs.append((layer, fresh))
        return self.clones[id(layer)]

    def run(self, model: keras.Model, inputs: Any, scope: str = "", training: bool | None = None) -> Any:
        """`model`'s graph on `inputs`, every nested model replaced by its layers."""

        def call(layer: keras.layers.Layer, *args: Any, **kwargs: Any) -> Any:
            if isinstance(layer, keras.Model):
                inner_training = kwargs.get("training", training)
                return self.nested_call(layer, args[0] if len(args) == 1 else list(args), inner_training)
            if training is not None and "training" not in kwargs and _takes_training(layer):
                kwargs["training"] = training
            return self.call(layer, *args, **kwargs)

        if isinstance(model, keras.Sequential):
            tensor = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
            for layer in model.layers:
                if not isinstance(layer, keras.layers.InputLayer):
                    tensor = call(self.clone(layer, scope), tensor)
            return tensor
        # Keras's own graph walk (what `clone_model` runs), on tensors of the outer graph: `clone_model`
        # itself would build each nested graph as a model whose inputs are not `Input`s.
        outputs = run_through_graph(model, inputs, lambda layer: self.clone(layer, scope), call)
        return outputs[0] if isinstance(outputs, (list, tuple)) and len(outputs) == 1 else outputs

    def nested_call(self, model: keras.Model, inputs: Any, training: bool | None) -> Any:
        """A nested model's layers, called on `inputs` (the tensors the model was called on)."""
        outputs = self.run(model, inputs, scope=model.name, training=training)
        last = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
        self.nested.setdefault(model.name, producer(last).name)
        return outputs

    def copy_weights(self) -> None:
        """Give every fresh layer its original's weights."""
        for original, fresh in self.pairs:
            if getattr(original, "weights", None):  # keras.ops calls in a graph have none
                fresh.set_weights(original.get_weights())


def rebuild_flat(
    model: keras.Model,
    inputs: Any = None,
    call: CallFunction | None = None,
    copy_weights: bool = True,
) -> keras.Model:
    """`model` rebuilt from fresh layers on `inputs`, nested models replaced by their layers.

    Args:
        model: a functional or ``Sequential`` Keras model.
        inputs: the new input tensors (the structure of ``model.input``);
            None for new inputs of the same shapes.
        call: ``call(layer, *args, **kwargs)`` calls each fresh layer (to
            substitute a tensor, say); None calls it as it is.
        copy_weights: give the fresh layers the original weights (False for a
            catalogue, which needs the graph only).

    Returns:
        A functional model with `model`'s name; `nested_outputs` gives where
        each flattened model's output now is.
    """
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    if inputs is None:
        inputs = [keras.Input(batch_shape=tensor.shape, dtype=tensor.dtype) for tensor in model.inputs]
        if not isinstance(model.input, (list, tuple)):
            inputs = inputs[0]
    flattener = _Flattener(model, call)
    rebuilt = keras.Model(inputs, flattener.run(model, inputs), name=model.name)
    if copy_weights:
        flattener.copy_weights()
    object.__setattr__(rebuilt, _NESTED_ATTRIBUTE, flattener.nested)  # plain data, not tracked by Keras
    return rebuilt
