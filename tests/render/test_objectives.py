"""Tests for visualizer.render.objectives: gradient ascent, arithmetic and names."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from visualizer.render import objectives as obj
from visualizer.render.optimizer import lucid_adam
from visualizer.render.param import pixel_image


def assert_gradient_ascent(model: keras.Model, objective: obj.Objective, batch: int = 1, steps: int = 4):
    """Run a few Adam steps on a pixel image and assert the objective rose (Lucid's test helper)."""
    param = pixel_image(batch, 16)
    params = keras.Variable(param.init(np.random.default_rng(0)))
    optimizer = lucid_adam()
    values = []
    for _ in range(steps):
        with tf.GradientTape() as tape:
            acts = {name: model(param(params.value)) for name in objective.layers}
            value = tf.reduce_sum(objective(acts.__getitem__))
            loss = -value
        optimizer.apply([tape.gradient(loss, params.value)], [params])
        values.append(float(value))
    assert values[-1] > values[0], values


def test_channel_ascent(tiny):
    """Maximizing a channel's spatial mean raises it."""
    assert_gradient_ascent(tiny, obj.channel("relu2", 1))


def test_neuron_ascent(tiny):
    """Maximizing the centre neuron raises it."""
    assert_gradient_ascent(tiny, obj.neuron("relu2", 2))


def test_channel_minus_diversity_ascent(tiny):
    """A channel minus Lucid's diversity term rises on a batch of three."""
    assert_gradient_ascent(tiny, obj.channel("relu2", 0) - 1e-3 * obj.diversity("relu2"), batch=3)


def test_arithmetic_returns_new_objects_and_names():
    """Operators return new objectives with self-describing names; operands are unchanged."""
    a = obj.channel("Mixed_4c_Branch_2_b_3x3", 17)
    b = obj.channel("Mixed_4c_Branch_2_b_3x3", 3)
    assert a.name == "channel Mixed_4c_Branch_2_b_3x3:17"
    scaled = 0.5 * a
    assert scaled is not a and a.name == "channel Mixed_4c_Branch_2_b_3x3:17"
    assert scaled.name == "0.5 * channel Mixed_4c_Branch_2_b_3x3:17"
    assert (a + b).name == "channel Mixed_4c_Branch_2_b_3x3:17 + channel Mixed_4c_Branch_2_b_3x3:3"
    assert (a - 100 * obj.diversity("L")).name == "channel Mixed_4c_Branch_2_b_3x3:17 - 100 * diversity L"
    assert (-a).name == "-channel Mixed_4c_Branch_2_b_3x3:17"
    assert str(obj.neuron("L", 4)) == "neuron L:4"
    assert obj.as_objective("L:7").name == "channel L:7"
    with pytest.raises(ValueError, match="L7"):
        obj.as_objective("L7")


def test_arithmetic_values():
    """Sums, scalings and Objective.sum compute what their names say."""
    acts = np.random.default_rng(0).random((3, 4, 5, 6)).astype("float32")
    T = lambda name: ops.convert_to_tensor(acts)  # noqa: E731
    a, b = obj.channel("L", 1), obj.channel("L", 4)
    va, vb = acts[..., 1].mean(axis=(1, 2)), acts[..., 4].mean(axis=(1, 2))
    np.testing.assert_allclose(ops.convert_to_numpy((a + 2 * b - 1)(T)), va + 2 * vb - 1, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(obj.Objective.sum([a, b, a])(T)), 2 * va + vb, rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy((a / 4)(T)), va / 4, rtol=1e-6)
    assert (a + b).layers == ("L",)


def test_channels_equals_sum_of_per_slot_channels():
    """channels(L, ids) gives slot b the value of channel(L, ids[b], batch=b)."""
    acts = np.random.default_rng(1).random((3, 4, 4, 6)).astype("float32")
    T = lambda name: ops.convert_to_tensor(acts)  # noqa: E731
    ids = [5, 0, 2]
    expected = obj.Objective.sum(obj.channel("L", n, batch=b) for b, n in enumerate(ids))
    np.testing.assert_allclose(
        ops.convert_to_numpy(obj.channels("L", ids)(T)), ops.convert_to_numpy(expected(T)), rtol=1e-6
    )
    assert obj.channels("L", ids).name == "channels L:[5, 0, 2]"
    np.testing.assert_allclose(
        ops.convert_to_numpy(obj.neurons("L", ids)(T)), acts[[0, 1, 2], 2, 2, ids], rtol=1e-6
    )


def test_diversity_matches_lucid_formula():
    """Per-image diversity values sum to Lucid's (1/B) sum_{i != j} <G_i, G_j> of normalized Grams."""
    acts = np.random.default_rng(2).normal(size=(4, 3, 3, 5)).astype("float32")
    flat = acts.reshape(4, -1, 5).astype("float64")
    grams = np.einsum("bpc,bpd->bcd", flat, flat).reshape(4, -1)
    grams /= np.linalg.norm(grams, axis=1, keepdims=True)
    sims = grams @ grams.T
    expected = (sims.sum() - np.trace(sims)) / 4
    got = ops.convert_to_numpy(obj.diversity("L")(lambda name: ops.convert_to_tensor(acts)))
    assert got.shape == (4,) and got.sum() == pytest.approx(expected, rel=1e-5)


def test_grouped_diversity_is_lucid_diversity_of_each_group():
    """In groups of G, each image's value is Lucid's per-image value within its own group alone."""
    acts = np.random.default_rng(3).normal(size=(6, 3, 3, 5)).astype("float32")
    grouped = obj.diversity("L", group=3)
    got = ops.convert_to_numpy(grouped(lambda name: ops.convert_to_tensor(acts)))
    for start in (0, 3):
        alone = obj.diversity("L")(lambda name, s=start: ops.convert_to_tensor(acts[s : s + 3]))
        np.testing.assert_allclose(got[start : start + 3], ops.convert_to_numpy(alone), rtol=1e-5)
    whole = ops.convert_to_numpy(obj.diversity("L")(lambda name: ops.convert_to_tensor(acts)))
    assert not np.allclose(got, whole, rtol=1e-3)
    assert grouped.name == "diversity L in groups of 3"


@pytest.mark.parametrize("group", [0, -2, 1.5, True])
def test_grouped_diversity_rejects_bad_group(group):
    with pytest.raises(ValueError, match="group must be None or a positive integer"):
        obj.diversity("L", group=group)


def test_grouped_diversity_names_a_batch_that_does_not_divide():
    acts = ops.convert_to_tensor(np.ones((5, 2, 2, 3), "float32"))
    with pytest.raises(
        ValueError, match="groups of 2 needs a batch that is a multiple of 2; received a batch of 5"
    ):
        obj.diversity("L", group=2)(lambda name: acts)
