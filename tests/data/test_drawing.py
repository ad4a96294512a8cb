"""Drawing primitives: declared periods are the dominant frequencies; shapes fill."""

import numpy as np
import pytest

from visualizer.data import drawing as dr


def _dominant_axis_frequency(patch: np.ndarray) -> int:
    """Index max(|kx|, |ky|) of the strongest non-constant Fourier component."""
    spectrum = np.abs(np.fft.fft2(patch - patch.mean()))
    ky, kx = np.unravel_index(np.argmax(spectrum), spectrum.shape)
    size = patch.shape[0]
    ky, kx = min(ky, size - ky), min(kx, size - kx)
    return max(ky, kx)


@pytest.mark.parametrize("kind", range(len(dr.TEXTURES)))
@pytest.mark.parametrize("period", [4, 8, 16])
def test_texture_period_is_the_dominant_frequency(kind, period):
    size = 64
    textures = dr.texture(size, np.array([kind]), np.array([period]), np.zeros(1), np.array([0.7]))
    assert textures.shape == (1, size, size)
    assert textures.min() >= 0.0 and textures.max() <= 1.0
    assert _dominant_axis_frequency(textures[0]) == size // period


def test_shapes_are_filled_and_distinct():
    size = 64
    kinds = np.arange(len(dr.SHAPES))
    centre = np.full(len(kinds), 32.0)
    masks = dr.shape_mask(size, kinds, centre, centre, np.full(len(kinds), 20.0), np.zeros(len(kinds)))
    areas = masks.reshape(len(kinds), -1).sum(axis=1)
    assert (areas > 200).all() and len(set(areas.tolist())) == len(kinds)
    assert masks[:, 32, 32].tolist() == [1, 1, 1, 1, 0]  # the ring is hollow
    assert masks[:, 0, :].sum() == 0 and masks[:, :, 0].sum() == 0  # nothing leaks to the border


def test_petal_count_shows_as_angular_frequency():
    size = 64
    for count in (5, 8, 12):
        mask = dr.petals(size, np.array([32.0]), np.array([32.0]), np.array([28.0]), np.array([count]),
                         np.array([2.0]), np.zeros(1))[0]  # fmt: skip
        angles = np.linspace(0, 2 * np.pi, 720, endpoint=False)
        ring = mask[(32 + 22 * np.sin(angles)).astype(int), (32 + 22 * np.cos(angles)).astype(int)]
        spectrum = np.abs(np.fft.rfft(ring - ring.mean()))
        assert int(np.argmax(spectrum)) == count


def test_hsv_primaries():
    rgb = dr.hsv_to_rgb(np.array([0.0, 1 / 3, 2 / 3]), np.ones(3), np.ones(3))
    np.testing.assert_allclose(rgb, np.eye(3), atol=1e-6)
