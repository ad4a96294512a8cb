"""Tests for visualizer.render.render: the public entry point, batching, seeds and bad input."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
from keras import ops

from visualizer.models import inception_v1
from visualizer.models.graph import resolve_model_layer
from visualizer.models.layers import UnknownLayerError
from visualizer.render import ChannelRenderer, ImageSettings, Rendering, render_channels


@pytest.fixture(scope="module")
def small_inception() -> keras.Model:
    """A 1/8-width InceptionV1 with the catalogue's layer names."""
    keras.utils.set_random_seed(0)
    return inception_v1.build(width=0.125)


def test_returns_rendering(tiny):
    """A render returns images in [0, 1], finite objectives, names and settings."""
    result = render_channels(tiny, "relu2", [0, 3], size=24, steps=6, progress=False, thresholds=[2, 6])
    assert isinstance(result, Rendering)
    assert result.images.shape == (2, 24, 24, 3) and result.images.dtype == np.float32
    assert result.images.min() >= 0 and result.images.max() <= 1
    assert np.isfinite(result.objectives).all() and result.objectives.shape == (2,)
    assert result.names == ["channel relu2:0", "channel relu2:3"]
    assert sorted(result.history) == [2, 6] and result.history[6].shape == (2, 24, 24, 3)
    np.testing.assert_array_equal(result.history[6], result.images)
    assert result.settings["steps"] == 6 and result.settings["transforms"].startswith("[pad(12")
    assert result.failed == []


def test_settings_record_the_kernels_and_whether_onednn_is_on(tiny):
    """Renders record TensorFlow's version and oneDNN state (on unless the environment turned it off)."""
    import tensorflow as tf
    from tensorflow.python.util import _pywrap_util_port

    settings = render_channels(tiny, "relu2", [0], size=16, steps=2, progress=False).settings
    expected = "off" if os.environ.get("TF_ENABLE_ONEDNN_OPTS") == "0" else "on"
    assert settings["kernels"] == f"tensorflow {tf.__version__}, oneDNN {expected}"
    assert _pywrap_util_port.IsMklEnabled() is (expected == "on")


def test_same_seed_same_images_different_seed_different(tiny):
    """A fixed seed reproduces the images exactly; another seed gives other images."""
    kwargs = dict(size=24, steps=5, progress=False)
    first = render_channels(tiny, "relu2", [1, 2], seed=3, **kwargs)
    again = render_channels(tiny, "relu2", [1, 2], seed=3, **kwargs)
    other = render_channels(tiny, "relu2", [1, 2], seed=4, **kwargs)
    np.testing.assert_array_equal(first.images, again.images)
    assert np.abs(first.images - other.images).max() > 1e-3


def test_chunks_equal_one_batch(tiny):
    """Rendering in chunks of one gives the images of one batch (independent slots, shared draws)."""
    kwargs = dict(size=24, steps=8, progress=False, seed=1)
    batched = render_channels(tiny, "relu2", [0, 1, 4], **kwargs)
    chunked = render_channels(tiny, "relu2", [0, 1, 4], batch_size=1, **kwargs)
    np.testing.assert_allclose(batched.images, chunked.images, atol=1e-4)
    np.testing.assert_allclose(batched.objectives, chunked.objectives, rtol=1e-3)


def test_render_raises_the_objective(tiny):
    """The final objective is higher than at the start for every channel."""
    start = render_channels(tiny, "relu2", [0, 1, 2], size=24, steps=1, progress=False)
    end = render_channels(tiny, "relu2", [0, 1, 2], size=24, steps=30, progress=False)
    assert (end.objectives > start.objectives).all()


@pytest.mark.parametrize(
    "options",
    [
        dict(objective="neuron"),
        dict(per_image_transforms=True),
        dict(param="pixel", decorrelate=False),
        dict(diversity=10.0),
        dict(compile=False),
        dict(transforms=[]),
        dict(lucid_step_count=True, thresholds=[0, 3]),
    ],
)
def test_options_run(tiny, options):
    """Every documented option renders finite images of the right shape."""
    result = render_channels(tiny, "relu2", [0, 1], size=20, steps=3, progress=False, **options)
    assert result.images.shape == (2, 20, 20, 3) and np.isfinite(result.objectives).all()
    if options.get("lucid_step_count"):
        assert sorted(result.history) == [0, 3]


def test_catalogue_aliases_and_truncation(small_inception):
    """Catalogue aliases resolve, and the step computes only up to the target layer."""
    assert resolve_model_layer(small_inception, "4c_2_b_3x3") == "Mixed_4c_Branch_2_b_3x3"
    assert resolve_model_layer(small_inception, "mixed4b") == "Mixed_4c"
    renderer = ChannelRenderer(small_inception, "InceptionV1/Conv2d_2c_3x3", ImageSettings(size=32))
    assert renderer.layer == "Conv2d_2c_3x3"
    assert renderer.channel_count == 24
    # The channel objective selects: the target convolution computes one channel per image.
    assert renderer.selects_channels and renderer.net.output.shape[-1] == 1
    assert "Mixed_3b" not in [layer.name for layer in renderer.net.layers]
    result = renderer.render([0, 23], steps=2, progress=False)
    assert result.images.shape == (2, 32, 32, 3)


def test_unknown_catalogue_layer_lists_close_matches(small_inception):
    """A misspelt layer raises UnknownLayerError naming the closest ids."""
    with pytest.raises(UnknownLayerError, match="Mixed_4c_Branch_2_b_3x3"):
        render_channels(small_inception, "Mixed_4c_Branch_2_b_3x4", [0], progress=False)


def test_unknown_raw_layer_lists_model_layers(tiny):
    """An unknown name in a raw model lists the model's layers."""
    with pytest.raises(UnknownLayerError, match="conv1.*conv2.*relu2"):
        render_channels(tiny, "nothing_like_it", [0], progress=False)
    with pytest.raises(UnknownLayerError, match="relu2"):
        render_channels(tiny, "relu_2", [0], progress=False)


def test_channel_out_of_range(tiny):
    """A channel past the layer's depth raises ValueError naming 0..C-1."""
    with pytest.raises(
        ValueError, match=r"Channels \[5\] out of range for layer 'relu2', which has channels 0\.\.4"
    ):
        render_channels(tiny, "relu2", [0, 5], progress=False)
    with pytest.raises(ValueError, match="at least one"):
        render_channels(tiny, "relu2", [], progress=False)
    with pytest.raises(ValueError, match="integers"):
        render_channels(tiny, "relu2", [1.5], progress=False)


def test_bad_settings(tiny):
    """Unknown objective, param, transforms and thresholds are refused by name."""
    for kwargs, text in [
        (dict(objective="deepdream"), "deepdream"),
        (dict(param="cppn"), "cppn"),
        (dict(transforms="fancy"), "fancy"),
        (dict(thresholds=[0]), r"thresholds must lie in 1\.\.512"),
        (dict(steps=0), "steps"),
    ]:
        with pytest.raises(ValueError, match=text):
            render_channels(tiny, "relu2", [0], progress=False, **kwargs)


@keras.saving.register_keras_serializable(package="tests")
class NaNChannel(keras.layers.Layer):
    """Appends a channel that is NaN for every input."""

    def call(self, inputs):
        nan = ops.full(ops.shape(inputs[..., :1]), float("nan"))
        return ops.concatenate([inputs, nan], axis=-1)


def test_nan_channel_is_retried_then_reported(tiny, monkeypatch):
    """A NaN channel is retried once, then reported in .failed, grey, NaN; its batch mates are fine."""
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, NaNChannel(name="with_nan")(tiny(inputs)))
    renderer = ChannelRenderer(model, "with_nan", ImageSettings(size=20))
    attempts = []
    original = renderer.loop._optimize

    def spy(channels, repeats, schedule, attempt, bar):
        attempts.append((list(channels), attempt))
        return original(channels, repeats, schedule, attempt, bar)

    monkeypatch.setattr(renderer.loop, "_optimize", spy)
    result = renderer.render([0, 5, 2], steps=3, progress=False, thresholds=[3])
    assert attempts == [([0, 5, 2], 0), ([5], 1)]
    assert result.failed == [5]
    assert np.all(result.images[1] == 0.5) and np.all(result.history[3][1] == 0.5)
    assert np.isnan(result.objectives[1]) and np.isfinite(result.objectives[[0, 2]]).all()
    assert np.abs(result.images[0] - 0.5).max() > 1e-3


def test_negative_objective_lowers_the_channel(tiny):
    """``objective="negative"`` drives a pre-ReLU channel's mean down, where ``"channel"`` drives it up."""
    kwargs = dict(size=24, seed=2, progress=False)
    start = render_channels(tiny, "conv2", [0, 3], steps=1, objective="negative", **kwargs)
    low = render_channels(tiny, "conv2", [0, 3], steps=30, objective="negative", **kwargs)
    high = render_channels(tiny, "conv2", [0, 3], steps=30, **kwargs)
    assert low.names == ["negative conv2:0", "negative conv2:3"]
    assert (low.objectives > start.objectives).all()  # the objective is minus the mean
    acts = keras.Model(tiny.inputs, tiny.get_layer("conv2").output)
    means_low = ops.convert_to_numpy(acts(low.images)).mean(axis=(1, 2))[[0, 1], [0, 3]]
    means_high = ops.convert_to_numpy(acts(high.images)).mean(axis=(1, 2))[[0, 1], [0, 3]]
    np.testing.assert_allclose(means_low, -low.objectives, rtol=1e-3, atol=1e-4)
    assert (means_low < -start.objectives).all() and (means_high > -start.objectives).all()


def _gram_similarity(model: keras.Model, layer: str, images: np.ndarray) -> float:
    """Mean cosine similarity of the images' Gram matrices at `layer`, over distinct pairs."""
    acts = ops.convert_to_numpy(keras.Model(model.inputs, model.get_layer(layer).output)(images))
    flat = acts.reshape(len(acts), -1, acts.shape[-1]).astype("float64")
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(len(acts), -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    similarity = grams @ grams.T
    return float((similarity.sum() - np.trace(similarity)) / (len(acts) * (len(acts) - 1)))


def test_diversity_groups_render_diverse_images_of_each_channel(tiny):
    """Groups of repeats of one channel render as Lucid's diversity batches, several channels at once."""
    kwargs = dict(size=24, steps=20, seed=5, progress=False)
    grouped = render_channels(tiny, "relu2", [1, 1, 1, 4, 4, 4], diversity=50.0, diversity_group=3, **kwargs)
    assert grouped.names[0] == "channel relu2:1 - 50 * diversity relu2 in groups of 3"
    # Each group is what Lucid's batch of three of that channel alone gives (same draws, same starts).
    for start, channel in [(0, 1), (3, 4)]:
        alone = render_channels(tiny, "relu2", [channel] * 3, diversity=50.0, **kwargs)
        np.testing.assert_allclose(grouped.images[start : start + 3], alone.images, atol=1e-4)
    # Chunks of whole groups give the same images.
    chunked = render_channels(
        tiny, "relu2", [1, 1, 1, 4, 4, 4], diversity=50.0, diversity_group=3, batch_size=3, **kwargs
    )
    np.testing.assert_allclose(chunked.images, grouped.images, atol=1e-4)
    # Repeats start apart, and the diversity term pushes their Gram matrices further apart.
    plain = render_channels(tiny, "relu2", [1, 1, 1], **kwargs)
    assert np.abs(plain.images[0] - plain.images[1]).max() > 1e-3
    assert _gram_similarity(tiny, "relu2", grouped.images[:3]) < _gram_similarity(tiny, "relu2", plain.images)


def test_diversity_groups_refuse_mixed_groups_and_split_batches(tiny):
    """Groups must repeat one channel, fill the list, and not be split across batches."""
    kwargs = dict(size=16, steps=1, progress=False, diversity=10.0, diversity_group=2)
    with pytest.raises(ValueError, match=r"slots 2\.\.3 hold \[1, 2\]"):
        render_channels(tiny, "relu2", [0, 0, 1, 2], **kwargs)
    with pytest.raises(ValueError, match="groups of 2.*received 3 channels"):
        render_channels(tiny, "relu2", [0, 0, 1], **kwargs)
    with pytest.raises(ValueError, match="batch_size must be a multiple of 2; received batch_size=3"):
        render_channels(tiny, "relu2", [0, 0, 1, 1], batch_size=3, **kwargs)
    with pytest.raises(ValueError, match="diversity_group must be None or a positive integer"):
        render_channels(tiny, "relu2", [0, 0], size=16, steps=1, progress=False, diversity_group=0)
    with pytest.raises(ValueError, match="diversity_group=2 groups the diversity term, which is off"):
        render_channels(tiny, "relu2", [0, 0], size=16, steps=1, progress=False, diversity_group=2)


def test_pre_relu_layer(small_inception, tiny):
    """A ReLU layer's input layer is found by alias or name; layers that are not ReLUs are refused."""
    from visualizer.render import pre_relu_layer

    assert pre_relu_layer(small_inception, "4c_2_b_3x3") == "Mixed_4c_Branch_2_b_3x3_bn"
    assert pre_relu_layer(tiny, "relu2") == "conv2"
    inputs = keras.Input((None, None, 3))
    model = keras.Model(
        inputs, keras.layers.Activation("relu", name="act")(keras.layers.Dense(2, name="d")(inputs))
    )
    assert pre_relu_layer(model, "act") == "d"
    with pytest.raises(ValueError, match="'conv1' of model 'tiny' is a Conv2D, not a ReLU layer"):
        pre_relu_layer(tiny, "conv1")
    with pytest.raises(UnknownLayerError):
        pre_relu_layer(tiny, "relu_9")
