"""Tests for visualizer.render.transforms: Lucid's standard transforms with exact semantics."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from tests.render.conftest import gradient
from visualizer.render import transforms as T


def test_standard_transforms_constants():
    """The standard list is pad 12 (0.5), jitter 8, 11 scales 0.90..1.10, 26 angles, jitter 4."""
    names = [t.name for t in T.standard_transforms()]
    assert names[0] == "pad(12, 'constant', 0.5)" and names[1] == "jitter(8)" and names[4] == "jitter(4)"
    np.testing.assert_allclose(T.STANDARD_SCALES, np.arange(0.90, 1.1001, 0.02), atol=1e-9)
    assert len(T.STANDARD_ANGLES) == 26 and T.STANDARD_ANGLES.count(0) == 6
    assert sorted(set(T.STANDARD_ANGLES)) == list(range(-10, 11))


def test_size_chain_matches_lucid():
    """128 -> pad 152 -> jitter 144 -> int(144 s) -> rotate -> -4 gives exactly {125, 128, ..., 154}."""
    pipeline = T.Pipeline(tuple(T.standard_transforms()))
    images = np.full((1, 128, 128, 3), 0.5, dtype="float32")
    sizes = set()
    for index in range(len(T.STANDARD_SCALES)):
        draws = list(pipeline.sample(np.random.default_rng(index), 1))
        draws[2] = np.asarray([index], dtype="int32")
        out = pipeline(images, draws)
        assert out.shape[1] == out.shape[2]
        sizes.add(int(out.shape[1]))
    assert sizes == {125, 128, 131, 134, 137, 140, 142, 145, 148, 151, 154}


def test_jitter_is_a_crop_with_inclusive_offsets():
    """jitter(d) crops to (H-d, W-d) at offsets drawn from 0..d inclusive."""
    rng = np.random.default_rng(0)
    transform = T.jitter(3)
    offsets = {tuple(transform.sample(rng, 1, False)) for _ in range(400)}
    assert offsets == {(y, x) for y in range(4) for x in range(4)}
    images = np.arange(2 * 10 * 9 * 1, dtype="float32").reshape(2, 10, 9, 1)
    got = ops.convert_to_numpy(transform(images, np.asarray([3, 1], dtype="int32")))
    np.testing.assert_array_equal(got, images[:, 3:10, 1:7])


def test_jitter_per_image_draws():
    """Per-image draws crop each image at its own offset."""
    images = np.arange(2 * 8 * 8, dtype="float32").reshape(2, 8, 8, 1)
    draw = np.asarray([[0, 2], [2, 1]], dtype="int32")
    got = ops.convert_to_numpy(T.jitter(2)(images, draw))
    np.testing.assert_array_equal(got[0], images[0, 0:6, 2:8])
    np.testing.assert_array_equal(got[1], images[1, 2:8, 1:7])


def test_rotate_90_is_counter_clockwise_nearest():
    """Rotating by 90 degrees (with Lucid's 3.14) equals numpy's counter-clockwise rot90."""
    images = np.random.default_rng(0).random((1, 9, 9, 3)).astype("float32")
    rotate = T.random_rotate([90])
    got = ops.convert_to_numpy(rotate(images, np.asarray([0], dtype="int32")))
    np.testing.assert_array_equal(got[0], np.rot90(images[0], k=1, axes=(0, 1)))


def test_rotate_fills_with_zero_and_keeps_size():
    """Corners uncovered by a rotation are filled with 0 and the size stays."""
    images = np.ones((1, 20, 30, 3), dtype="float32")
    got = ops.convert_to_numpy(T.rotate_nearest(images, np.float32(10 * 3.14 / 180)))
    assert got.shape == images.shape
    assert got[0, 0, 0, 0] == 0.0 and got[0, 10, 15, 0] == 1.0


def test_matches_tensorflow_ops():
    """Resize equals TF1 legacy resize_bilinear; rotate equals TF's projective transform (NEAREST)."""
    tf = pytest.importorskip("tensorflow")
    rng = np.random.default_rng(1)
    images = rng.random((2, 144, 144, 3)).astype("float32")
    for scale in T.STANDARD_SCALES:
        n = T.scaled_size(144, scale)
        expected = tf.raw_ops.ResizeBilinear(
            images=images, size=[n, n], align_corners=False, half_pixel_centers=False
        )
        for resize in (T.resize_bilinear_legacy, T.resize_bilinear_gathers):
            np.testing.assert_allclose(ops.convert_to_numpy(resize(images, n, n)), expected, atol=1e-6)
    h, w = 139, 141
    images = rng.random((1, h, w, 3)).astype("float32")
    for degrees in (-10, -3, 7, 10):
        a = np.float32(degrees * 3.14 / 180)
        c, s = np.cos(a), np.sin(a)
        x0 = ((w - 1) - (c * (w - 1) - s * (h - 1))) / 2
        y0 = ((h - 1) - (s * (w - 1) + c * (h - 1))) / 2
        expected = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=[[c, -s, x0, s, c, y0, 0.0, 0.0]],
            output_shape=[h, w],
            fill_value=0.0,
            interpolation="NEAREST",
            fill_mode="CONSTANT",
        )
        np.testing.assert_array_equal(ops.convert_to_numpy(T.rotate_nearest(images, a)), expected)


@pytest.mark.parametrize("resize", [T.resize_bilinear_legacy, T.resize_bilinear_gathers])
def test_bilinear_gradient_matches_finite_differences(resize):
    """The sampler's image gradient (the backend's op and the gathers) equals central finite differences."""
    rng = np.random.default_rng(2)
    images = rng.random((1, 12, 11, 2)).astype("float32")
    weights = rng.normal(size=(1, 13, 9, 2)).astype("float32")

    def f(x):
        return resize(x, 13, 9) * weights

    analytic = gradient(f, images)
    eps = 0.25  # the map is linear, so a large step has no truncation error
    for index in [(0, 0, 0, 0), (0, 5, 7, 1), (0, 11, 10, 0), (0, 3, 2, 1)]:
        bump = np.zeros_like(images)
        bump[index] = eps
        plus = ops.convert_to_numpy(f(images + bump)).sum()
        minus = ops.convert_to_numpy(f(images - bump)).sum()
        assert analytic[index] == pytest.approx((plus - minus) / (2 * eps), abs=2e-4)
    assert np.abs(analytic).sum() > 0


def test_per_image_scale_keeps_size_and_fills():
    """Per-image scales keep the batch size and fill where a smaller image ends."""
    images = np.ones((2, 20, 20, 3), dtype="float32")
    transform = T.random_scale([0.5, 1.0], fill=0.25)
    got = ops.convert_to_numpy(transform(images, np.asarray([[0], [1]], dtype="int32")))
    assert got.shape == images.shape
    assert got[0, 5, 5, 0] == 1.0 and got[0, 15, 15, 0] == 0.25
    np.testing.assert_allclose(got[1], 1.0)


def test_pipeline_draws_are_seeded():
    """The same generator seed gives the same draws, shared (1-D) or per image (2-D)."""
    pipeline = T.Pipeline(tuple(T.standard_transforms()))
    a = pipeline.sample(np.random.default_rng(5), 4)
    b = pipeline.sample(np.random.default_rng(5), 4)
    assert all((x is None and y is None) or np.array_equal(x, y) for x, y in zip(a, b))
    per_image = pipeline.sample(np.random.default_rng(5), 4, per_image=True)
    assert per_image[1].shape == (4, 2) and per_image[2].shape == (4, 1)
    assert pipeline.static_slots(False) == (False, False, True, False, False)


# -- the fixed canvas (visualizer.render.canvas) ---------------------------------------------------


def _on_canvas(pipeline: T.Pipeline, images: np.ndarray, draws: tuple) -> tuple[np.ndarray, list]:
    sizes = pipeline.extents(images.shape[1:3], draws)
    extents = ops.convert_to_tensor(np.asarray(sizes, dtype="int32"))
    return ops.convert_to_numpy(pipeline.on_canvas(ops.convert_to_tensor(images), draws, extents)), sizes


def test_fixed_canvas_holds_lucids_image_in_its_region():
    """At every scale the canvas's region is the image Lucid's transforms make (to rounding), grey beyond.

    The canvas is one shape for every draw: the largest scaled size.
    """
    pipeline = T.Pipeline(tuple(T.standard_transforms()))
    rng = np.random.default_rng(3)
    images = rng.uniform(size=(2, 40, 40, 3)).astype("float32")
    shapes = set()
    for index in range(len(T.STANDARD_SCALES)):
        draws = list(pipeline.sample(rng, 2))
        draws[2] = np.asarray([index], dtype="int32")
        draws[3] = np.asarray([int(rng.integers(0, 21))], dtype="int32")  # never the 0-degree angles only
        plain = ops.convert_to_numpy(pipeline(images, draws))
        canvas, sizes = _on_canvas(pipeline, images, tuple(draws))
        height, width = sizes[-1]
        assert plain.shape[1:3] == (height, width)
        np.testing.assert_allclose(canvas[:, :height, :width], plain, atol=1e-6)
        assert np.all(canvas[:, height:] == 0.5) and np.all(canvas[:, :, width:] == 0.5)
        shapes.add(canvas.shape)
    assert shapes == {(2, 57, 57, 3)}  # 40 + 24 - 8 = 56, int(1.1 * 56) - 4 = 57: the largest scale


def test_extents_follow_the_image_sizes():
    """`Pipeline.extents` gives each transform's output size, as the plain transforms produce it."""
    pipeline = T.Pipeline(tuple(T.standard_transforms()))
    draws = list(pipeline.sample(np.random.default_rng(0), 1))
    draws[2] = np.asarray([0], dtype="int32")  # scale 0.9
    assert pipeline.extents((128, 128), draws) == [
        (128, 128),
        (152, 152),
        (144, 144),
        (129, 129),
        (129, 129),
        (125, 125),
    ]


def test_a_transform_without_a_canvas_form_after_the_scale_is_refused():
    """A reflecting pad after a scale has no canvas form: the check names it; before the scale it is fine."""
    T.Pipeline((T.pad(4, mode="reflect"), T.random_scale([0.9, 1.1]))).check_canvas()
    with pytest.raises(ValueError, match=r"pad\(4, 'reflect'"):
        T.Pipeline((T.random_scale([0.9, 1.1]), T.pad(4, mode="reflect"))).check_canvas()


def test_restrict_reads_only_the_region():
    """Masked, a map's spatial mean is its region's mean; rolled, the region's centre is the map's centre."""
    from visualizer.render.canvas import restrict

    acts = np.random.default_rng(0).normal(size=(2, 7, 9, 3)).astype("float32")
    region = ops.convert_to_tensor(np.asarray([5, 6], dtype="int32"))
    masked = ops.convert_to_numpy(restrict(acts, region))
    np.testing.assert_allclose(masked.mean(axis=(1, 2)), acts[:, :5, :6].mean(axis=(1, 2)), rtol=1e-5)
    rolled = ops.convert_to_numpy(restrict(acts, region, centre=True))
    np.testing.assert_array_equal(rolled[:, 7 // 2, 9 // 2], acts[:, 5 // 2, 6 // 2])
