"""Tests for visualizer.render.loop: the one optimization loop, on a toy parameterization and objective."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from keras import ops

from visualizer.render.loop import Objective, RenderLoop, Schedule, check_channels
from visualizer.render.param import ImageParameterization, pixel_image
from visualizer.render.transforms import Pipeline, jitter

SIZE = 8


def colour_mean(images, ids):
    """Slot b's value: the mean of colour ``ids[b]`` of its image (channels are R, G, B)."""
    means = ops.mean(images, axis=(1, 2))
    return ops.take_along_axis(means, ops.expand_dims(ids, 1), axis=1)[:, 0]


def nan_for_blue(images, ids):
    """`colour_mean`, but NaN for channel 2."""
    return ops.where(ids == 2, float("nan"), colour_mean(images, ids))


def pixels() -> ImageParameterization:
    return ImageParameterization(pixel_image(1, SIZE, decorrelate=False))


class FailsOnce:
    """Pixels whose first batch starts with NaN in slot 1; every later batch starts normally."""

    slot_axis = 0

    def __init__(self) -> None:
        self.inner, self.calls = pixels(), 0

    def initial(self, streams: Sequence[np.random.Generator]) -> np.ndarray:
        params = self.inner.initial(streams)
        self.calls += 1
        if self.calls == 1:
            params[1] = np.nan
        return params

    def step_inputs(self, streams):
        return ()

    def images(self, params, inputs=()):
        return self.inner.images(params)

    def view(self, images):
        return images


def test_a_render_raises_each_slot_s_own_value_and_reports_it():
    """Each slot maximizes its own channel; values are the score on the final, untransformed images."""
    loop = RenderLoop(pixels(), Objective(colour_mean), Pipeline((jitter(2),)))
    result = loop.run([0, 1, 2], Schedule(30, seed=1, thresholds=(1, 30)), progress=False, keep_params=True)
    assert result.images.shape == (3, SIZE, SIZE, 3) and result.failed == []
    np.testing.assert_allclose(
        result.values, result.images.mean(axis=(1, 2))[[0, 1, 2], [0, 1, 2]], rtol=1e-5
    )
    start = result.history[1].mean(axis=(1, 2))[[0, 1, 2], [0, 1, 2]]
    assert np.all(result.values > start + 0.1)
    np.testing.assert_array_equal(result.history[30], result.images)
    images, values = loop.evaluate(result.params, [0, 1, 2], batch_size=2)
    np.testing.assert_allclose(images, result.images, atol=1e-6)
    np.testing.assert_allclose(values, result.values, atol=1e-6)


def test_the_penalty_joins_the_optimization_but_not_the_reported_value():
    """A penalty on the parameters holds them back; the reported value is the score alone."""

    def penalty(params):
        return 10.0 * ops.sum(ops.square(params), axis=(1, 2, 3))

    free = RenderLoop(pixels(), Objective(colour_mean)).run([0], Schedule(20), progress=False)
    held = RenderLoop(pixels(), Objective(colour_mean, penalty=penalty))
    held = held.run([0], Schedule(20), progress=False, keep_params=True)
    assert held.values[0] < free.values[0]
    np.testing.assert_allclose(held.values, held.images.mean(axis=(1, 2))[:, 0], rtol=1e-5)


def test_chunks_and_starts_do_not_depend_on_batch_mates():
    """Slots are independent: batches of one give the images of one batch, and repeats start apart."""
    loop = RenderLoop(pixels(), Objective(colour_mean))
    whole = loop.run([0, 1, 1], Schedule(5, seed=3), progress=False)
    single = loop.run([0, 1, 1], Schedule(5, seed=3, batch_size=1), progress=False)
    np.testing.assert_allclose(whole.images, single.images, atol=1e-6)
    assert np.abs(whole.images[1] - whole.images[2]).max() > 1e-4


def test_a_failing_slot_is_retried_then_reported_alone(monkeypatch):
    """A NaN slot is optimized again from another stream, then reported grey and NaN; its mates are kept."""
    loop = RenderLoop(pixels(), Objective(nan_for_blue))
    attempts = []
    original = loop._optimize

    def spy(channels, repeats, schedule, attempt, bar):
        attempts.append((list(channels), attempt))
        return original(channels, repeats, schedule, attempt, bar)

    monkeypatch.setattr(loop, "_optimize", spy)
    result = loop.run([0, 2, 1, 0], Schedule(3, batch_size=2, thresholds=(2,)), progress=False)
    assert attempts == [([0, 2], 0), ([1, 0], 0), ([2], 1)]
    assert result.failed == [1]
    assert np.all(result.images[1] == 0.5) and np.all(result.history[2][1] == 0.5)
    assert np.isnan(result.values[1]) and np.isfinite(result.values[[0, 2, 3]]).all()


def test_a_retry_that_succeeds_replaces_the_failed_attempt():
    """A slot that fails only on its first attempt ends with the retry's image."""
    result = RenderLoop(FailsOnce(), Objective(colour_mean)).run([0, 1], Schedule(3), progress=False)
    assert result.failed == []
    assert np.isfinite(result.values).all() and np.isfinite(result.images).all()


def test_groups_succeed_or_fail_together():
    """With groups, a failing slot fails its whole group; other groups are kept."""
    loop = RenderLoop(pixels(), Objective(nan_for_blue))
    result = loop.run([0, 2, 1, 1], Schedule(2, group=2), progress=False)
    assert result.failed == [0, 1]
    assert np.all(result.images[:2] == 0.5) and np.isfinite(result.values[2:]).all()
    with pytest.raises(ValueError, match="whole groups of 2"):
        loop.run([0, 0, 1], Schedule(2, group=2), progress=False)


def test_the_schedule_counts_updates_and_thresholds_both_ways():
    """Update counts by default; Lucid's count runs one update more and keys thresholds by loop index."""
    assert Schedule(10, thresholds=(1, 10)).record == {0: 1, 9: 10}
    lucid = Schedule(10, thresholds=(0, 10), lucid_step_count=True)
    assert lucid.updates == 11 and lucid.record == {0: 0, 10: 10}
    for settings, message in [
        (dict(steps=0), "steps must be a positive integer"),
        (dict(steps=4, batch_size=0), "batch_size must be None or a positive integer"),
        (dict(steps=4, thresholds=(0,)), r"thresholds must lie in 1\.\.4"),
        (dict(steps=4, thresholds=(5,), lucid_step_count=True), r"thresholds must lie in 0\.\.4"),
    ]:
        with pytest.raises(ValueError, match=message):
            Schedule(**settings)


def test_channels_are_checked_by_name():
    assert check_channels(np.array([2, 0]), 3, "layer") == [2, 0]
    with pytest.raises(
        ValueError, match=r"Channels \[3, 5\] out of range for layer 'x', which has channels 0..2"
    ):
        check_channels([0, 3, 5], 3, "x")
    with pytest.raises(ValueError, match="No channels to render"):
        check_channels([], 3, "x")
    with pytest.raises(ValueError, match="must be integers, received 1.5"):
        check_channels([1.5], 3, "x")
