"""The update rule: Keras's own Adam with Lucid's settings.

Lucid optimizes with TF1's ``tf.train.AdamOptimizer(0.05)``: beta1 0.9,
beta2 0.999 and epsilon 1e-8 added to ``sqrt(v)`` after the bias correction
has been folded into the step size ("epsilon hat"). Keras 3's Adam performs
that same update (``alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)``,
``m += (g - m) * (1 - beta_1)``, ``v += (g^2 - v) * (1 - beta_2)``,
``x -= alpha * m / (sqrt(v) + epsilon)``, the arithmetic of TF1's
``ApplyAdam`` kernel); only its default epsilon differs (1e-7), so `lucid_adam`
passes 1e-8. `visualizer.render.backend` applies the optimizer inside each
backend's compiled step.
"""

from __future__ import annotations

import keras
import numpy as np

__all__ = ["LUCID_LEARNING_RATE", "clone", "describe", "lucid_adam"]

LUCID_LEARNING_RATE = 0.05
_DESCRIBED = ("learning_rate", "beta_1", "beta_2", "epsilon", "momentum", "rho")


def lucid_adam(learning_rate: float = LUCID_LEARNING_RATE) -> keras.optimizers.Adam:
    """Keras's Adam with TF1's (Lucid's) settings: betas 0.9 and 0.999, epsilon 1e-8.

    Args:
        learning_rate: the step size (Lucid: 0.05).

    Returns:
        A new, unbuilt ``keras.optimizers.Adam``.
    """
    return keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def clone(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    """A fresh, unbuilt optimizer with `optimizer`'s class and settings (the template is never built)."""
    return type(optimizer).from_config(optimizer.get_config())


def describe(optimizer: keras.optimizers.Optimizer) -> str:
    """The optimizer and its hyper-parameters as text for a render's settings.

    Returns:
        For `lucid_adam`: ``"Adam(learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-08)"``.
    """
    config = optimizer.get_config()
    # Keras keeps the learning rate in a float32 variable: print float32's shortest form (0.05).
    parts = [
        f"{name}={str(np.float32(config[name])) if isinstance(config[name], float) else config[name]}"
        for name in _DESCRIBED
        if name in config
    ]
    return f"{type(optimizer).__name__}({', '.join(parts)})"
