"""The streaming order: batches are pure functions of (seed, step)."""

import numpy as np

from visualizer.data import open_world


def _data(seed=0, size=50):
    return open_world("animals", 16, seed, train_size=size, validation_size=16)


def test_each_epoch_visits_every_item_once():
    data = _data()
    indices = data.train_indices(0, 100)
    assert sorted(indices[:50].tolist()) == list(range(50))
    assert sorted(indices[50:].tolist()) == list(range(50))
    assert not np.array_equal(indices[:50], indices[50:])


def test_batches_are_pure_functions_of_the_step():
    first, second = _data(), _data()
    for step in (3, 0, 7):
        a, b = first.train_batch(step, 8), second.train_batch(step, 8)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(_data(seed=1).train_batch(0, 8)[1], first.train_batch(0, 8)[1])


def test_validation_covers_the_split_in_order():
    batches = list(_data().validation_batches(6))
    assert [len(x) for x, _ in batches] == [6, 6, 4]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), np.arange(16) % 8)
