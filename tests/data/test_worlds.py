"""The synthetic worlds: deterministic, balanced, structured and learnable."""

import time

import numpy as np
import pytest

from visualizer.data import WORLDS, DatasetError, get_world, open_world
from visualizer.data.worlds import FACE_ATTRIBUTES, PERIODS


@pytest.mark.parametrize("name", list(WORLDS))
def test_same_seed_same_images_in_any_batch(name):
    world = get_world(name)
    images, labels = world.sample(np.arange(6), "train", 32, seed=3)
    again, again_labels = world.sample(np.array([4, 5]), "train", 32, seed=3)
    np.testing.assert_array_equal(images[4:], again)
    np.testing.assert_array_equal(labels[4:], again_labels)
    other, _ = world.sample(np.arange(6), "train", 32, seed=4)
    assert not np.array_equal(images, other)
    validation, _ = world.sample(np.arange(6), "validation", 32, seed=3)
    assert not np.array_equal(images, validation)
    assert images.dtype == np.float32 and images.shape == (6, 32, 32, 3)
    assert images.min() >= 0.0 and images.max() <= 1.0


@pytest.mark.parametrize("name", ["source", "flowers", "animals"])
def test_single_label_worlds_are_balanced(name):
    data = open_world(name, 16, seed=0)
    classes = data.num_classes
    _, labels = data.world.sample(np.arange(classes * 3), "train", 16, 0)
    assert labels.shape == (classes * 3,) and labels.dtype == np.int64
    assert np.bincount(labels, minlength=classes).tolist() == [3] * classes
    assert data.size("train") % classes == 0 and data.size("validation") % classes == 0


def test_world_sizes_follow_the_paper():
    assert len(WORLDS["flowers"].class_names) == 17 and WORLDS["flowers"].train_size == 17 * 80
    assert 6 <= len(WORLDS["animals"].class_names) <= 10
    assert len(WORLDS["source"].class_names) >= 48


def test_faces_are_multi_label_with_balanced_attributes():
    world = get_world("faces")
    assert world.multi_label and 8 <= len(FACE_ATTRIBUTES) <= 12
    _, labels = world.sample(np.arange(2000), "train", 16, seed=0)
    assert labels.shape == (2000, len(FACE_ATTRIBUTES)) and set(np.unique(labels)) == {0.0, 1.0}
    assert np.all(np.abs(labels.mean(axis=0) - 0.5) < 0.05)


def _radial_peak(patch: np.ndarray) -> float:
    spectrum = np.abs(np.fft.fft2(patch - patch.mean()))
    size = patch.shape[0]
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    return float(np.hypot(min(ky, size - ky), min(kx, size - kx)))


@pytest.mark.parametrize("period_index", [0, 1])
def test_source_texture_period_is_dominant_inside_the_object(period_index):
    """Disks and squares with stripes: the centre patch's frequency is 1/period."""
    world = get_world("source")
    period = PERIODS[period_index]
    wanted = [
        i for i, name in enumerate(world.class_names)
        if name.split("-")[0] in ("disk", "square") and name.split("-")[1] == "stripes"
        and name.split("-")[2] == f"p{period}"
    ]  # fmt: skip
    indices = np.concatenate([np.arange(c, 72 * 20, 72) for c in wanted])
    images, labels = world.sample(indices, "train", 64, seed=0)
    assert set(labels.tolist()) == set(wanted)
    hits = 0
    for image, index in zip(images, indices):
        from visualizer.data.worlds import _UNIFORMS, hashed_uniforms

        u = hashed_uniforms(_key(world, 0), np.array([index]), _UNIFORMS + 1)[0]
        cy, cx = 32 + (u[0] - 0.5) * 16, 32 + (u[1] - 0.5) * 16
        top, left = int(round(cy)) - 8, int(round(cx)) - 8
        patch = image[top : top + 16, left : left + 16].mean(axis=-1)
        hits += abs(_radial_peak(patch) - 16 / period) <= 1.0
    assert hits >= 0.9 * len(indices)


def _key(world, seed, split=0):
    import zlib

    return (seed, zlib.crc32(world.name.encode()), split)


def _ridge_probe(train_x, train_y, test_x, classes):
    """A linear probe: ridge regression onto one-hot targets, arg-max."""
    mean, std = train_x.mean(0), train_x.std(0) + 1e-6
    a, b = (train_x - mean) / std, (test_x - mean) / std
    targets = np.eye(classes)[train_y] if train_y.ndim == 1 else train_y
    weights = np.linalg.solve(a.T @ a + 10.0 * np.eye(a.shape[1]), a.T @ targets)
    return b @ weights


def _features(images, cells=4):
    """Colours pooled over a cells x cells grid (3 * cells**2 numbers per image)."""
    n, size = images.shape[:2]
    return images.reshape(n, cells, size // cells, cells, size // cells, 3).mean(axis=(2, 4)).reshape(n, -1)


@pytest.mark.parametrize("name", ["source", "flowers", "animals"])
def test_a_linear_probe_beats_chance(name):
    world = get_world(name)
    classes = len(world.class_names)
    train_x, train_y = world.sample(np.arange(classes * 30), "train", 32, 0)
    test_x, test_y = world.sample(np.arange(classes * 10), "validation", 32, 0)
    scores = _ridge_probe(_features(train_x), train_y, _features(test_x), classes)
    accuracy = float(np.mean(np.argmax(scores, axis=1) == test_y))
    assert accuracy > 2.5 / classes, accuracy


def test_a_linear_probe_reads_face_attributes():
    """Hair, skin and face shape show in pooled colours; constant guessing scores 0.5."""
    world = get_world("faces")
    train_x, train_y = world.sample(np.arange(1000), "train", 32, 0)
    test_x, test_y = world.sample(np.arange(300), "validation", 32, 0)
    scores = _ridge_probe(_features(train_x, 8), train_y, _features(test_x, 8), train_y.shape[1])
    per_attribute = np.mean((scores > 0.5) == (test_y > 0.5), axis=0)
    assert per_attribute.mean() > 0.55 and per_attribute.max() > 0.65, per_attribute


def test_generation_is_fast():
    world = get_world("source")
    world.sample(np.arange(8), "train", 64, 0)
    start = time.perf_counter()
    world.sample(np.arange(1024), "train", 64, 0)
    assert time.perf_counter() - start < 5.0  # thousands a second on an idle 2-core CPU


def test_unknown_world_and_bad_sizes():
    with pytest.raises(DatasetError, match="valid worlds"):
        get_world("moon")
    with pytest.raises(DatasetError, match="train_size"):
        open_world("faces", 16, 0, train_size=-1)
