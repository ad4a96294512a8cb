"""Tiny hand-built Keras models for the renderer tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest


def tiny_model(seed: int = 0) -> keras.Model:
    """Two small convs with named ReLUs (one fused ``activation="relu"``), any input size."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3), name="images")
    x = keras.layers.Conv2D(
        6, 3, activation="relu", bias_initializer=keras.initializers.Constant(0.1), name="conv1"
    )(inputs)
    x = keras.layers.Conv2D(5, 3, strides=2, bias_initializer="ones", name="conv2")(x)
    x = keras.layers.ReLU(name="relu2")(x)
    return keras.Model(inputs, x, name="tiny")


@pytest.fixture(scope="session")
def tiny() -> keras.Model:
    """A shared `tiny_model`."""
    return tiny_model()


def gradient(fn, x: np.ndarray) -> np.ndarray:
    """d sum(fn(x)) / dx on the active backend (TensorFlow in these tests)."""
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(fn(x))
    return tape.gradient(y, x).numpy()
