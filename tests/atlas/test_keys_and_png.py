"""Image keys, their paths, and atomic PNG writes with metadata."""

import re

import numpy as np
import pytest

from visualizer.atlas.keys import KEY_PATTERN, PATH_FORMAT, ImageKey, UnsafeNameError, variant_suffix
from visualizer.pngio import AtlasWriteError, read_png_text, to_uint8, write_png_atomic


def test_key_path_round_trip():
    key = ImageKey("celeba", "iter_000010", "lucid", "Mixed_4c_Branch_2_b_3x3", 17)
    assert key.relpath == "images/celeba/iter_000010/lucid/Mixed_4c_Branch_2_b_3x3/0017.png"
    assert ImageKey.from_relpath(key.relpath) == key
    assert ImageKey.from_json(key.to_json()) == key
    variant = ImageKey("celeba", "final", "prior", "Mixed_5c_Branch_3_b_1x1", 3, "seed1")
    assert variant.relpath.endswith("/0003~seed1.png")
    assert ImageKey.from_relpath(variant.relpath) == variant
    assert str(variant) == "celeba/final/prior/Mixed_5c_Branch_3_b_1x1:3~seed1"


@pytest.mark.parametrize("bad", ["../etc", "..", ".hidden", "a/b", "<script>", "", "-x", "a b"])
def test_unsafe_components_are_refused(bad):
    with pytest.raises(UnsafeNameError):
        ImageKey(bad, "final", "lucid", "Conv2d_1a_7x7", 0)
    with pytest.raises(UnsafeNameError):
        ImageKey("m", "final", "lucid", bad, 0)


def test_a_leading_dash_is_refused_everywhere_a_key_reaches_a_command_line():
    with pytest.raises(UnsafeNameError, match="not starting with '.' or '-'"):
        ImageKey("m", "final", "lucid", "Conv2d_1a_7x7", 0, "-v")
    for path in (
        "images/-m/final/lucid/Conv2d_1a_7x7/0000.png",
        "images/m/final/lucid/Conv2d_1a_7x7/0000~-v.png",
    ):
        with pytest.raises(UnsafeNameError, match="Not an atlas image path"):
            ImageKey.from_relpath(path)
    assert re.fullmatch(KEY_PATTERN, "-m") is None and re.fullmatch(KEY_PATTERN, "m-1.0_x")


def test_paths_follow_the_one_path_format_both_ways():
    key = ImageKey("celeba", "final", "lucid", "Conv2d_1a_7x7", 12345, "seed1")
    fields = dict(model="celeba", snapshot="final", method="lucid", layer="Conv2d_1a_7x7", channel=12345)
    assert key.relpath == PATH_FORMAT.format(**fields, suffix=variant_suffix("seed1"))
    assert key.relpath == "images/celeba/final/lucid/Conv2d_1a_7x7/12345~seed1.png"
    assert ImageKey.from_relpath(key.relpath) == key
    for bad in (
        "images/m/final/lucid/Conv2d_1a_7x7/17.png",
        "images/m/final/lucid/x/y/0017.png",
        "x/0017.png",
    ):
        with pytest.raises(UnsafeNameError):
            ImageKey.from_relpath(bad)


def test_negative_channel_is_refused():
    with pytest.raises(UnsafeNameError):
        ImageKey("m", "final", "lucid", "Conv2d_1a_7x7", -1)


def test_png_carries_metadata_and_pixels(tmp_path):
    image = np.random.default_rng(0).uniform(size=(8, 8, 3))
    path = tmp_path / "a" / "b.png"
    size = write_png_atomic(path, image, {"vtl:key": '{"x": 1}'})
    assert size == path.stat().st_size > 0
    assert read_png_text(path)["vtl:key"] == '{"x": 1}'
    from PIL import Image

    np.testing.assert_array_equal(np.asarray(Image.open(path)), to_uint8(image))
    assert [p.name for p in path.parent.iterdir()] == ["b.png"]  # no temporary file left


def test_unwritable_folder_gives_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(AtlasWriteError, match="Cannot write image"):
        write_png_atomic(blocker / "x.png", np.zeros((2, 2, 3)), {})


def test_truncated_png_is_unreadable(tmp_path):
    path = tmp_path / "x.png"
    write_png_atomic(path, np.random.default_rng(1).uniform(size=(32, 32, 3)), {"k": "v"})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises((OSError, ValueError)):
        read_png_text(path)


def test_full_disk_is_reported_and_leaves_nothing(tmp_path, monkeypatch):
    import errno
    import os

    def no_space(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(AtlasWriteError, match="the disk is full"):
        write_png_atomic(tmp_path / "x.png", np.zeros((4, 4, 3)), {})
    assert list(tmp_path.iterdir()) == []
