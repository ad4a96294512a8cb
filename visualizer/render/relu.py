"""Lucid's redirected ReLU gradient (``lucid/misc/redirected_relu_grad.py``).

Early in an optimization a channel can be dead: every pre-activation
negative, so the ReLU passes no gradient and the image never moves. The
redirected gradient lets through the components that would raise a
negative pre-activation (for the minimized loss: negative gradients), but
only for batch elements whose ordinary ReLU gradient is all zero. Lucid
uses it while its global step is at most 16 (17 updates), on every ReLU of
the model; `redirect_relu_gradients` makes such a copy of a Keras model, and
the renderer switches to the plain model afterwards.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers as kl
from keras import ops

__all__ = [
    "RedirectedActivation",
    "RedirectedReLU",
    "clipped_relu",
    "is_relu",
    "redirect_relu_gradients",
    "redirected_gradient",
    "redirected_relu",
    "replace_relu",
]

Tensor = Any


def redirected_relu(x: Tensor, max_value: float | None = None) -> Tensor:
    """ReLU (or ReLU6 with ``max_value=6``) whose gradient is Lucid's redirected one.

    Args:
        x: pre-activations; axis 0 is the batch.
        max_value: upper clip, as ``relu6``; None for a plain ReLU.

    Returns:
        ``relu(x)`` (clipped at `max_value`), with the redirected gradient.
    """

    @ops.custom_gradient
    def forward(x: Tensor) -> tuple[Tensor, Any]:
        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args
            return redirected_gradient(x, upstream, max_value)

        return clipped_relu(x, max_value), grad

    return forward(x)


def clipped_relu(x: Tensor, max_value: float | None = None) -> Tensor:
    """``relu(x)``, clipped at `max_value` where one is given (ReLU6)."""
    return ops.relu(x) if max_value is None else ops.clip(x, 0.0, max_value)


def redirected_gradient(x: Tensor, upstream: Tensor, max_value: float | None = None) -> Tensor:
    """Lucid's redirected gradient of a ReLU (ReLU6 with ``max_value=6``) at pre-activations `x`.

    The ReLU's own gradient for batch elements where it is not all zero;
    elsewhere `upstream`, except the components that would push a
    pre-activation further out of the ReLU's range.
    """
    zeros = ops.zeros_like(upstream)
    blocked = x < 0
    # Components that would push a negative pre-activation further down.
    wrong_way = blocked & (upstream > 0)
    if max_value is not None:
        blocked = blocked | (x > max_value)
        wrong_way = wrong_way | ((x > max_value) & (upstream < 0))
    relu_grad = ops.where(blocked, zeros, upstream)
    redirected = ops.where(wrong_way, zeros, upstream)
    axes = tuple(range(1, len(x.shape)))
    alive = ops.max(ops.abs(relu_grad), axis=axes, keepdims=True) > 0
    return ops.where(alive, relu_grad, redirected)


def is_relu(activation: Any) -> bool:
    """Whether a Keras activation (function or name) is the plain ReLU."""
    if isinstance(activation, str):
        return activation == "relu"
    return getattr(activation, "__name__", None) == "relu"


class RedirectedReLU(kl.Layer):
    """A ReLU layer with Lucid's redirected gradient.

    Args:
        max_value: upper clip (6 for ReLU6), or None.
        **kwargs: `keras.layers.Layer` arguments (name, dtype).
    """

    relu = staticmethod(redirected_relu)  # the ReLU with its gradient; subclasses swap in another

    def __init__(self, max_value: float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.max_value = max_value

    def call(self, inputs: Tensor) -> Tensor:
        return self.relu(inputs, self.max_value)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value}


class RedirectedActivation(kl.Layer):
    """Runs a layer with a fused ``activation="relu"`` linearly, then the redirected ReLU.

    The wrapped layer object (and so its weights) is shared with the
    original model.

    Args:
        layer: a built layer whose ``activation`` is ReLU (Conv2D, Dense, ...).
        **kwargs: `keras.layers.Layer` arguments.
    """

    relu = staticmethod(redirected_relu)  # the ReLU with its gradient; subclasses swap in another

    def __init__(self, layer: kl.Layer, **kwargs: Any):
        super().__init__(**kwargs)
        self.inner = layer

    def call(self, inputs: Tensor) -> Tensor:
        activation = self.inner.activation
        # The layer's own call applies self.activation last; run it linear once.
        self.inner.activation = keras.activations.linear
        try:
            outputs = self.inner.call(inputs)
        finally:
            self.inner.activation = activation
        return self.relu(outputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.inner.compute_output_shape(input_shape)


def replace_relu(
    layer: kl.Layer,
    relu_layer: type[RedirectedReLU] = RedirectedReLU,
    activation_layer: type[RedirectedActivation] = RedirectedActivation,
) -> kl.Layer:
    """`layer`'s stand-in with another ReLU gradient, or `layer` itself where it applies no plain ReLU.

    ReLU layers (and ReLU6) and ``Activation("relu")`` become `relu_layer`;
    a layer with ``activation="relu"`` is wrapped in `activation_layer`,
    which shares its weights.
    """
    if isinstance(layer, kl.ReLU):
        plain = not layer.negative_slope and not layer.threshold
        if plain and layer.max_value in (None, 6):
            return relu_layer(max_value=layer.max_value, name=layer.name)
        return layer
    if isinstance(layer, kl.Activation) and is_relu(layer.activation):
        return relu_layer(name=layer.name)
    if not isinstance(layer, kl.Activation) and is_relu(getattr(layer, "activation", None)):
        return activation_layer(layer, name=layer.name)
    return layer


def _swap(layer: kl.Layer) -> kl.Layer:
    if hasattr(layer, "with_redirected_relu"):  # e.g. an imported frozen graph
        return layer.with_redirected_relu()
    return replace_relu(layer)


def redirect_relu_gradients(model: keras.Model) -> keras.Model:
    """Copy a functional model with every ReLU's gradient redirected.

    ReLU layers (and ReLU6), ``Activation("relu")`` layers and layers with
    ``activation="relu"`` are replaced; every other layer is the same
    object, so weights are shared and nothing is copied.

    Args:
        model: a functional or sequential Keras model.

    Returns:
        The new model, same inputs and outputs.
    """
    return keras.models.clone_model(model, clone_function=_swap, recursive=True)
