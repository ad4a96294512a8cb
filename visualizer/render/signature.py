"""What makes two networks compute the same function of their weights: the key of a shared JAX step.

A compiled JAX step takes the network's weights as arguments
(`visualizer.render.backend`), so two networks that differ only in their
weights (every model and snapshot of one architecture) can run one compiled
step. `network_signature` names that function: each layer's class,
configuration and connections, and each variable's shape and dtype, in
order. It gives None, and the renderer then shares nothing, where a layer's
behaviour might not be described by its configuration: a class from
outside Keras and this project's own modules (an imported frozen graph, a
user's custom layer), or a configuration that cannot be read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import keras

from visualizer.models.graph import calls_in_model, producer

__all__ = ["network_signature"]

_KNOWN_MODULES = ("keras.", "visualizer.render.", "visualizer.models.inception_v1")


class _Unknown(Exception):
    """A layer whose configuration does not describe its behaviour."""


def _describe(layer: Any) -> dict:
    """A layer's class and configuration (names apart), with the layers it wraps."""
    kind = type(layer)
    if not kind.__module__.startswith(_KNOWN_MODULES):
        raise _Unknown(kind.__qualname__)
    try:
        config = layer.get_config()
    except (NotImplementedError, TypeError, ValueError) as error:
        if not kind.__module__.startswith("visualizer.render."):
            raise _Unknown(kind.__qualname__) from error
        # The renderer's wrappers (fused convolutions, switched ReLUs) are their class and what they wrap.
        config = {}
    # Names only label layers (Keras numbers the automatic ones of later models).
    config = {key: value for key, value in config.items() if key != "name"}
    described = {"class": f"{kind.__module__}.{kind.__qualname__}", "config": config}
    for name in ("conv", "norm", "inner", "pool"):  # fused convolutions, switched ReLUs, fast pools
        wrapped = getattr(layer, name, None)
        if isinstance(wrapped, keras.layers.Layer):
            described[name] = _describe(wrapped)
    return described


def network_signature(model: keras.Model) -> str | None:
    """A digest of `model`'s computation as a function of its weights, or None when it cannot be told.

    Args:
        model: a functional Keras model.

    Returns:
        A hex digest (equal for two models of one architecture, whatever
        their weights), or None (see the module docstring).
    """
    calls = list(calls_in_model(model))
    # Connections by position in the call order, not by (possibly numbered) name.
    position = {id(layer): index for index, (layer, _) in enumerate(calls)}

    def source(tensor: keras.KerasTensor) -> int:
        return position.get(id(producer(tensor)), -1)  # -1: a model input

    try:
        layers = [(_describe(layer), [source(tensor) for tensor in inputs]) for layer, inputs in calls]
    except _Unknown:
        return None
    variables = [(tuple(v.shape), str(v.dtype)) for v in model.variables]
    outputs = [source(tensor) for tensor in model.outputs]
    text = json.dumps([layers, variables, outputs], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
