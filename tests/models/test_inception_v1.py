"""The Keras InceptionV1: structure, counts, heads and activations."""

import numpy as np
import pytest

from visualizer.models import inception_v1
from visualizer.models.layers import LAYERS


@pytest.fixture(scope="module")
def full_model():
    return inception_v1.build()


def test_variable_counts(full_model):
    """slim's test asserts 5,607,184 base variables; the logits add 1,026,025."""
    assert inception_v1.base_weight_count(full_model) == 5_607_184
    assert full_model.count_params() == 5_607_184 + 1_026_025


def test_batch_norm_has_beta_and_no_gamma(full_model):
    bn = full_model.get_layer("Mixed_4c_Branch_2_b_3x3_bn")
    assert bn.epsilon == pytest.approx(0.001)
    assert bn.center and not bn.scale
    conv = full_model.get_layer("Mixed_4c_Branch_2_b_3x3_conv")
    assert not conv.use_bias and conv.kernel.shape == (3, 3, 24, 64)


def test_end_point_shapes_at_224(full_model):
    """Spatial sizes from slim's testBuildAndCheckAllEndPointsUptoMixed5c."""
    expected = {"Conv2d_1a_7x7": 112, "Conv2d_2c_3x3": 56, "Mixed_3c": 28, "Mixed_4f": 14, "Mixed_5c": 7}
    images = np.zeros((1, 224, 224, 3), "float32")
    acts = inception_v1.activations(full_model, images, list(expected))
    for name, size in expected.items():
        assert acts[name].shape[1:3] == (size, size), name
    assert acts["Mixed_5c"].shape[-1] == 1024
    assert full_model(images).shape == (1, 1001)


def test_channel_counts_match_catalogue(full_model):
    for layer in LAYERS:
        assert inception_v1.channel_count(full_model, layer.id) == layer.channels


def test_aliases_give_the_same_activations(full_model):
    images = np.random.default_rng(0).uniform(size=(2, 96, 96, 3)).astype("float32")
    acts = inception_v1.activations(
        full_model,
        images,
        ["Mixed_4c_Branch_2_b_3x3", "4c_2_b_3x3", "InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3", "mixed4b"],
        batch_size=1,
    )
    np.testing.assert_array_equal(acts["Mixed_4c_Branch_2_b_3x3"], acts["4c_2_b_3x3"])
    np.testing.assert_array_equal(acts["4c_2_b_3x3"], acts["InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3"])
    assert acts["mixed4b"].shape[-1] == 512
    assert (acts["4c_2_b_3x3"] >= 0).all()


def test_width_and_transfer_heads():
    small = inception_v1.build(num_classes=40, head="dense", width=0.25, output_activation="sigmoid")
    assert inception_v1.channel_count(small, "Mixed_5c_Branch_0_a_1x1") == 96
    assert small.get_layer("dense_hidden").units == 1024
    out = np.asarray(small(np.zeros((2, 64, 64, 3), "float32")))
    assert out.shape == (2, 40) and ((out > 0) & (out < 1)).all()
    single = inception_v1.build(num_classes=17, head="single_dense", width=0.125)
    probs = np.asarray(single(np.zeros((1, 64, 64, 3), "float32")))
    assert probs.shape == (1, 17) and probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert "dense_hidden" not in {layer.name for layer in single.layers}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"head": "mlp"}, "valid heads: logits, dense, single_dense"),
        ({"width": 0}, "width must be positive"),
        ({"head": "dense", "output_activation": "tanh"}, "valid: 'softmax', 'sigmoid'"),
        ({"output_activation": "softmax"}, "raw logits"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        inception_v1.build(**kwargs)
