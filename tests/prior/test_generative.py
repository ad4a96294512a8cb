"""The generative-prior renderer on a planted colour classifier."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.prior.conftest import colour_classifier
from visualizer.prior.generative import render_with_prior

SETTINGS = {"steps": 40, "lam": 1e-3, "learning_rate": 0.05, "progress": False}


@pytest.fixture(scope="module")
def classifier() -> keras.Model:
    return colour_classifier()


@pytest.fixture(scope="module")
def rendering(classifier, generator):
    return render_with_prior(classifier, "colours", [0, 1], generator, seed=0, **SETTINGS)


def red_minus_blue(images: np.ndarray) -> np.ndarray:
    return images[..., 0].mean(axis=(1, 2)) - images[..., 2].mean(axis=(1, 2))


def test_ascent_raises_each_channel(rendering):
    assert rendering.images.shape == (2, 16, 16, 3)
    assert rendering.failed == []
    gain = rendering.objectives - rendering.start_objectives
    assert np.all(gain > 0.05), gain


def test_images_show_the_planted_colours(rendering, classifier, generator):
    start = render_with_prior(
        classifier, "colours", [0], generator, **SETTINGS | {"steps": 1, "learning_rate": 1e-6}
    )
    centre = red_minus_blue(start.images)[0]
    red_channel, blue_channel = red_minus_blue(rendering.images)
    assert red_channel > centre + 0.05 > centre - 0.05 > blue_channel, (red_channel, centre, blue_channel)
    np.testing.assert_allclose(rendering.objectives, [red_channel, -blue_channel], atol=1e-4)


def test_lambda_keeps_w_near_the_centre(rendering, classifier, generator):
    held = render_with_prior(classifier, "colours", [0, 1], generator, **SETTINGS | {"lam": 1.0})
    assert np.all(held.distances < 0.5 * rendering.distances), (held.distances, rendering.distances)


def test_seeds_and_batches(rendering, classifier, generator):
    again = render_with_prior(classifier, "colours", [0, 1], generator, seed=0, **SETTINGS)
    np.testing.assert_array_equal(again.images, rendering.images)
    one_by_one = render_with_prior(classifier, "colours", [0, 1], generator, seed=0, batch_size=1, **SETTINGS)
    np.testing.assert_allclose(one_by_one.latents, rendering.latents, atol=1e-4)
    other = render_with_prior(classifier, "colours", [0, 1], generator, seed=1, **SETTINGS)
    assert np.abs(other.latents - rendering.latents).max() > 1e-4  # the noise differs, so does w*


def test_history_and_settings(classifier, generator):
    result = render_with_prior(classifier, "colours", [2], generator, thresholds=[10, 40], **SETTINGS)
    assert sorted(result.history) == [10, 40]
    np.testing.assert_allclose(result.history[40], result.images, atol=1e-6)
    assert result.settings["lam"] == SETTINGS["lam"] and result.settings["center"] == "sampled"


def test_non_finite_channels_fail_alone(generator):
    classifier = colour_classifier()
    broken = keras.layers.Lambda(
        lambda x: keras.ops.concatenate([x[..., :1], keras.ops.log(x[..., 1:2] - 10.0), x[..., 2:]], axis=-1),
        name="broken",
    )(classifier.get_layer("colours").output)
    model = keras.Model(classifier.inputs, broken)
    result = render_with_prior(model, "broken", [0, 1], generator, thresholds=[5], **SETTINGS)
    assert result.failed == [1]
    assert np.isfinite(result.objectives[0]) and np.isnan(result.objectives[1])
    assert np.all(result.images[1] == 0.5) and np.all(np.isfinite(result.latents[0]))
    assert np.all(result.history[5][1] == 0.5) and np.isfinite(result.history[5][0]).all()


def test_the_prior_is_a_parameterization_of_the_render_loop(classifier, generator, monkeypatch):
    """One loop serves both renderers: the prior's ascent runs in `RenderLoop`, retries included."""
    from visualizer.render.loop import RenderLoop

    attempts = []
    original = RenderLoop._optimize

    def spy(self, channels, repeats, schedule, attempt, bar):
        attempts.append((type(self.parameterization).__name__, list(channels), attempt))
        return original(self, channels, repeats, schedule, attempt, bar)

    monkeypatch.setattr(RenderLoop, "_optimize", spy)
    render_with_prior(classifier, "colours", [0, 1, 2], generator, batch_size=2, **SETTINGS | {"steps": 2})
    assert attempts == [("LatentParameterization", [0, 1], 0), ("LatentParameterization", [2], 0)]


def test_a_repeated_channel_draws_noise_of_its_own(classifier, generator):
    """Each repeat of a channel has its own noise stream (as each repeat in Lucid's method starts apart)."""
    result = render_with_prior(classifier, "colours", [0, 0], generator, seed=0, **SETTINGS)
    alone = render_with_prior(classifier, "colours", [0], generator, seed=0, **SETTINGS)
    np.testing.assert_allclose(result.latents[0], alone.latents[0], atol=1e-5)
    assert np.abs(result.latents[0] - result.latents[1]).max() > 1e-4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"channels": [3]}, r"Channels \[3\] out of range for layer 'colours', which has channels 0..2"),
        ({"center": "median"}, "Unknown center 'median'; valid: sampled, stored"),
        ({"thresholds": [0]}, r"thresholds must lie in 1..40"),
        ({"lam": -1.0}, "lam must be non-negative"),
        ({"channels": []}, "No channels to render"),
    ],
)
def test_bad_settings_are_named(classifier, generator, arguments, message):
    settings = SETTINGS | {"channels": [0]} | arguments
    with pytest.raises(ValueError, match=message):
        render_with_prior(classifier, "colours", generator=generator, **settings)
