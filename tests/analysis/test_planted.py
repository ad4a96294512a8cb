"""Planted truth (docs/observations.md, "Validity"): each test fails when a metric misses what was planted."""

from __future__ import annotations

import numpy as np
import pytest

from tests.analysis import planted_models as planted
from visualizer.analysis import observations as obs
from visualizer.analysis.cka import linear_cka
from visualizer.analysis.features import data_statistics
from visualizer.analysis.pipeline import analyse, pixel_metrics
from visualizer.analysis.pixels import colour_change, describe, structure_change
from visualizer.analysis.redundancy import layer_redundancy
from visualizer.analysis.stats import auc
from visualizer.models.layers import LAYERS

LAYER = "Mixed_3b_Branch_0_a_1x1"  # 8 channels at width 0.125
UP_TO_REFERENCE = [layer.id for layer in LAYERS][:21]  # the stem, Mixed_3b, Mixed_3c and Mixed_4b


@pytest.fixture(scope="module")
def images():
    return planted.world_images(48)


@pytest.fixture(scope="module")
def network(images):
    import keras

    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    model = inception_v1.build(width=planted.WIDTH, head="single_dense", num_classes=4)
    return planted.calibrate(model, images, UP_TO_REFERENCE)


# -- copied against re-initialized channels -----------------------------------------------------


def _render(model, layer, channels):
    from visualizer.render import render_channels

    return render_channels(model, layer, channels=channels, size=48, steps=64, progress=False).images


@pytest.mark.slow
def test_copied_and_reinitialized_channels_are_separated(tmp_path, network, images):
    """Odd channels of a layer get fresh filters; the metrics tell them from the copied even ones."""
    changed = [1, 3, 5, 7]
    after = planted.clone(network)
    planted.reinitialize(after, LAYER, changed, images, seed=1)
    runs = tmp_path / "runs"
    planted.save_snapshot(runs, network, "source")
    planted.save_snapshot(runs, after, "target")
    channels = list(range(8))
    pictures = {}
    for name, model in (("source", network), ("target", after)):
        for channel, image in zip(channels, _render(model, LAYER, channels)):
            pictures[(name, "final", LAYER, channel)] = image
    atlas = planted.write_atlas(
        tmp_path / "atlas",
        pictures,
        {("source", LAYER): 8, ("target", LAYER): 8},
        parents={"target": "source"},
    )
    result = analyse(atlas, "source", "target", runs_dir=runs)
    rows = {row["channel"]: row for row in result.channels}
    copied = [c for c in channels if c not in changed]
    for name, larger_when_changed in (
        ("visual_change", True),
        ("pixel_change", True),
        ("weight_change", True),
        ("cross_activation", False),
    ):
        moved = np.array([rows[c][name] for c in changed])
        kept = np.array([rows[c][name] for c in copied])
        score = auc(moved, kept) if larger_when_changed else auc(kept, moved)
        assert score >= 0.95, (name, moved, kept)
    assert all(rows[c]["weight_change"] == pytest.approx(0.0, abs=1e-9) for c in copied)


# -- duplicated channels ------------------------------------------------------------------------


def test_a_layer_with_duplicated_channels_is_flagged_and_without_is_not(network):
    held_out = planted.world_images(128, world="animals")  # other images than the calibration's
    plain = layer_redundancy(data_statistics(network, held_out, [LAYER]).pooled[LAYER])
    copy = planted.clone(network)
    planted.duplicate(copy, LAYER, [(0, 5), (2, 6)])
    doubled = layer_redundancy(data_statistics(copy, held_out, [LAYER]).pooled[LAYER])
    assert not plain.flagged, plain.groups
    assert doubled.flagged and doubled.groups == [[0, 5], [2, 6]]
    assert doubled.duplicated_share == pytest.approx(0.5)


# -- early adaptation ----------------------------------------------------------------------------


def _snapshot_distances(rng, channels, iterations, change_at):
    """Feature vectors per snapshot that move from a start to an end point; the move is done by
    `change_at` (a fraction of training), plus noise; returns their distance matrices [n, K, K]."""
    fraction = np.asarray(iterations, float) / iterations[-1]
    progress = np.clip(fraction / change_at, 0, 1)
    start, end = rng.normal(size=(channels, 1, 16)), rng.normal(size=(channels, 1, 16))
    points = (
        start
        + progress[None, :, None] * (end - start)
        + 0.05 * rng.normal(size=(channels, len(iterations), 16))
    )
    return np.linalg.norm(points[:, :, None, :] - points[:, None, :, :], axis=-1)


ITERATIONS = [0, 10, 20, 30, 60, 150, 250]


def test_shuffling_the_snapshot_order_removes_the_early_adaptation_signal():
    rng = np.random.default_rng(0)
    distances = _snapshot_distances(rng, 24, ITERATIONS, change_at=0.05)
    layers, channels = ["Mixed_4c_Branch_2_b_3x3"] * 24, list(range(24))
    early = obs.early_adaptation(distances, ITERATIONS, layers, channels)
    assert early.holds is True and early.value > 0.85 and early.p < 0.01
    order = np.stack([rng.permutation(len(ITERATIONS)) for _ in range(24)])
    rows = np.arange(24)[:, None, None]
    shuffled = distances[rows, order[:, :, None], order[:, None, :]]
    late = obs.early_adaptation(shuffled, ITERATIONS, layers, channels)
    assert late.holds is False and late.value < early.value - 0.2
    assert abs(late.value - late.null) < 0.1  # shuffled runs are draws from the null


def test_steady_change_is_not_early():
    rng = np.random.default_rng(1)
    distances = _snapshot_distances(rng, 24, ITERATIONS, change_at=1.0)
    entry = obs.early_adaptation(distances, ITERATIONS, ["Mixed_4c_Branch_2_b_3x3"] * 24, list(range(24)))
    assert entry.holds is False and entry.value == pytest.approx(0.5, abs=0.1)


# -- colour against structure ---------------------------------------------------------------------


def _textures(count, size=48, seed=0):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    images = []
    for _ in range(count):
        angle, period = rng.uniform(0, np.pi), rng.uniform(4, 12)
        wave = np.sin(2 * np.pi * size / period * (x * np.cos(angle) + y * np.sin(angle)))
        colour = rng.uniform(0.1, 0.9, 3)
        images.append(np.clip(0.5 + 0.4 * wave[..., None] * (colour - 0.5) * 2 + 0.1 * (colour - 0.5), 0, 1))
    return np.stack(images)


def test_a_recoloured_image_reads_as_colour_change_and_a_rotated_one_as_structure_change():
    images = _textures(12)
    recoloured = images[..., [2, 0, 1]]  # the same luminance, other colours
    rotated = np.rot90(images, axes=(1, 2))  # the same colours, other orientations
    original = describe(images)
    colour_only, structure_only = describe(recoloured), describe(rotated)
    assert np.all(structure_change(original, colour_only) < 1e-6)
    assert auc(colour_change(original, colour_only), colour_change(original, structure_only)) >= 0.95
    assert auc(structure_change(original, structure_only), structure_change(original, colour_only)) >= 0.95


@pytest.mark.slow
def test_a_recoloured_filter_reads_as_colour_change_and_a_rotated_filter_as_structure_change(network):
    """The first layer's filters: some get their RGB weights permuted, others are rotated by 90 degrees.

    A recoloured filter's image changes colour more than a rotated filter's; relative to how much two
    different filters' images differ (the ``*_rel`` metrics of observation 5), every recoloured filter
    changes more in colour than in structure, and every rotated one the other way round.
    """
    layer = "Conv2d_1a_7x7"
    after = planted.clone(network)
    conv = after.get_layer(f"{layer}_conv")
    (kernel,) = conv.get_weights()
    recoloured, rotated = [0, 2, 4, 6], [1, 3, 5, 7]
    kernel[:, :, :, recoloured] = kernel[:, :, [2, 0, 1], :][:, :, :, recoloured]
    kernel[:, :, :, rotated] = np.rot90(kernel[:, :, :, rotated], axes=(0, 1))
    conv.set_weights([kernel])
    values, _ = pixel_metrics(_render(network, layer, list(range(8))), _render(after, layer, list(range(8))))
    assert auc(values["colour_change"][recoloured], values["colour_change"][rotated]) >= 0.95
    difference = values["colour_change_rel"] - values["structure_change_rel"]
    assert np.all(difference[recoloured] > 0) and np.all(difference[rotated] < 0), difference


# -- CKA ---------------------------------------------------------------------------------------


def test_cka_of_a_representation_with_itself_is_one_and_survives_rotation():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(96, 20)) @ rng.normal(size=(20, 40))  # correlated channels
    rotation, _ = np.linalg.qr(rng.normal(size=(40, 40)))
    assert linear_cka(features, features, batch_size=32) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(features, features @ rotation, batch_size=32) == pytest.approx(1.0, abs=1e-9)
    assert linear_cka(features, 3.0 * features @ rotation) == pytest.approx(1.0, abs=1e-9)
    unrelated = rng.normal(size=(96, 40))
    assert abs(linear_cka(features, unrelated, batch_size=32)) < 0.2


def test_cka_of_a_network_layer_with_itself_through_the_forward_pass_is_one(network, images):
    from visualizer.analysis.cka import MinibatchCKA

    statistics = data_statistics(network, images, [LAYER], batch_size=16)
    accumulator = MinibatchCKA()
    for gram in statistics.grams[LAYER]:
        accumulator.update_grams(LAYER, gram, gram)
    assert accumulator.value(LAYER) == pytest.approx(1.0, abs=1e-9)
    assert accumulator.images(LAYER) == len(images)
