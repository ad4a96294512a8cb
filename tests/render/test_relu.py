"""Tests for visualizer.render.relu: Lucid's redirected ReLU gradient."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from tests.render.conftest import gradient
from visualizer.render import ChannelRenderer, ImageSettings, ObjectiveSettings, TransformSettings
from visualizer.render.relu import (
    RedirectedActivation,
    RedirectedReLU,
    redirect_relu_gradients,
    redirected_relu,
)


def dead_channel_model() -> keras.Model:
    """conv -> ReLU where channel 0 is dead on [0, 1] images (bias -10) and channel 1 alive."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(2, 1, name="conv")
    x = keras.layers.ReLU(name="relu")(conv(inputs))
    model = keras.Model(inputs, x)
    kernel = np.array([[1.0, 1.0], [-1.0, 1.0], [0.5, 1.0]], dtype="float32").reshape(1, 1, 3, 2)
    conv.set_weights([kernel, np.array([-10.0, 0.0], dtype="float32")])
    return model


def test_rule_per_batch_element():
    """Alive elements get the plain gradient; dead ones keep only components that raise x."""
    x = tf.constant([[-1.0, -2.0, 3.0], [-1.0, -2.0, -3.0]])
    upstream = np.array([[0.5, -0.5, 0.2], [0.5, -0.5, 0.2]], dtype="float32")
    got = gradient(lambda t: redirected_relu(t) * upstream, x.numpy())
    np.testing.assert_allclose(got, [[0.0, 0.0, 0.2], [0.0, -0.5, 0.0]])


def test_relu6_rule():
    """With max_value=6 pushes above 6 are blocked too, and only wrong-way pushes when dead."""
    x = np.array([[7.0, 8.0, -1.0]], dtype="float32")
    upstream = np.array([[0.3, -0.3, -0.2]], dtype="float32")
    got = gradient(lambda t: redirected_relu(t, 6.0) * upstream, x)
    np.testing.assert_allclose(got, [[0.3, 0.0, -0.2]])


def test_dead_channel_gets_redirected_gradient():
    """The plain gradient of a dead channel is zero; the redirected one is not."""
    model = dead_channel_model()
    images = np.random.default_rng(0).random((2, 5, 5, 3)).astype("float32")
    plain = gradient(lambda x: -model(x)[..., 0], images)
    redirected = gradient(lambda x: -redirect_relu_gradients(model)(x)[..., 0], images)
    assert np.abs(plain).max() == 0
    assert np.abs(redirected).min() > 0
    alive = gradient(lambda x: -model(x)[..., 1], images)
    np.testing.assert_allclose(gradient(lambda x: -redirect_relu_gradients(model)(x)[..., 1], images), alive)


def test_swaps_every_relu_and_shares_weights(tiny):
    """ReLU layers and fused activation="relu" are replaced; other layers are the same objects."""
    clone = redirect_relu_gradients(tiny)
    assert isinstance(clone.get_layer("relu2"), RedirectedReLU)
    wrapped = clone.get_layer("conv1")
    assert isinstance(wrapped, RedirectedActivation) and wrapped.inner is tiny.get_layer("conv1")
    assert clone.get_layer("conv2") is tiny.get_layer("conv2")
    images = np.random.default_rng(0).random((1, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(clone(images).numpy(), tiny(images).numpy(), atol=1e-6)


def renderer(model: keras.Model, redirect_steps: int | None = 16) -> ChannelRenderer:
    """A 16 px renderer of layer ``relu`` without transforms."""
    objective = ObjectiveSettings(relu_redirect_steps=redirect_steps)
    return ChannelRenderer(model, "relu", ImageSettings(size=16), TransformSettings([]), objective)


def test_redirect_only_for_first_17_updates(monkeypatch):
    """The renderer uses the redirected model (the loop's warm-up) for updates 0..16, the plain one after."""
    redirecting = renderer(dead_channel_model())
    used = []
    original = redirecting.loop.step_loss

    def spy(warm):
        used.append(warm)
        return original(warm)

    monkeypatch.setattr(redirecting.loop, "step_loss", spy)
    result = redirecting.render([0], steps=20, progress=False)
    assert used == [True] * 17 + [False] * 3
    assert not result.failed


def test_dead_channel_moves_only_with_redirect():
    """A dead channel's image changes with the redirect and stays at its start without it."""
    model = dead_channel_model()
    start = renderer(model).render([0], steps=1, progress=False)
    moved = renderer(model).render([0], steps=10, progress=False)
    frozen = renderer(model, None).render([0], steps=10, progress=False)
    loop = renderer(model, None).loop
    init_image = loop.parameterization.images(loop.initial([0], seed=0)).numpy()
    np.testing.assert_allclose(frozen.images, init_image, atol=1e-7)
    assert np.abs(moved.images - init_image).max() > 10 * np.abs(start.images - init_image).max() > 0
