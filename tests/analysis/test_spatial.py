"""Dominant spatial period of an image."""

import numpy as np
import pytest

from visualizer.analysis.spatial import dominant_period


@pytest.mark.parametrize("period", [4, 8, 16, 32])
@pytest.mark.parametrize("angle", [0.0, 0.6, 1.3])
def test_grating_period_is_recovered(period, angle):
    size = 128
    y, x = np.mgrid[:size, :size]
    phase = 2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period
    image = 0.5 + 0.4 * np.sin(phase)[..., None] * np.array([1.0, 0.6, 0.2])
    assert dominant_period(image) == pytest.approx(period, rel=0.12)


def test_flat_image_has_no_period():
    assert dominant_period(np.full((32, 32, 3), 0.5)) == float("inf")


def test_uint8_and_float_agree():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(64, 64, 3))
    as_bytes = np.rint(image * 255).astype("uint8")
    assert dominant_period(image) == pytest.approx(dominant_period(as_bytes), rel=0.05)
