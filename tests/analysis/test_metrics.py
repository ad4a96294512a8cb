"""The measurements one by one: pixel descriptors, statistics, redundancy, batch-norm folding, circuits."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visualizer.analysis import pixels
from visualizer.analysis.circuits import (
    IMAGE_SOURCE,
    compare_circuits,
    folded_kernel,
    input_sources,
    upstream_strengths,
    weight_change,
)
from visualizer.analysis.redundancy import (
    LayerRedundancy,
    correlation_similarity,
    cross_activation_similarity,
    duplicate_groups,
)
from visualizer.analysis.stats import auc, bootstrap_ci, sign_flip_test

SIZE = 48


def _grating(period: float, angle: float, colour=(1.0, 1.0, 1.0), size: int = SIZE) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    return np.clip(0.5 + 0.4 * wave[..., None] * np.asarray(colour), 0, 1)


# -- pixels ---------------------------------------------------------------------------------------


def test_a_shifted_copy_has_no_pixel_change_and_another_pattern_has():
    image = _grating(8, 0.4, (1.0, 0.5, 0.2)) + 0.05 * np.random.default_rng(0).random((SIZE, SIZE, 3))
    shifted = np.roll(image, (11, 5), axis=(0, 1))
    other = _grating(5, 1.5, (0.2, 0.5, 1.0))
    first = pixels.describe(np.stack([image, image]))
    second = pixels.describe(np.stack([shifted, other]))
    change = pixels.pixel_change(first, second)
    assert change[0] == pytest.approx(0.0, abs=1e-9) and change[1] > 0.5
    assert pixels.colour_change(first, second)[0] == pytest.approx(0.0, abs=1e-6)
    structure = pixels.structure_change(first, second)
    assert structure[0] < 0.05 and structure[1] > 0.3  # the Hann window weighs the centre: nearly invariant


def test_colour_and_structure_answer_different_changes():
    tint = np.array([0.25, 0.0, -0.15])
    base = np.clip(_grating(8, 0.0, (1.0, 0.3, -0.2)) + tint, 0, 1)
    recoloured = base[..., [1, 2, 0]]  # same luminance
    restructured = np.rot90(base)  # same colours, rotated stripes
    first, second = (
        pixels.describe(np.stack([base, base])),
        pixels.describe(np.stack([recoloured, restructured])),
    )
    colour, structure = pixels.colour_change(first, second), pixels.structure_change(first, second)
    assert colour[0] > 0.3 and structure[0] < 1e-6
    assert structure[1] > 0.3 and colour[1] < 0.05
    assert pixels.colour_mean_shift(first, second)[0] > 0.05


def test_image_scale_share_is_large_for_one_blob_and_small_for_fine_stripes():
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE
    blob = np.exp(-((x - 0.5) ** 2 + (y - 0.5) ** 2) / 0.05)[..., None] * np.ones(3)
    fine = _grating(4, 0.3)
    share = pixels.image_scale_share(np.stack([blob, fine, np.full((SIZE, SIZE, 3), 0.5)]))
    assert share[0] > 0.8 and share[1] < 0.05 and share[2] == 0.0


def test_descriptor_distributions_sum_to_one_and_flat_images_are_uniform():
    batch = np.stack([_grating(6, 0.2), np.full((SIZE, SIZE, 3), 0.3)])
    described = pixels.describe(batch)
    for table in (described.chroma_histogram, described.orientation, described.octaves):
        np.testing.assert_allclose(table.sum(axis=1), 1.0)
    np.testing.assert_allclose(described.orientation[1], 1.0 / pixels.ORIENTATION_BINS)


def test_load_images_downsamples_larger_images(tmp_path):
    from PIL import Image

    for name, side in (("a.png", 64), ("b.png", 32)):
        Image.fromarray(np.full((side, side, 3), 200, np.uint8)).save(tmp_path / name)
    loaded = pixels.load_images([tmp_path / "a.png", tmp_path / "b.png"], size=32)
    assert loaded.shape == (2, 32, 32, 3) and loaded.max() == pytest.approx(200 / 255)
    with pytest.raises(ValueError, match="b.png"):
        pixels.load_images([tmp_path / "a.png", tmp_path / "b.png"], size=None)


# -- statistics ------------------------------------------------------------------------------------


def test_bootstrap_interval_covers_the_median_and_narrows_with_more_channels():
    rng = np.random.default_rng(0)
    small, large = rng.normal(1.0, 1.0, 20), rng.normal(1.0, 1.0, 2000)
    lo, hi = bootstrap_ci(small)
    lo_large, hi_large = bootstrap_ci(large)
    assert lo < np.median(small) < hi and hi_large - lo_large < (hi - lo) / 3
    assert bootstrap_ci(small, seed=3) == bootstrap_ci(small, seed=3)
    with pytest.raises(ValueError, match="valid: median, mean"):
        bootstrap_ci(small, "mode")


def test_sign_flip_test_finds_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    assert sign_flip_test(rng.normal(0.5, 0.2, 30)).p < 0.01
    values = rng.normal(0.0, 0.2, 15)
    noise = sign_flip_test(np.concatenate([values, -values]))  # symmetric about 0: no shift
    assert noise.p > 0.05 and abs(noise.null) < 0.05


def test_auc_ranks_and_ties():
    assert auc([3, 4], [1, 2]) == 1.0 and auc([1, 2], [3, 4]) == 0.0 and auc([1], [1]) == 0.5


# -- redundancy ------------------------------------------------------------------------------------


def test_correlated_channels_form_groups_and_dead_ones_are_undefined():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(200, 5))
    activations = np.concatenate(
        [base, base[:, :2] + 0.01 * rng.normal(size=(200, 2)), np.zeros((200, 1))], axis=1
    )
    similarity = correlation_similarity(activations)
    redundancy = LayerRedundancy(similarity)
    assert redundancy.groups == [[0, 5], [1, 6]]
    assert np.isnan(redundancy.max_similarity[7]) and redundancy.max_similarity[0] > 0.99
    assert redundancy.duplicated_share == pytest.approx(4 / 8)
    assert duplicate_groups(similarity, threshold=1.01) == []


def test_cross_activation_similarity_needs_both_directions():
    responses = np.array([[1.0, 0.95, 0.1], [0.97, 1.0, 0.9], [0.0, 0.1, 2.0]])
    similarity = cross_activation_similarity(responses)
    assert similarity[0, 1] == pytest.approx(0.95)  # each responds to the other's image almost as to its own
    assert similarity[1, 2] == pytest.approx(0.1)  # 1 responds little to 2's image, though 2 does to 1's
    assert duplicate_groups(similarity) == [[0, 1]]


# -- weights and circuits ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    network = inception_v1.build(width=0.125, head="single_dense", num_classes=3)
    rng = np.random.default_rng(0)
    for layer in network.layers:
        if layer.name.endswith("_bn"):
            beta, mean, variance = layer.get_weights()
            layer.set_weights(
                [
                    rng.normal(size=beta.shape),
                    rng.normal(size=mean.shape),
                    rng.uniform(0.2, 3, variance.shape),
                ]
            )
    return network


def test_folded_kernel_reproduces_the_conv_and_batch_norm(model):
    layer = "Mixed_3b_Branch_1_b_3x3"
    from visualizer.models.graph import truncate

    images = np.random.default_rng(1).random((2, 32, 32, 3)).astype("float32")
    inputs = np.asarray(keras.Model(model.input, model.get_layer(f"{layer}_conv").input)(images))
    expected = np.asarray(truncate(model, f"{layer}_bn")(images))
    norm = model.get_layer(f"{layer}_bn")
    beta, mean, variance = (np.asarray(w, "float64") for w in norm.get_weights())
    bias = beta - mean / np.sqrt(variance + norm.epsilon)
    folded = keras.ops.conv(inputs, folded_kernel(model, layer).astype("float32"), padding="same")
    np.testing.assert_allclose(np.asarray(folded) + bias, expected, rtol=1e-3, atol=1e-4)


def test_weight_change_is_relative_and_zero_for_a_copy():
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 4, 5))
    changed = kernel.copy()
    changed[..., 2] *= 1.5
    change = weight_change(kernel, changed)
    assert change[2] == pytest.approx(0.5) and np.all(np.delete(change, 2) == 0)


def test_input_sources_follow_pools_and_concatenations(model):
    first = input_sources(model, "Conv2d_1a_7x7")
    assert first == [(IMAGE_SOURCE, 0), (IMAGE_SOURCE, 1), (IMAGE_SOURCE, 2)]
    sources = input_sources(model, "Mixed_4b_Branch_3_b_1x1")  # reads Mixed_3c through a max pool
    widths = [
        int(model.get_layer(f"Mixed_3c_Branch_{b}").output.shape[-1])
        for b in ("0_a_1x1", "1_b_3x3", "2_b_3x3", "3_b_1x1")
    ]
    assert len(sources) == sum(widths)
    assert sources[0] == ("Mixed_3c_Branch_0_a_1x1", 0)
    assert sources[widths[0]] == ("Mixed_3c_Branch_1_b_3x3", 0)
    assert sources[-1] == ("Mixed_3c_Branch_3_b_1x1", widths[3] - 1)
    assert input_sources(model, "Mixed_3b_Branch_1_b_3x3")[5] == ("Mixed_3b_Branch_1_a_1x1", 5)


def test_a_circuit_ranks_inputs_and_reports_rewiring():
    sources = [("a", 0), ("a", 1), ("b", 0), ("b", 1)]
    before = np.array([[4.0], [3.0], [2.0], [1.0]])
    after = np.array([[1.0], [3.0], [2.0], [4.0]])  # the weakest input became the strongest
    edges = compare_circuits(sources, before, after, channel=0, top=1)
    assert [(e.source_layer, e.source_channel, e.rank_before, e.rank_after) for e in edges] == [
        ("a", 0, 1, 4),
        ("b", 1, 4, 1),
    ]
    np.testing.assert_allclose(upstream_strengths(np.ones((3, 3, 2, 1))), [[3.0], [3.0]])
