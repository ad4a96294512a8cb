"""Weight ablation: the ranking, the negation, and variants that equal separately ablated networks."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.prior.conftest import colour_classifier
from visualizer.models import inception_v1
from visualizer.prior.ablation import (
    ablate,
    ablated_copy,
    ablation_variants,
    negate_top_weights,
    weight_order,
)

LAYER = "Mixed_3b_Branch_1_b_3x3"


def test_order_and_negation():
    weights = np.array([[0.1, -0.5], [0.3, 0.5]], dtype="float32")
    np.testing.assert_array_equal(weight_order(weights), [1, 3, 2, 0])  # a tie keeps the lower index first
    np.testing.assert_array_equal(negate_top_weights(weights, 0), weights)
    np.testing.assert_array_equal(negate_top_weights(weights, 2), np.float32([[0.1, 0.5], [0.3, -0.5]]))
    np.testing.assert_array_equal(negate_top_weights(weights, 4), -weights)
    with pytest.raises(ValueError, match="k must lie in 0..4"):
        negate_top_weights(weights, 5)


@pytest.fixture(scope="module")
def network() -> keras.Model:
    """A width-0.25 InceptionV1 with He-scaled kernels and random batch-norm statistics (no dead channels)."""
    model = inception_v1.build(width=0.25, input_size=None)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            shape = layer.kernel.shape
            layer.kernel.assign(rng.normal(0.0, np.sqrt(2.0 / np.prod(shape[:-1])), shape).astype("float32"))
        if isinstance(layer, keras.layers.BatchNormalization):
            beta, mean, variance = (w.shape for w in layer.get_weights())
            layer.set_weights(
                [rng.normal(0, 0.1, beta), rng.normal(0, 0.1, mean), rng.uniform(0.5, 2.0, variance)]
            )
    return model


def live_channel(network: keras.Model, images: np.ndarray) -> int:
    """The channel of LAYER most active on `images`."""
    acts = keras.ops.convert_to_numpy(inception_v1.activations(network, images, [LAYER])[LAYER])
    return int(np.argmax(acts.mean(axis=(0, 1, 2))))


def test_variants_equal_separately_ablated_networks(network):
    images = np.random.default_rng(2).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    ks, channel = [0, 3, 40, 216], live_channel(network, images)
    variants, name = ablation_variants(network, LAYER, channel, ks)
    got = keras.ops.convert_to_numpy(variants(images))
    assert got.shape[-1] == len(ks) and name == f"{LAYER}_ablated"
    for i, k in enumerate(ks):
        copy = ablated_copy(network, LAYER, channel, k)
        expected = keras.ops.convert_to_numpy(inception_v1.activations(copy, images, [LAYER])[LAYER])[
            ..., channel
        ]
        assert k > 0 or np.abs(expected).max() > 0.1  # the unablated channel is alive
        np.testing.assert_allclose(got[..., i], expected, atol=1e-5)


def test_a_copy_changes_one_filter_only(network):
    copy = ablated_copy(network, LAYER, 5, 10)
    for before, after in zip(network.get_weights(), copy.get_weights()):
        if before.shape == network.get_layer(f"{LAYER}_conv").kernel.shape:
            changed = np.argwhere(np.any(before != after, axis=(0, 1, 2))).ravel()
            if changed.size:
                np.testing.assert_array_equal(changed, [5])
                assert np.sum(before != after) == 10
                continue
        np.testing.assert_array_equal(before, after)


def test_ablate_renders_each_k_with_lucid(network):
    channel = live_channel(network, np.random.default_rng(3).uniform(0, 1, (2, 48, 48, 3)).astype("float32"))
    result = ablate(network, LAYER, channel, ks=[0, 20, 216], size=48, steps=6, progress=False)
    assert result.images.shape == (3, 48, 48, 3) and result.ks == [0, 20, 216]
    assert result.order.shape == (216,)  # 3 x 3 x 24 at width 0.25
    full = inception_v1.activations(network, result.images[:1], [LAYER])[LAYER]
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(full)[..., channel].mean(), result.objectives[0], rtol=1e-4, atol=1e-5
    )


def test_ablate_with_the_prior_on_a_plain_conv(generator):
    classifier = colour_classifier()
    result = ablate(
        classifier,
        "colours",
        0,
        ks=[0, 1, 3],
        generator=generator,
        steps=30,
        learning_rate=0.05,
        progress=False,
    )
    # Negating red's weight (the largest with blue's) turns a red detector into one for neither.
    assert result.objectives[0] > result.objectives[2] + 0.05, result.objectives
    assert result.rendering.settings["randomize_noise"] is False


def test_bad_requests_are_named(network):
    with pytest.raises(ValueError, match="which has channels 0..31"):
        ablation_variants(network, LAYER, 32, [0])
    with pytest.raises(ValueError, match=r"ks must be a non-empty list in 0..216"):
        ablation_variants(network, LAYER, 0, [217])
    with pytest.raises(ValueError, match="needs the channel's convolution"):
        ablation_variants(network, "MaxPool_3a_3x3", 0, [0])
