"""Tests for visualizer.render.fused: the rendering copy is the same function with the same input gradient."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers as kl

from visualizer.models import inception_v1
from visualizer.render import ChannelRenderer, ComputeSettings, ImageSettings, ObjectiveSettings
from visualizer.render import objectives as obj
from visualizer.render.fused import (
    FAST_GRADIENT_MIN_BATCH,
    ChannelSelectedConv2D,
    FusedConv2D,
    Passthrough,
    conv_same,
    conv_strided_same,
    fuse_for_rendering,
    refresh_fused,
    select_target_channels,
)


def _randomize_norms(model: keras.Model, seed: int) -> None:
    """Give every batch norm statistics far from the identity, so a wrong fold shows."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.3, 3.0, weight.shape))
        elif "moving_mean" in weight.path or "beta" in weight.path or "gamma" in weight.path:
            weight.assign(rng.normal(0.1, 0.4, weight.shape))


def _responsive_weights(model: keras.Model, seed: int) -> None:
    """He-scaled kernels and varied batch-norm variances, so that every channel responds."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if weight.path.endswith("kernel") and len(weight.shape) == 4:
            fan_in = int(np.prod(weight.shape[:3]))
            weight.assign(rng.normal(0, np.sqrt(2 / fan_in), weight.shape))
        elif "moving_variance" in weight.path:
            weight.assign(rng.uniform(0.5, 2.0, weight.shape))


def _assert_same_optimization(values: np.ndarray, reference: np.ndarray) -> None:
    """Two renders of the same objective reach the same values.

    Float rounding (a fold, a narrower convolution, oneDNN's kernel choice)
    can flip a ReLU early and send one channel's optimization to a nearby
    optimum a few percent away, so most channels must agree to 1% and none
    may be off by more than 15%; a wrong function would miss both.
    """
    gaps = np.abs(values - reference) / np.abs(reference)
    assert np.median(gaps) < 0.01, gaps
    assert gaps.max() < 0.15, gaps


def _value_and_input_gradient(net: keras.Model, images: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = net(images, training=False)
        weights = tf.sin(tf.range(outputs.shape[-1], dtype=outputs.dtype))
        loss = tf.reduce_sum(outputs * weights)
    return outputs.numpy(), tape.gradient(loss, images).numpy()


@pytest.fixture
def float64():
    """Build models in float64 for the duration of a test (floatx and the global dtype policy)."""
    floatx, policy = keras.config.floatx(), keras.config.dtype_policy().name
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    yield
    keras.config.set_floatx(floatx)
    keras.config.set_dtype_policy(policy)


@pytest.mark.parametrize("layer", ["Conv2d_2c_3x3", "Mixed_3c", "Mixed_4b_Branch_2_b_3x3"])
def test_inception_fused_equals_original_in_float64(float64, layer):
    """Values and input gradients of the fused InceptionV1 match the original to float64 rounding."""
    keras.utils.set_random_seed(1)
    model = inception_v1.build(head="dense", width=0.25)
    _randomize_norms(model, 1)
    truncated = keras.Model(model.inputs[0], model.get_layer(layer).output)
    fused = fuse_for_rendering(truncated)
    # Batch 2 takes the forward-convolution gradient; batch 1 TensorFlow's own.
    assert FAST_GRADIENT_MIN_BATCH <= 2
    images = tf.random.stateless_uniform([2, 83, 96, 3], [1, 2], dtype=tf.float64)
    value, gradient = _value_and_input_gradient(truncated, images)
    fused_value, fused_gradient = _value_and_input_gradient(fused, images)
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(fused_value, value, rtol=0, atol=1e-12 * np.abs(value).max())
    assert np.linalg.norm(fused_gradient - gradient) <= 1e-12 * np.linalg.norm(gradient)


def test_inception_fused_values_in_float32():
    """In float32 the fused network's values agree to float rounding."""
    keras.utils.set_random_seed(2)
    model = inception_v1.build(head="dense", width=0.25)
    _randomize_norms(model, 2)
    truncated = keras.Model(model.inputs[0], model.get_layer("Mixed_4d_Branch_2_b_3x3").output)
    images = tf.random.stateless_uniform([2, 96, 96, 3], [3, 4])
    value = truncated(images, training=False).numpy()
    fused_value = fuse_for_rendering(truncated)(images, training=False).numpy()
    np.testing.assert_allclose(fused_value, value, rtol=0, atol=1e-5 * np.abs(value).max())


def test_every_conv_norm_pair_of_inception_is_folded():
    """Each conv is fused with its batch norm; the norms become pass-throughs; other layers stay."""
    model = inception_v1.build(head="dense", width=0.125)
    truncated = keras.Model(model.inputs[0], model.get_layer("Mixed_3b").output)
    fused = fuse_for_rendering(truncated)
    convs = [layer for layer in fused.layers if isinstance(layer, FusedConv2D)]
    assert len(convs) == 3 + 6  # the stem and Mixed_3b's six convolutions
    assert all(conv.norm is not None for conv in convs)
    assert sum(isinstance(layer, Passthrough) for layer in fused.layers) == len(convs)
    assert not any(isinstance(layer, (kl.Conv2D, kl.BatchNormalization)) for layer in fused.layers)
    originals = {layer.name: layer for layer in truncated.layers}
    pools = [layer for layer in fused.layers if isinstance(layer, kl.MaxPooling2D)]
    assert pools and all(pool is originals[pool.name] for pool in pools)
    # The weights are the original variables, not copies.
    first = fused.get_layer("Conv2d_1a_7x7_conv")
    assert first.conv is originals["Conv2d_1a_7x7_conv"]


def test_only_safe_pairs_are_folded():
    """A conv feeding two layers, a conv with an activation and a model output keep their norms apart."""
    inputs = keras.Input((None, None, 3))
    shared = kl.Conv2D(4, 3, padding="same", name="shared")(inputs)
    norm_a = kl.BatchNormalization(name="norm_a")(shared)
    branch = kl.Conv2D(4, 3, padding="same", name="branch")(shared)
    activated = kl.Conv2D(4, 1, activation="relu", name="activated")(norm_a)
    norm_b = kl.BatchNormalization(name="norm_b")(activated)
    last = kl.Conv2D(4, 1, name="last")(kl.Concatenate()([norm_b, branch]))
    model = keras.Model(inputs, [last, norm_b])
    _randomize_norms(model, 3)
    fused = fuse_for_rendering(model)
    assert all(fused.get_layer(name).norm is None for name in ("shared", "branch", "activated", "last"))
    assert isinstance(fused.get_layer("norm_a"), kl.BatchNormalization)
    assert isinstance(fused.get_layer("norm_b"), kl.BatchNormalization)
    images = tf.random.stateless_uniform([1, 12, 12, 3], [5, 6])
    for original, copy in zip(model(images, training=False), fused(images, training=False)):
        np.testing.assert_allclose(copy.numpy(), original.numpy(), rtol=1e-5, atol=1e-6)


def test_strided_and_valid_convs_keep_the_plain_gradient():
    """Stride-1 'same' convs with odd kernels use the adjoint gradient, strided 'same' ones the phased one."""
    inputs = keras.Input((None, None, 3))
    x = kl.Conv2D(4, 3, strides=2, padding="same", name="strided")(inputs)
    x = kl.Conv2D(4, 3, padding="valid", name="valid")(x)
    x = kl.Conv2D(4, 2, padding="same", name="even")(x)
    x = kl.Conv2D(4, 3, padding="same", dilation_rate=2, name="dilated")(x)
    x = kl.Conv2D(4, 5, padding="same", name="odd")(x)
    fused = fuse_for_rendering(keras.Model(inputs, x))
    fast = {layer.name: layer.fast_gradient for layer in fused.layers if isinstance(layer, FusedConv2D)}
    assert fast == {"strided": False, "valid": False, "even": False, "dilated": False, "odd": True}
    phased = {layer.name: layer.phased_gradient for layer in fused.layers if isinstance(layer, FusedConv2D)}
    assert phased == {"strided": True, "valid": False, "even": False, "dilated": False, "odd": False}


def test_renderer_sees_weights_assigned_between_renders():
    """ChannelRenderer.render refreshes the fused copy, so a second render uses the new weights."""
    keras.utils.set_random_seed(6)
    model = inception_v1.build(width=0.125)
    renderer = ChannelRenderer(model, "Conv2d_2b_1x1", ImageSettings(size=32))
    first = renderer.render([0, 1], steps=3, seed=0, progress=False)
    model.get_layer("Conv2d_2b_1x1_bn").moving_mean.assign(np.full(8, -5.0, dtype="float32"))
    second = renderer.render([0, 1], steps=3, seed=0, progress=False)
    fresh = ChannelRenderer(model, "Conv2d_2b_1x1", ImageSettings(size=32))
    fresh = fresh.render([0, 1], steps=3, seed=0, progress=False)
    assert np.abs(second.images - first.images).max() > 1e-3
    np.testing.assert_allclose(second.images, fresh.images, atol=1e-6)


def _conv_and_input_gradient(conv, images: tf.Tensor, upstream: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
    with tf.GradientTape() as tape:
        tape.watch(images)
        outputs = conv(images)
    return outputs.numpy(), tape.gradient(outputs, images, upstream).numpy()


@pytest.mark.parametrize("kernel_size", [1, 3, 5])
def test_conv_same_gradient_is_the_adjoint(float64, kernel_size):
    """conv_same's input gradient equals TensorFlow's backward-data convolution."""
    images = tf.random.stateless_normal([2, 7, 9, 5], [7, kernel_size], dtype=tf.float64)
    kernel = tf.random.stateless_normal([kernel_size, kernel_size, 5, 6], [8, kernel_size], dtype=tf.float64)
    upstream = tf.random.stateless_normal([2, 7, 9, 6], [9, kernel_size], dtype=tf.float64)
    value, gradient = _conv_and_input_gradient(lambda x: tf.nn.conv2d(x, kernel, 1, "SAME"), images, upstream)
    fast_value, fast_gradient = _conv_and_input_gradient(lambda x: conv_same(x, kernel), images, upstream)
    np.testing.assert_allclose(fast_value, value, rtol=1e-12)
    np.testing.assert_allclose(fast_gradient, gradient, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    "kernel_size, strides",
    [
        ((7, 7), (2, 2)),
        ((3, 3), (2, 2)),
        ((1, 1), (2, 2)),
        ((4, 4), (2, 2)),
        ((5, 2), (3, 2)),
        ((3, 3), (2, 1)),
    ],
)
@pytest.mark.parametrize("size", [(9, 9), (10, 13), (35, 28)])
def test_conv_strided_same_gradient_is_the_transposed_convolution(float64, kernel_size, strides, size):
    """conv_strided_same's values and input gradient equal TensorFlow's, odd and even sizes and kernels."""
    seed = [size[0], kernel_size[0] * 10 + strides[0]]
    images = tf.random.stateless_normal([2, *size, 3], seed, dtype=tf.float64)
    kernel = tf.random.stateless_normal([*kernel_size, 3, 5], [seed[1], 1], dtype=tf.float64)
    reference = lambda x: tf.nn.conv2d(x, kernel, strides, "SAME")  # noqa: E731
    upstream = tf.random.stateless_normal(reference(images).shape, [seed[1], 2], dtype=tf.float64)
    value, gradient = _conv_and_input_gradient(reference, images, upstream)
    phased_value, phased_gradient = _conv_and_input_gradient(
        lambda x: conv_strided_same(x, kernel, strides), images, upstream
    )
    assert np.abs(gradient).max() > 0
    np.testing.assert_allclose(phased_value, value, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(phased_gradient, gradient, rtol=1e-12, atol=1e-12)


def test_conv_strided_same_follows_sizes_known_only_when_the_step_runs(float64):
    """Traced once with unknown height and width (as the TensorFlow step is), the gradient fits every size."""
    kernel = tf.random.stateless_normal([7, 7, 3, 4], [12, 13], dtype=tf.float64)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float64),
            tf.TensorSpec([None, None, None, 4], tf.float64),
        ]
    )
    def phased(images: tf.Tensor, upstream: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(images)
            outputs = conv_strided_same(images, kernel, (2, 2))
        return tape.gradient(outputs, images, upstream)

    for height, width in [(16, 17), (23, 20)]:
        images = tf.random.stateless_normal([2, height, width, 3], [height, width], dtype=tf.float64)
        upstream = tf.random.stateless_normal(
            [2, (height + 1) // 2, (width + 1) // 2, 4], [width, height], dtype=tf.float64
        )
        _, gradient = _conv_and_input_gradient(lambda x: tf.nn.conv2d(x, kernel, 2, "SAME"), images, upstream)
        np.testing.assert_allclose(phased(images, upstream).numpy(), gradient, rtol=1e-12, atol=1e-12)
    assert phased.experimental_get_tracing_count() == 1  # one trace served both sizes


def test_compiled_step_follows_weights_after_refresh():
    """After refresh_fused, a compiled forward pass uses batch-norm statistics assigned later."""
    keras.utils.set_random_seed(4)
    model = inception_v1.build(head="dense", width=0.125)
    fused = fuse_for_rendering(keras.Model(model.inputs[0], model.get_layer("Conv2d_2b_1x1").output))
    forward = tf.function(lambda images: fused(images, training=False))
    images = tf.random.stateless_uniform([1, 32, 32, 3], [10, 11])
    before = forward(images).numpy()
    model.get_layer("Conv2d_2b_1x1_bn").moving_mean.assign(np.full(8, -5.0, dtype="float32"))
    np.testing.assert_array_equal(forward(images).numpy(), before)  # cached until refreshed
    refresh_fused(fused)
    after = forward(images).numpy()
    assert np.abs(after - before).max() > 1.0
    original = keras.Model(model.inputs[0], model.get_layer("Conv2d_2b_1x1").output)
    np.testing.assert_allclose(after, original(images, training=False).numpy(), rtol=1e-5, atol=1e-6)


def test_renderer_objectives_match_with_and_without_fusing():
    """Rendering with the fused copy optimizes the same objective as the model's own layers."""
    keras.utils.set_random_seed(5)
    model = inception_v1.build(width=0.125)
    _responsive_weights(model, 5)
    results = {}
    for fuse in (False, True):
        renderer = ChannelRenderer.from_keywords(model, "Mixed_3b_Branch_1_b_3x3", size=48, fuse=fuse)
        results[fuse] = renderer.render([0, 1, 2, 3], steps=48, seed=0, progress=False)
    plain, fused = results[False].objectives, results[True].objectives
    assert results[True].settings["fuse"] is True and results[False].settings["fuse"] is False
    assert np.all(plain > 0.1)
    _assert_same_optimization(fused, plain)


@pytest.mark.parametrize("layer", ["Conv2d_2c_3x3", "Mixed_4b_Branch_2_b_3x3", "Conv2d_2b_1x1_conv"])
@pytest.mark.parametrize("batch", [1, 3])
def test_selected_channels_equal_the_full_layer_in_float64(float64, layer, batch):
    """The channel-selected copy gives channel ids[b] of image b, values and input gradients, in float64."""
    keras.utils.set_random_seed(7)
    model = inception_v1.build(head="dense", width=0.25)
    _randomize_norms(model, 7)
    truncated = keras.Model(model.inputs[0], model.get_layer(layer).output)
    selected = select_target_channels(fuse_for_rendering(truncated))
    assert selected is not None
    assert sum(isinstance(layer, ChannelSelectedConv2D) for layer in selected.layers) == 1
    images = tf.random.stateless_uniform([batch, 67, 72, 3], [7, batch], dtype=tf.float64)
    # Image b renders its (b+1)-th most active channel: live channels, different per image.
    means = tf.reduce_mean(truncated(images, training=False), axis=(1, 2)).numpy()
    ids = tf.constant([np.argsort(means[b])[-1 - b] for b in range(batch)], dtype=tf.int32)
    weights = tf.random.stateless_uniform([batch, 1, 1], [8, batch], 0.5, 1.5, dtype=tf.float64)
    results = []
    for net in (lambda x: tf.gather(truncated(x, training=False), ids, axis=3, batch_dims=1), None):
        with tf.GradientTape() as tape:
            tape.watch(images)
            value = net(images) if net else selected([images, ids], training=False)[..., 0]
            loss = tf.reduce_sum(tf.reduce_mean(value, axis=(1, 2)) * weights[:, 0, 0])
        results.append((value.numpy(), tape.gradient(loss, images).numpy()))
    (value, gradient), (selected_value, selected_gradient) = results
    assert np.abs(gradient).max() > 0 and np.abs(value).max() > 0
    np.testing.assert_allclose(selected_value, value, rtol=0, atol=1e-12 * np.abs(value).max())
    assert np.linalg.norm(selected_gradient - gradient) <= 1e-12 * np.linalg.norm(gradient)


def test_selection_needs_a_convolution_followed_by_channelwise_layers():
    """Concatenations, poolings, channel-mixing activations and unfused models are left alone."""
    model = inception_v1.build(head="dense", width=0.125)
    for name in ("Mixed_3b", "MaxPool_3a_3x3"):
        truncated = keras.Model(model.inputs[0], model.get_layer(name).output)
        assert select_target_channels(fuse_for_rendering(truncated)) is None
    truncated = keras.Model(model.inputs[0], model.get_layer("Conv2d_2b_1x1").output)
    assert select_target_channels(truncated) is None  # not a fused copy
    inputs = keras.Input((None, None, 3))
    mixing = kl.Activation("softmax")(kl.Conv2D(4, 3, padding="same")(inputs))
    assert select_target_channels(fuse_for_rendering(keras.Model(inputs, mixing))) is None


def test_renderer_selects_channels_only_for_one_channel_objectives():
    """The channel, neuron and negative objectives select; diversity, custom ones and fuse=False do not."""
    model = inception_v1.build(width=0.125)

    def make(**kwargs):
        return ChannelRenderer.from_keywords(model, "Conv2d_2c_3x3", size=32, **kwargs).selects_channels

    assert make() and make(objective="neuron") and make(objective="negative")
    assert not make(diversity=10.0)
    assert not make(fuse=False)
    assert not make(objective=lambda layer, ids: obj.channels(layer, ids))
    assert not make(select_channels=False)
    assert not ChannelRenderer(model, "Mixed_3b", ImageSettings(size=32)).selects_channels


@pytest.mark.parametrize(
    "objective, layer",
    [("channel", "Conv2d_2c_3x3"), ("neuron", "Conv2d_2c_3x3"), ("negative", "Conv2d_2c_3x3_bn")],
)
def test_selected_renders_match_the_full_layer(objective, layer):
    """Renders with and without channel selection reach the same objective values on the same channels."""
    keras.utils.set_random_seed(9)
    model = inception_v1.build(width=0.125)
    _responsive_weights(model, 9)
    results = {}
    for selection in (False, True):
        # Without selection: the same fused copy, reading the whole layer.
        compute = ComputeSettings(select_channels=selection)
        renderer = ChannelRenderer(
            model, layer, ImageSettings(size=40), None, ObjectiveSettings(objective), compute
        )
        assert renderer.selects_channels is selection
        results[selection] = renderer.render([0, 6, 9], steps=24, seed=0, progress=False)
    if objective != "negative":  # the channels respond (a pre-ReLU channel's minimum may lie near 0)
        assert np.all(results[False].objectives > 0.1)
    _assert_same_optimization(results[True].objectives, results[False].objectives)
