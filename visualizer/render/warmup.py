"""Lucid's redirected ReLU gradient behind a switch: one network and one compiled step for both phases.

`visualizer.render.relu` copies a network with every ReLU's gradient
redirected, and the renderer switches networks after the first 17 updates:
two losses, so a compiler that specializes on the function (``jax.jit``)
compiles the step twice per shape. `switch_relu_gradients` copies a network
whose ReLUs read a *switch* instead, a boolean tensor that the step passes
in (`warmup_switch`): on, their gradient is the redirected one
(`visualizer.render.relu.redirected_relu`'s); off, the plain ReLU's. The
values are the ReLU's either way. One step then serves both phases, at the
price of a few elementwise operations per ReLU in the plain phase.

The switch is read when the network is called (traced), from a context
that the loss sets around the call; a network called outside one behaves
as a plain ReLU network.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import keras
from keras import layers as kl
from keras import ops

from visualizer.render.relu import (
    RedirectedActivation,
    RedirectedReLU,
    clipped_relu,
    redirected_gradient,
    replace_relu,
)

__all__ = ["SwitchedActivation", "SwitchedReLU", "switch_relu_gradients", "switched_relu", "warmup_switch"]

Tensor = Any

_STATE = threading.local()


@contextlib.contextmanager
def warmup_switch(warm: Tensor) -> Iterator[None]:
    """Within the block, switched ReLUs redirect their gradient where the scalar bool `warm` is true."""
    previous = getattr(_STATE, "warm", None)
    _STATE.warm = warm
    try:
        yield
    finally:
        _STATE.warm = previous


def switched_relu(x: Tensor, max_value: float | None = None) -> Tensor:
    """ReLU (ReLU6 with ``max_value=6``) whose gradient is Lucid's redirected one while the switch is on.

    Args:
        x: pre-activations; axis 0 is the batch.
        max_value: upper clip, or None.

    Returns:
        ``relu(x)`` (clipped at `max_value`).
    """
    warm = getattr(_STATE, "warm", None)
    if warm is None:
        return clipped_relu(x, max_value)

    @ops.custom_gradient
    def forward(x: Tensor) -> tuple[Tensor, Any]:
        y = clipped_relu(x, max_value)

        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args

            def plain() -> Tensor:
                passes = x > 0 if max_value is None else (x > 0) & (x < max_value)
                return ops.where(passes, upstream, ops.zeros_like(upstream))

            def redirected() -> Tensor:
                return redirected_gradient(x, upstream, max_value)

            # A branch, not a blend: the plain phase pays for the plain gradient only.
            return ops.cond(ops.reshape(warm, ()), redirected, plain)

        return y, grad

    return forward(x)


class SwitchedReLU(RedirectedReLU):
    """A ReLU layer with the switched gradient (`switched_relu`).

    Args:
        max_value: upper clip (6 for ReLU6), or None.
        **kwargs: `keras.layers.Layer` arguments.
    """

    relu = staticmethod(switched_relu)


class SwitchedActivation(RedirectedActivation):
    """Runs a layer with a fused ``activation="relu"`` linearly, then the switched ReLU (shares the layer).

    Args:
        layer: a built layer whose ``activation`` is ReLU.
        **kwargs: `keras.layers.Layer` arguments.
    """

    relu = staticmethod(switched_relu)


class _NoSwitch(Exception):
    """A layer redirects its ReLUs its own way (a frozen graph): no switched copy."""


def _swap(layer: kl.Layer) -> kl.Layer:
    if hasattr(layer, "with_redirected_relu"):
        raise _NoSwitch(layer.name)
    return replace_relu(layer, SwitchedReLU, SwitchedActivation)


def switch_relu_gradients(model: keras.Model) -> keras.Model | None:
    """Copy a functional model with every ReLU switched (see the module docstring).

    Layers other than ReLUs are the same objects, so weights are shared.

    Args:
        model: a functional Keras model.

    Returns:
        The copy, or None where a layer handles its ReLUs itself (an
        imported frozen graph's ``with_redirected_relu``).
    """
    try:
        return keras.models.clone_model(model, clone_function=_swap, recursive=True)
    except _NoSwitch:
        return None
