"""The TensorFlow-specific part of training: the optimizer step and inference.

Everything else in `visualizer.train` is backend-neutral. The step is one
``tf.function`` (tape, gradients, Adam), traced once per model.

Adam is applied with TensorFlow's fused ``ResourceApplyAdam`` kernel, the
same update as ``keras.optimizers.Adam`` (``lr * sqrt(1 - beta2^t) / (1 - beta1^t)``
scaling, epsilon outside the square root): tracing Keras's per-variable
update graph is slow for a network of InceptionV1's size, the fused op
traces in a fraction of that time (BENCHMARKS.md), and the optimizer state
stays plain variables that `visualizer.train.resume` saves as arrays.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

__all__ = ["Adam", "enable_determinism", "make_predict", "make_train_step"]

StepFunction = Callable[[np.ndarray, np.ndarray], tuple[float, float]]


def enable_determinism() -> None:
    """Make TensorFlow's kernels deterministic: same seed and data, same weights."""
    tf.config.experimental.enable_op_determinism()


def _handle(variable):
    """The resource handle of a Keras (or TF) variable."""
    inner = getattr(variable, "value", variable)  # a Keras variable wraps a tf.Variable
    return inner.handle if hasattr(inner, "handle") else variable.handle


class Adam:
    """Adam over a fixed list of variables (Keras's defaults: 0.9, 0.999, 1e-7).

    Args:
        variables: the trainable variables, in a fixed order.
        learning_rate: the constant step size.
    """

    def __init__(self, variables: list, learning_rate: float, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.targets = list(variables)
        self.learning_rate = float(learning_rate)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="adam_iterations")
        self.momentums = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.targets]
        self.velocities = [tf.Variable(tf.zeros(v.shape, v.dtype), trainable=False) for v in self.targets]

    @property
    def variables(self) -> list[tf.Variable]:
        """The optimizer state in a fixed order: iterations, momentums, velocities."""
        return [self.iterations, *self.momentums, *self.velocities]

    def get_state(self) -> list[np.ndarray]:
        """The state as arrays (for the resume file)."""
        return [v.numpy() for v in self.variables]

    def set_state(self, values: list[np.ndarray]) -> None:
        """Restore a state from `get_state`."""
        if len(values) != len(self.variables):
            raise ValueError(f"Optimizer state has {len(values)} arrays, expected {len(self.variables)}.")
        for variable, value in zip(self.variables, values):
            variable.assign(value)

    def apply(self, gradients: list[tf.Tensor]) -> None:
        """One update (inside a tf.function)."""
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        beta_1_power, beta_2_power = tf.pow(self.beta_1, t), tf.pow(self.beta_2, t)
        for variable, m, v, gradient in zip(self.targets, self.momentums, self.velocities, gradients):
            tf.raw_ops.ResourceApplyAdam(
                var=_handle(variable),
                m=m.handle,
                v=v.handle,
                beta1_power=beta_1_power,
                beta2_power=beta_2_power,
                lr=tf.constant(self.learning_rate, tf.float32),
                beta1=tf.constant(self.beta_1, tf.float32),
                beta2=tf.constant(self.beta_2, tf.float32),
                epsilon=tf.constant(self.epsilon, tf.float32),
                grad=gradient,
            )


def make_train_step(model: keras.Model, optimizer: Adam, multi_label: bool) -> StepFunction:
    """Build the training step of `model`: forward in training mode, loss, Adam.

    Batch normalization runs in training mode (batch statistics, moving
    statistics updated with the layers' momentum); no layer is frozen.

    Args:
        model: a model with softmax (or sigmoid, when `multi_label`) outputs.
        optimizer: the `Adam` over ``model.trainable_variables``.
        multi_label: binary cross-entropy averaged over the outputs (CelebA)
            instead of categorical cross-entropy.

    Returns:
        ``step(images, labels) -> (loss, batch metric)`` as Python floats.
    """
    if multi_label:
        loss_fn = keras.losses.BinaryCrossentropy()
    else:
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
    variables = model.trainable_variables

    @tf.function
    def step(images, labels):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            loss = loss_fn(labels, outputs)
        optimizer.apply(tape.gradient(loss, variables))
        if multi_label:
            hits = tf.cast(tf.equal(tf.cast(outputs > 0.5, tf.float32), labels), tf.float32)
        else:
            hits = tf.cast(tf.equal(tf.argmax(outputs, axis=-1), tf.cast(labels, tf.int64)), tf.float32)
        return loss, tf.reduce_mean(hits)

    def run(images: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
        loss, metric = step(tf.constant(images), tf.constant(labels))
        return float(loss), float(metric)

    return run


def make_predict(model: keras.Model) -> Callable[[np.ndarray], np.ndarray]:
    """Inference-mode outputs of `model` (batch norm on moving statistics)."""

    @tf.function
    def predict(images):
        return model(images, training=False)

    return lambda images: predict(tf.constant(images)).numpy()
