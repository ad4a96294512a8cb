"""Transfer models of any parent network: the parent cut at a feature map, with a new head.

The slim InceptionV1 keeps its own path (`visualizer.train.heads`: a fresh
network with the parent's base weights copied in by name). Any other parent
(a ``keras`` model, or a transfer of one) is cut at its last feature map or
at ``base_layer`` (`visualizer.models.own.feature_layer`), copied (layers and
weights, so the parent's loaded model is never trained), and given the
configured head: ``dense`` (global average pool, dense(1024, relu), dense(n))
or ``single_dense`` (global average pool, dense(n)), softmax, or sigmoid for
multi-label data, the head initialised from the global seed as InceptionV1's is.

A parent that holds a frozen graph's weights as variables (a ``frozen_graph``
model as `visualizer.models.frozen_source.frozen_parent_network` gives it, or
a transfer of one) is cut inside the graph, at a layer of its frozen
catalogue (`visualizer.models.frozen_source.frozen_base`), its weights copied.
"""

from __future__ import annotations

import difflib

import keras

from visualizer.models.frozen_source import frozen_base
from visualizer.models.frozen_trainable import frozen_graph_in
from visualizer.models.inception_v1 import DENSE_HEAD_UNITS
from visualizer.models.layers import UnknownLayerError
from visualizer.models.own import cut, feature_layer
from visualizer.train.heads import TRAINABLE_HEADS

__all__ = ["freeze_layers", "transfer_network", "with_head"]


def _free_name(model: keras.Model, name: str) -> str:
    taken = {layer.name for layer in model.layers}
    while name in taken:
        name += "_head"
    return name


def transfer_network(
    parent: keras.Model,
    num_classes: int,
    head: str,
    multi_label: bool,
    base_layer: str = "",
    source: str = "the parent",
) -> keras.Model:
    """A new model: `parent` up to its last feature map (or `base_layer`), copied, with a training head.

    Args:
        parent: the parent's final model (images in [0, 1]); it is not modified.
        num_classes: outputs of the head.
        head: one of `TRAINABLE_HEADS`.
        multi_label: sigmoid outputs instead of softmax.
        base_layer: a Keras layer name or catalogue name to cut at ("" : the last feature map);
            for a frozen graph an id, op or tensor name of its catalogue ("": its last layer).
        source: the parent's name, for messages.

    Raises:
        ValueError: an unknown head.
        UnknownLayerError: `base_layer` is not a layer of the parent (with close matches).
        NoChannelAxisError: `base_layer` is not a feature map.
    """
    if head not in TRAINABLE_HEADS:
        raise ValueError(f"Cannot train head {head!r}; valid heads: {', '.join(TRAINABLE_HEADS)}.")
    if frozen_graph_in(parent) is not None:  # a frozen graph's weights, as variables: cut in the graph
        base = frozen_base(parent, base_layer, source)
    else:
        cut_parent = cut(parent, feature_layer(parent, base_layer, source))
        base = keras.models.clone_model(cut_parent)
        base.set_weights(cut_parent.get_weights())
    return with_head(base, num_classes, head, multi_label, name=f"{parent.name}_transfer")


def with_head(base: keras.Model, num_classes: int, head: str, multi_label: bool, name: str) -> keras.Model:
    """`base` (a feature map out) with a training head: global average pool, [dense(1024, relu),] dense(n).

    Args:
        base: a model whose output is a feature map; its layers become the new model's.
        num_classes: outputs of the head.
        head: ``dense`` (with the hidden layer) or ``single_dense``.
        multi_label: sigmoid outputs instead of softmax.
        name: the new model's name.
    """
    x = keras.layers.GlobalAveragePooling2D(name=_free_name(base, "global_pool"))(base.output)
    if head == "dense":
        x = keras.layers.Dense(DENSE_HEAD_UNITS, activation="relu", name=_free_name(base, "dense_hidden"))(x)
    activation = "sigmoid" if multi_label else "softmax"
    outputs = keras.layers.Dense(num_classes, activation=activation, name=_free_name(base, "predictions"))(x)
    return keras.Model(base.inputs, outputs, name=name)


def freeze_layers(model: keras.Model, names: list[str], source: str = "the model") -> None:
    """Mark the named layers not trainable (a frozen batch norm also keeps its statistics).

    Raises:
        UnknownLayerError: a name is not a layer of `model`; the message gives close matches.
    """
    layers = {layer.name: layer for layer in model.layers}
    for name in names:
        if name not in layers:
            close = difflib.get_close_matches(name, layers, n=5, cutoff=0.6)
            error = UnknownLayerError(name, close)
            hint = (
                f"close matches: {', '.join(close)}"
                if close
                else f"its layers: {', '.join(list(layers)[:12])}, ..."
            )
            error.args = (f"freeze: unknown layer {name!r} in {source}; {hint}.",)
            raise error
        layers[name].trainable = False
