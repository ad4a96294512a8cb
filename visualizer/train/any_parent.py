"""Transfer models of any parent network: the parent cut at a feature map, with a new head.

The slim InceptionV1 keeps its own path (`visualizer.train.heads`: a fresh
network with the parent's base weights copied in by name). Any other parent
(a ``keras`` model, or a transfer of one) is cut at its last feature map or
at ``base_layer`` (`visualizer.models.own.feature_layer`), copied (layers and
weights, so the parent's loaded model is never trained), and given the
configured head: ``dense`` (global average pool, dense(1024, relu), dense(n))
or ``single_dense`` (global average pool, dense(n)), softmax, or sigmoid for
multi-label data, the head initialised from the global seed as InceptionV1's is.
"""

from __future__ import annotations

import difflib

import keras

from visualizer.models.inception_v1 import DENSE_HEAD_UNITS
from visualizer.models.layers import UnknownLayerError
from visualizer.models.own import cut, feature_layer
from visualizer.train.heads import TRAINABLE_HEADS

__all__ = ["freeze_layers", "transfer_network"]


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
        base_layer: a Keras layer name or catalogue name to cut at ("" : the last feature map).
        source: the parent's name, for messages.

    Raises:
        ValueError: an unknown head.
        UnknownLayerError: `base_layer` is not a layer of the parent (with close matches).
        NoChannelAxisError: `base_layer` is not a feature map.
    """
    if head not in TRAINABLE_HEADS:
        raise ValueError(f"Cannot train head {head!r}; valid heads: {', '.join(TRAINABLE_HEADS)}.")
    base = cut(parent, feature_layer(parent, base_layer, source))
    copy = keras.models.clone_model(base)
    copy.set_weights(base.get_weights())
    x = keras.layers.GlobalAveragePooling2D(name=_free_name(copy, "global_pool"))(copy.output)
    if head == "dense":
        x = keras.layers.Dense(DENSE_HEAD_UNITS, activation="relu", name=_free_name(copy, "dense_hidden"))(x)
    activation = "sigmoid" if multi_label else "softmax"
    outputs = keras.layers.Dense(num_classes, activation=activation, name=_free_name(copy, "predictions"))(x)
    return keras.Model(copy.inputs, outputs, name=f"{parent.name}_transfer")


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
