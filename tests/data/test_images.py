"""Decoding one image: crop, resize, range; corrupt files give None."""

import numpy as np

from tests.data.conftest import write_corrupt, write_image
from visualizer.data.images import load_image


def test_centre_crop_and_resize(tmp_path):
    """A wide image keeps its centre: the red side bands are cropped away."""
    from PIL import Image

    image = Image.new("RGB", (90, 30), (255, 0, 0))
    image.paste((0, 255, 0), (30, 0, 60, 30))
    image.save(tmp_path / "wide.png")
    pixels = load_image(tmp_path / "wide.png", 16)
    assert pixels.shape == (16, 16, 3) and pixels.dtype == np.float32
    inner = pixels[:, 2:-2]  # the filter reaches one pixel past the crop box at its edges
    assert np.allclose(inner[..., 1], 1.0) and np.allclose(inner[..., 0], 0.0)


def test_range_is_unit_interval(tmp_path):
    pixels = load_image(write_image(tmp_path / "a.jpg", (255, 128, 0)), 8)
    assert pixels.min() >= 0.0 and pixels.max() <= 1.0
    assert abs(pixels[..., 0].mean() - 1.0) < 0.02


def test_corrupt_and_missing_files_give_none(tmp_path):
    assert load_image(write_corrupt(tmp_path / "bad.jpg"), 8) is None
    assert load_image(tmp_path / "missing.jpg", 8) is None


def test_truncated_jpeg_gives_none(tmp_path):
    path = write_image(tmp_path / "t.jpg", (10, 20, 30), size=(64, 64))
    path.write_bytes(path.read_bytes()[:200])
    assert load_image(path, 8) is None
