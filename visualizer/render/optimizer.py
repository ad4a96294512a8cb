"""Adam with TensorFlow 1's update rule, as pure `keras.ops` functions.

Lucid optimizes with ``tf.train.AdamOptimizer(0.05)``: beta1 0.9, beta2
0.999 and epsilon 1e-8 added to ``sqrt(v)`` after the bias correction has
been folded into the learning rate ("epsilon hat"). Keras' Adam defaults to
epsilon 1e-7, so the renderer keeps its own few lines instead; being pure
functions of their inputs, they compile on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keras import ops

__all__ = ["Adam"]

Tensor = Any


@dataclass(frozen=True)
class Adam:
    """TF1 Adam hyper-parameters (Lucid's defaults).

    Attributes:
        learning_rate: step size (Lucid: 0.05).
        beta_1: first-moment decay.
        beta_2: second-moment decay.
        epsilon: TF1's "epsilon hat" (not Keras' 1e-7).
    """

    learning_rate: float = 0.05
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def update(
        self, params: Tensor, grad: Tensor, m: Tensor, v: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """One descent update.

        Args:
            params: current parameters.
            grad: gradient of the minimized loss.
            m: first moment.
            v: second moment.
            t: the update's 1-based count (float scalar).

        Returns:
            ``(params, m, v)`` after the update.
        """
        t = ops.cast(t, "float32")
        lr_t = self.learning_rate * ops.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        m = self.beta_1 * m + (1.0 - self.beta_1) * grad
        v = self.beta_2 * v + (1.0 - self.beta_2) * grad * grad
        return params - lr_t * m / (ops.sqrt(v) + self.epsilon), m, v
