"""The fixed canvas: Lucid's size-changing transforms on tensors of one shape.

Lucid's ``random_scale`` resizes the batch to one of 11 sizes, so a compiler
that needs static shapes (``jax.jit``) compiles the step 11 times per layer.
On the fixed canvas every scale is resampled onto one canvas of the largest
scaled size instead: the image occupies a *valid region* anchored at the
origin, ``extent = (height, width)`` pixels (a step input, not a shape), and
the rest of the canvas holds `CANVAS_FILL`. Inside the valid region the
pixels are Lucid's (the same TF1 legacy bilinear sampling, the same
rotation about the region's centre with zero fill, the same crops); the
network then reads the whole canvas, and the objective reads only the part
of the layer's activations that the valid region produces (`restrict`).

What differs from Lucid is only at the region's edge: Lucid's convolutions
pad a smaller image with zeros, the canvas's see `CANVAS_FILL` (zero in the
[-1, 1] range that InceptionV1 computes in) and, in deeper layers, the
network's response to it. The parity this leaves against Lucid is measured
in BENCHMARKS.md ("Parity with Lucid").

These functions are the in-graph halves of `visualizer.render.transforms`'
canvas forms; the sizes (``extent``) come from the host, where
`visualizer.render.transforms.Pipeline.extents` computes them from the draws.
"""

from __future__ import annotations

from typing import Any

from keras import ops

__all__ = [
    "CANVAS_FILL",
    "jitter_on_canvas",
    "mask_outside",
    "pad_on_canvas",
    "restrict",
    "rotate_on_canvas",
    "scale_on_canvas",
]

Tensor = Any

CANVAS_FILL = 0.5
"""The canvas outside the valid region: mid-grey, InceptionV1's zero (it maps [0, 1] to [-1, 1])."""


def _inside(length: int, limit: Tensor) -> Tensor:
    """A bool vector [length]: index < limit."""
    return ops.arange(length, dtype="int32") < ops.cast(limit, "int32")


def mask_outside(images: Tensor, extent: Tensor, fill: float = CANVAS_FILL) -> Tensor:
    """Set every pixel outside the region ``[0, extent[0]) x [0, extent[1])`` to `fill`.

    Args:
        images: ``[B, H, W, C]``.
        extent: int32 ``[2]``: the region's height and width.
        fill: the value outside.

    Returns:
        The images, same shape.
    """
    _, height, width, _ = images.shape
    inside = _inside(height, extent[0])[:, None] & _inside(width, extent[1])[None, :]
    return ops.where(inside[None, :, :, None], images, ops.cast(fill, images.dtype))


def pad_on_canvas(images: Tensor, width: int, value: float, extent_in: Tensor, extent_out: Tensor) -> Tensor:
    """Constant padding of the valid region by `width` on each side, on a canvas grown by ``2 * width``.

    Args:
        images: the canvas ``[B, H, W, C]``; its region ``extent_in``.
        width: pixels added on each side.
        value: the padding value.
        extent_in: the region before, int32 ``[2]``.
        extent_out: the region after (``extent_in + 2 * width``).

    Returns:
        ``[B, H + 2 width, W + 2 width, C]``.
    """
    images = mask_outside(images, extent_in, value)  # the pad's far side lies where the canvas was
    paddings = [[0, 0], [width, width], [width, width], [0, 0]]
    return mask_outside(ops.pad(images, paddings, mode="constant", constant_values=value), extent_out)


def jitter_on_canvas(images: Tensor, d: int, draw: Tensor, extent_out: Tensor) -> Tensor:
    """Lucid's random crop of the valid region, by `d` pixels, at the offsets `draw`.

    The canvas shrinks by `d` too; the crop's ``extent_out`` first rows and
    columns are the region Lucid's crop keeps.

    Args:
        images: the canvas ``[B, H, W, C]``.
        d: pixels removed from each spatial size.
        draw: int32 ``[2]``, the (row, column) offsets in 0..d.
        extent_out: the region after (the region before minus `d`).

    Returns:
        ``[B, H - d, W - d, C]``.
    """
    batch, height, width, channels = images.shape
    draw = ops.convert_to_tensor(draw, "int32")
    cropped = ops.slice(images, [0, draw[0], draw[1], 0], [batch, height - d, width - d, channels])
    return mask_outside(cropped, extent_out)


def _legacy_source(out_length: int, in_extent: Tensor, out_extent: Tensor, in_length: int) -> tuple:
    """TF1 legacy bilinear sampling (`visualizer.render.transforms.resize_bilinear_legacy`) on a canvas.

    Output pixel ``i`` samples ``i * in_extent / out_extent`` of the input
    region; returns its two neighbours (clipped to the region) and the
    weight of the second, for ``out_length`` output pixels.
    """
    step = ops.cast(in_extent, "float32") / ops.cast(out_extent, "float32")
    source = ops.cast(ops.arange(out_length, dtype="int32"), "float32") * step
    last = ops.minimum(ops.cast(in_extent, "int32"), in_length) - 1
    low = ops.minimum(ops.cast(ops.floor(source), "int32"), last)
    high = ops.minimum(low + 1, last)
    return low, high, source - ops.cast(low, "float32")


def scale_on_canvas(images: Tensor, canvas: tuple[int, int], extent_in: Tensor, extent_out: Tensor) -> Tensor:
    """Resize the valid region from ``extent_in`` to ``extent_out`` pixels, onto a canvas of size `canvas`.

    The same sampling as Lucid's ``random_scale`` (TF1's ``resize_bilinear``,
    ``align_corners=False, half_pixel_centers=False``), written as gathers.

    Args:
        images: the canvas ``[B, H, W, C]``.
        canvas: the output canvas's (height, width), at least any ``extent_out``.
        extent_in: the region before, int32 ``[2]``.
        extent_out: the region after.

    Returns:
        ``[B, canvas[0], canvas[1], C]``, the resized region at the origin, `CANVAS_FILL` elsewhere.
    """
    _, height, width, _ = images.shape
    low, high, frac = _legacy_source(canvas[0], extent_in[0], extent_out[0], height)
    top = ops.take(images, low, axis=1)
    images = top + (ops.take(images, high, axis=1) - top) * ops.cast(frac, images.dtype)[None, :, None, None]
    low, high, frac = _legacy_source(canvas[1], extent_in[1], extent_out[1], width)
    left = ops.take(images, low, axis=2)
    frac = ops.cast(frac, images.dtype)[None, None, :, None]
    images = left + (ops.take(images, high, axis=2) - left) * frac
    return mask_outside(images, extent_out)


def _round_half_away(x: Tensor) -> Tensor:
    return ops.sign(x) * ops.floor(ops.abs(x) + 0.5)


def rotate_on_canvas(images: Tensor, angle: Tensor, extent: Tensor) -> Tensor:
    """Rotate the valid region about its centre (nearest neighbour, zero fill), as Lucid's ``random_rotate``.

    The mapping is `visualizer.render.transforms.rotate_nearest`'s, with the
    region's size in place of the image's.

    Args:
        images: the canvas ``[B, H, W, C]``.
        angle: a scalar, in radians (counter-clockwise).
        extent: the region, int32 ``[2]`` (unchanged by the rotation).

    Returns:
        The canvas, same shape.
    """
    batch, height, width, channels = images.shape
    angle = ops.reshape(ops.cast(angle, "float32"), ())
    cos, sin = ops.cos(angle), ops.sin(angle)
    h_1 = ops.cast(extent[0], "float32") - 1.0
    w_1 = ops.cast(extent[1], "float32") - 1.0
    x_offset = (w_1 - (cos * w_1 - sin * h_1)) / 2.0
    y_offset = (h_1 - (sin * w_1 + cos * h_1)) / 2.0
    ys = ops.cast(ops.arange(height, dtype="int32"), "float32")[:, None]
    xs = ops.cast(ops.arange(width, dtype="int32"), "float32")[None, :]
    src_y = _round_half_away(sin * xs + cos * ys + y_offset)
    src_x = _round_half_away(cos * xs - sin * ys + x_offset)
    inside = (src_y >= 0) & (src_y <= h_1) & (src_x >= 0) & (src_x <= w_1)
    index = ops.cast(src_y, "int32") * width + ops.cast(src_x, "int32")
    index = ops.reshape(ops.where(inside, index, ops.zeros_like(index)), (-1,))
    flat = ops.reshape(images, (batch, height * width, channels))
    rotated = ops.take(flat, index, axis=1) * ops.cast(ops.reshape(inside, (1, -1, 1)), images.dtype)
    return mask_outside(ops.reshape(rotated, (batch, height, width, channels)), extent)


def restrict(acts: Tensor, region: Tensor, centre: bool = False) -> Tensor:
    """A layer's activations on the canvas, made to read as those of the valid region alone.

    For objectives that average over positions (a channel's mean, the
    diversity term's normalized Gram matrices), the positions outside
    ``region`` are zeroed and the rest scaled by ``positions / region
    positions``, so a spatial mean over the whole map is the region's mean.
    For objectives that read the centre position (`centre`), the map is
    rolled so that the region's centre, ``region // 2``, lands on the map's,
    ``size // 2``, where the objective looks.

    Args:
        acts: ``[B, h, w, C]`` on the canvas.
        region: int32 ``[2]``: the rows and columns the valid region produces.
        centre: roll instead of mask (the neuron objective).

    Returns:
        ``[B, h, w, C]``.
    """
    _, height, width, _ = acts.shape
    region = ops.cast(region, "int32")
    if centre:
        rows = (ops.arange(height, dtype="int32") - (height // 2 - region[0] // 2)) % height
        cols = (ops.arange(width, dtype="int32") - (width // 2 - region[1] // 2)) % width
        return ops.take(ops.take(acts, rows, axis=1), cols, axis=2)
    inside = _inside(height, region[0])[:, None] & _inside(width, region[1])[None, :]
    area = ops.cast(region[0] * region[1], acts.dtype)
    weight = ops.cast(inside, acts.dtype) * (float(height * width) / area)
    return acts * weight[None, :, :, None]
