"""Random image transforms, Lucid's ``lucid/optvis/transform.py`` in `keras.ops`.

Every factory returns a `Transform`: a function ``(images, draw) -> images``
on NHWC batches in [0, 1], plus ``sample(rng, batch, per_image)``, which draws
that step's random choice on the host from a seeded NumPy generator. Drawing
on the host keeps results reproducible on every backend and lets compiled
step functions take the draws as inputs instead of re-tracing for them.

A shared draw (Lucid's behaviour: one jitter offset, scale and angle per step
for the whole batch) is a 1-D integer array; a per-image draw has a leading
batch axis. Transforms tell the two apart by the draw's rank.

Resampling is written with gathers, so its gradient is exact and it runs on
every backend (TensorFlow's projective-transform op has an approximate image
gradient and cannot be XLA-compiled); the one exception is the shared-draw
scale on TensorFlow, which runs TensorFlow's own resize op (exact gradient,
the same sampling, faster).

Transforms that change the image's size also have a *canvas form*
(`visualizer.render.canvas`): on the fixed canvas (``scale_canvas="fixed"``)
every step has one shape, the image a valid region of it whose size the
host computes from the draws (`Pipeline.extents`), so a compiler that needs
static shapes compiles a layer once instead of once per scale.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from keras import ops

from visualizer.render import backend, canvas

__all__ = [
    "SCALE_CANVASES",
    "LUCID_DEGREES_TO_RADIANS",
    "STANDARD_ANGLES",
    "STANDARD_SCALES",
    "Pipeline",
    "Transform",
    "jitter",
    "pad",
    "random_rotate",
    "random_scale",
    "resize_bilinear_gathers",
    "resize_bilinear_legacy",
    "rotate_nearest",
    "scaled_size",
    "standard_transforms",
]

Tensor = Any
Draw = Any  # None, a NumPy int array, a tensor, or a Python int (static draws)
Extent = tuple[int, int]

SCALE_CANVASES = ("lucid", "fixed")
"""``lucid``: each scale its own size (Lucid's); ``fixed``: one canvas (`visualizer.render.canvas`)."""

LUCID_DEGREES_TO_RADIANS = 3.14 / 180.0  # Lucid converts with 3.14, not pi
STANDARD_SCALES = tuple(1 + (i - 5) / 50.0 for i in range(11))
STANDARD_ANGLES = tuple(range(-10, 11)) + 5 * (0,)


def _no_draw(rng: np.random.Generator, batch: int, per_image: bool) -> None:
    return None


@dataclass(frozen=True)
class Transform:
    """One random transform.

    Attributes:
        name: self-description, e.g. ``"jitter(8)"``.
        apply: ``(images, draw) -> images``.
        sample: ``(rng, batch, per_image) -> draw`` (None for deterministic ones).
        shape_changing: whether a shared draw decides the output size (such
            draws are static arguments under compilers that need static shapes).
        extent: ``((height, width), draw) -> (height, width)``: the image's
            size after the transform, on the host, for a shared draw; None:
            the size is kept.
        on_canvas: the canvas form, ``(images, draw, extent_in, extent_out)
            -> images`` on tensors of a fixed shape where the image is the
            region ``extent_in`` (int32 ``[2]``) at the origin; None: the
            transform has none, and is applied as it is where the image fills
            the canvas (before any scale).
    """

    name: str
    apply: Callable[[Tensor, Draw], Tensor]
    sample: Callable[[np.random.Generator, int, bool], Draw] = field(default=_no_draw)
    shape_changing: bool = False
    extent: Callable[[Extent, Draw], Extent] | None = None
    on_canvas: Callable[[Tensor, Draw, Tensor, Tensor], Tensor] | None = None

    def __call__(self, images: Tensor, draw: Draw = None) -> Tensor:
        """Apply the transform with a given draw."""
        return self.apply(images, draw)

    def __repr__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Pipeline:
    """A list of transforms applied in order (Lucid's ``compose``)."""

    transforms: tuple[Transform, ...]

    def sample(self, rng: np.random.Generator, batch: int, per_image: bool = False) -> tuple[Draw, ...]:
        """Draw every transform's choice for one step, in order."""
        return tuple(t.sample(rng, batch, per_image) for t in self.transforms)

    def static_slots(self, per_image: bool) -> tuple[bool, ...]:
        """Which draws decide output shapes (shared draws of shape-changing transforms)."""
        return tuple(t.shape_changing and not per_image for t in self.transforms)

    def __call__(self, images: Tensor, draws: Sequence[Draw]) -> Tensor:
        """Apply every transform with its draw."""
        for transform, draw in zip(self.transforms, draws):
            images = transform(images, draw)
        return images

    def check_canvas(self) -> None:
        """Raise ValueError where a transform after a scale has no canvas form (see `on_canvas`)."""
        whole = True
        for transform in self.transforms:
            if not whole and transform.on_canvas is None:
                raise ValueError(
                    f"{transform.name} has no fixed-canvas form and follows a scale; use "
                    "scale_canvas='lucid', or put it before the scale."
                )
            whole = whole and not transform.shape_changing

    def extents(self, size: Extent, draws: Sequence[Draw]) -> list[Extent]:
        """The image's size before each transform and after the last, on the host, for shared draws.

        Args:
            size: the (height, width) of the images the pipeline receives.
            draws: one step's draws (`sample` with ``per_image=False``).

        Returns:
            ``len(transforms) + 1`` sizes.
        """
        sizes = [(int(size[0]), int(size[1]))]
        for transform, draw in zip(self.transforms, draws):
            if transform.extent is not None:
                sizes.append(tuple(int(n) for n in transform.extent(sizes[-1], draw)))
            else:
                sizes.append(sizes[-1])
        return sizes

    def on_canvas(self, images: Tensor, draws: Sequence[Draw], extents: Tensor) -> Tensor:
        """Apply every transform on the fixed canvas (`visualizer.render.canvas`).

        Until the first size-changing draw (the scale) the image fills the
        canvas and each transform is applied as it is; from there on, in its
        canvas form.

        Args:
            images: ``[B, H, W, C]``.
            draws: one step's shared draws (tensors or arrays).
            extents: int32 ``[len(transforms) + 1, 2]``, from `extents`.

        Returns:
            The canvas the network reads; the image is its region ``extents[-1]``.
        """
        whole = True
        for index, (transform, draw) in enumerate(zip(self.transforms, draws)):
            if whole and not transform.shape_changing:
                images = transform(images, draw)
                continue
            if transform.on_canvas is None:
                raise ValueError(f"{transform.name} has no fixed-canvas form; see Pipeline.check_canvas.")
            images = transform.on_canvas(images, draw, extents[index], extents[index + 1])
            whole = False
        return images

    def __repr__(self) -> str:
        return "[" + ", ".join(t.name for t in self.transforms) + "]"


def _is_per_image(draw: Draw) -> bool:
    return draw is not None and not isinstance(draw, (int, np.integer)) and len(draw.shape) == 2


def _spatial(images: Tensor) -> tuple[Any, Any]:
    shape = ops.shape(images)
    return shape[1], shape[2]


def pad(width: int, mode: str = "reflect", constant_value: float = 0.5) -> Transform:
    """Pad H and W by `width` on each side.

    Args:
        width: pixels added on each side.
        mode: ``"constant"`` or ``"reflect"`` (Lucid's function default; its
            standard list uses constant 0.5).
        constant_value: fill value in constant mode (0.5 is mid-grey).

    Returns:
        The `Transform`.
    """
    if mode not in ("constant", "reflect"):
        raise ValueError(f"Unknown pad mode {mode!r}; valid: 'constant', 'reflect'.")
    paddings = [[0, 0], [width, width], [width, width], [0, 0]]

    def apply(images: Tensor, draw: Draw) -> Tensor:
        if mode == "constant":
            return ops.pad(images, paddings, mode="constant", constant_values=constant_value)
        return ops.pad(images, paddings, mode="reflect")

    def extent(size: Extent, draw: Draw) -> Extent:
        return size[0] + 2 * width, size[1] + 2 * width

    def on_canvas(images: Tensor, draw: Draw, extent_in: Tensor, extent_out: Tensor) -> Tensor:
        return canvas.pad_on_canvas(images, width, constant_value, extent_in, extent_out)

    form = on_canvas if mode == "constant" else None  # a reflection needs the image's edge: no canvas form
    return Transform(f"pad({width}, {mode!r}, {constant_value})", apply, extent=extent, on_canvas=form)


def jitter(d: int) -> Transform:
    """Random crop to ``(H - d, W - d)``, offsets in 0..d inclusive (TF's ``random_crop``).

    Args:
        d: pixels removed from each spatial size.

    Returns:
        The `Transform`; its draw is the ``(dy, dx)`` offset.
    """

    def sample(rng: np.random.Generator, batch: int, per_image: bool) -> np.ndarray:
        return rng.integers(0, d + 1, size=(batch, 2) if per_image else (2,)).astype("int32")

    def apply(images: Tensor, draw: Draw) -> Tensor:
        batch, height, width, channels = ops.shape(images)
        if not _is_per_image(draw):
            draw = ops.convert_to_tensor(draw, "int32")
            return ops.slice(images, [0, draw[0], draw[1], 0], [batch, height - d, width - d, channels])
        draw = ops.convert_to_tensor(draw, "int32")
        rows = draw[:, :1] + ops.arange(height - d, dtype="int32")[None, :]
        cols = draw[:, 1:] + ops.arange(width - d, dtype="int32")[None, :]
        return _take_rows_cols(images, rows, cols)

    def extent(size: Extent, draw: Draw) -> Extent:
        return size[0] - d, size[1] - d

    def on_canvas(images: Tensor, draw: Draw, extent_in: Tensor, extent_out: Tensor) -> Tensor:
        return canvas.jitter_on_canvas(images, d, draw, extent_out)

    return Transform(f"jitter({d})", apply, sample, extent=extent, on_canvas=on_canvas)


def _take_rows_cols(images: Tensor, rows: Tensor, cols: Tensor) -> Tensor:
    """Per-image gather of rows [B, h] then columns [B, w]."""
    batch, _, width, channels = ops.shape(images)
    h = ops.shape(rows)[1]
    index = ops.broadcast_to(rows[:, :, None, None], (batch, h, width, channels))
    images = ops.take_along_axis(images, index, axis=1)
    w = ops.shape(cols)[1]
    index = ops.broadcast_to(cols[:, None, :, None], (batch, h, w, channels))
    return ops.take_along_axis(images, index, axis=2)


def scaled_size(size: int, scale: float) -> int:
    """Lucid's scaled size: ``int32(float32(scale) * float32(size))`` (truncated)."""
    return int(np.float32(scale) * np.float32(size))


def _legacy_coords(in_size: Any, out_size: Any) -> tuple[Tensor, Tensor, Tensor]:
    """TF1 ``resize_bilinear`` sampling (align_corners=False, half_pixel_centers=False).

    Output pixel i samples ``i * in / out``, between ``floor`` and
    ``min(floor + 1, in - 1)``; returns both neighbours and the weight of the second.
    """
    step = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    source = ops.cast(ops.arange(out_size, dtype="int32"), "float32") * step
    low = ops.minimum(ops.cast(ops.floor(source), "int32"), in_size - 1)
    high = ops.minimum(low + 1, in_size - 1)
    return low, high, source - ops.cast(low, "float32")


def resize_bilinear_legacy(images: Tensor, height: Any, width: Any) -> Tensor:
    """Bilinear resize with TF1's legacy sampling (``align_corners=False, half_pixel_centers=False``).

    On TensorFlow, float32 images go through TensorFlow's own op
    (`visualizer.render.backend.native_resize_bilinear_legacy`); elsewhere
    through `resize_bilinear_gathers`. Both have exact gradients and agree
    to float rounding.

    Args:
        images: ``[B, H, W, C]``.
        height: output height (int or scalar tensor).
        width: output width.

    Returns:
        ``[B, height, width, C]``.
    """
    native = backend.native_resize_bilinear_legacy()
    if native is not None and images.dtype == "float32":
        return native(images, height, width)
    return resize_bilinear_gathers(images, height, width)


def resize_bilinear_gathers(images: Tensor, height: Any, width: Any) -> Tensor:
    """`resize_bilinear_legacy` as separable gathers, on every backend.

    Gathers keep the gradient exact (TensorFlow's projective-transform op's
    is not, and TensorFlow's ops do not run on other backends). An
    interpolation-matrix product was measured slower on CPU.

    Args:
        images: ``[B, H, W, C]``.
        height: output height (int or scalar tensor).
        width: output width.

    Returns:
        ``[B, height, width, C]``.
    """
    in_h, in_w = _spatial(images)
    low, high, frac = _legacy_coords(in_h, height)
    top = ops.take(images, low, axis=1)
    images = top + (ops.take(images, high, axis=1) - top) * frac[None, :, None, None]
    low, high, frac = _legacy_coords(in_w, width)
    left = ops.take(images, low, axis=2)
    return left + (ops.take(images, high, axis=2) - left) * frac[None, None, :, None]


def _zoom_coords(in_size: int, out_sizes: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Per-image legacy sampling [B, in] for resizes to `out_sizes`, cut to `in` pixels."""
    step = float(in_size) / ops.cast(out_sizes, "float32")[:, None]
    index = ops.arange(in_size, dtype="int32")[None, :]
    source = ops.cast(index, "float32") * step
    low = ops.minimum(ops.cast(ops.floor(source), "int32"), in_size - 1)
    high = ops.minimum(low + 1, in_size - 1)
    inside = ops.cast(index < out_sizes[:, None], "float32")
    return low, high, source - ops.cast(low, "float32"), inside


def _zoom_per_image(images: Tensor, sizes: Tensor, fill: float) -> Tensor:
    """Per-image legacy resize to `sizes` [B, 2], placed at the origin of a grid of the input size."""
    batch, height, width, channels = ops.shape(images)
    all_rows = ops.broadcast_to(ops.arange(height, dtype="int32")[None], (batch, height))
    all_cols = ops.broadcast_to(ops.arange(width, dtype="int32")[None], (batch, width))
    low, high, frac, inside_y = _zoom_coords(height, sizes[:, 0])
    top = _take_rows_cols(images, low, all_cols)
    images = top + (_take_rows_cols(images, high, all_cols) - top) * frac[:, :, None, None]
    low, high, frac, inside_x = _zoom_coords(width, sizes[:, 1])
    left = _take_rows_cols(images, all_rows, low)
    images = left + (_take_rows_cols(images, all_rows, high) - left) * frac[:, None, :, None]
    inside = inside_y[:, :, None, None] * inside_x[:, None, :, None]
    return images * inside + fill * (1.0 - inside)


def random_scale(scales: Sequence[float], fill: float = 0.5) -> Transform:
    """Resize by a random factor from `scales` (bilinear, TF1 legacy sampling).

    Shared draws resize the whole batch to ``int(s * H), int(s * W)`` (Lucid:
    the size changes, no crop or pad). Per-image draws cannot change the
    batch's shape: each image is resampled at its own factor onto a grid of
    the input size, anchored at the origin as the legacy sampling is, and
    where a smaller image ends the grid is filled with `fill`.

    Args:
        scales: the factors, drawn uniformly.
        fill: fill value of per-image draws (unused by shared draws).

    Returns:
        The `Transform`; its draw is an index into `scales`.
    """
    table = np.asarray(scales, dtype="float32")

    def sample(rng: np.random.Generator, batch: int, per_image: bool) -> np.ndarray:
        return rng.integers(0, len(table), size=(batch, 1) if per_image else (1,)).astype("int32")

    def apply(images: Tensor, draw: Draw) -> Tensor:
        height, width = _spatial(images)
        if _is_per_image(draw):
            factors = ops.take(ops.convert_to_tensor(table), ops.convert_to_tensor(draw[:, 0], "int32"))
            extent = ops.convert_to_tensor([height, width], "float32")
            sizes = ops.cast(factors[:, None] * extent[None, :], "int32")
            return _zoom_per_image(images, sizes, fill)
        if isinstance(draw, (int, np.integer, np.ndarray)):
            index = int(np.asarray(draw).reshape(-1)[0])
            return resize_bilinear_legacy(
                images, scaled_size(height, table[index]), scaled_size(width, table[index])
            )
        factor = ops.take(ops.convert_to_tensor(table), ops.reshape(draw, ())[None])[0]
        new_h = ops.cast(factor * ops.cast(height, "float32"), "int32")
        new_w = ops.cast(factor * ops.cast(width, "float32"), "int32")
        return resize_bilinear_legacy(images, new_h, new_w)

    def extent(size: Extent, draw: Draw) -> Extent:
        factor = table[int(np.asarray(draw).reshape(-1)[0])]
        return scaled_size(size[0], factor), scaled_size(size[1], factor)

    def on_canvas(images: Tensor, draw: Draw, extent_in: Tensor, extent_out: Tensor) -> Tensor:
        _, height, width, _ = images.shape
        largest = (max(scaled_size(height, f) for f in table), max(scaled_size(width, f) for f in table))
        return canvas.scale_on_canvas(images, largest, extent_in, extent_out)

    name = f"random_scale({[round(float(s), 4) for s in scales]})"
    return Transform(name, apply, sample, True, extent=extent, on_canvas=on_canvas)


def _round_half_away(x: Tensor) -> Tensor:
    return ops.sign(x) * ops.floor(ops.abs(x) + 0.5)


def _rotation_source(angle: Tensor, height: Any, width: Any) -> tuple[Tensor, Tensor]:
    """Source (y, x) of each output pixel for TF's ``angles_to_projective_transforms``.

    ``angle`` has shape [N] (N = 1 or batch); returns float grids [N, H*W].
    """
    cos, sin = ops.cos(angle)[:, None], ops.sin(angle)[:, None]
    h_1 = ops.cast(height, "float32") - 1.0
    w_1 = ops.cast(width, "float32") - 1.0
    x_offset = (w_1 - (cos * w_1 - sin * h_1)) / 2.0
    y_offset = (h_1 - (sin * w_1 + cos * h_1)) / 2.0
    ys = ops.cast(ops.arange(height, dtype="int32"), "float32")
    xs = ops.cast(ops.arange(width, dtype="int32"), "float32")
    y = ops.reshape(ops.broadcast_to(ys[:, None], (height, width)), (1, -1))
    x = ops.reshape(ops.broadcast_to(xs[None, :], (height, width)), (1, -1))
    return sin * x + cos * y + y_offset, cos * x - sin * y + x_offset


def rotate_nearest(images: Tensor, angle: Tensor) -> Tensor:
    """Rotate counter-clockwise by `angle` radians, nearest neighbour, zero fill.

    The mapping is TF's (``tf.contrib.image.rotate``): output pixel (x, y)
    samples input ``(cos x - sin y + x0, sin x + cos y + y0)``, rounded half
    away from zero, so the centre ``((W-1)/2, (H-1)/2)`` stays put.

    Args:
        images: ``[B, H, W, C]``.
        angle: a scalar (shared) or ``[B]`` (per image), in radians.

    Returns:
        The rotated images, same shape.
    """
    batch, height, width, channels = ops.shape(images)
    angle = ops.reshape(ops.cast(angle, "float32"), (-1,))
    src_y, src_x = _rotation_source(angle, height, width)
    src_y, src_x = _round_half_away(src_y), _round_half_away(src_x)
    inside = (src_y >= 0) & (src_y <= ops.cast(height, "float32") - 1)
    inside = inside & (src_x >= 0) & (src_x <= ops.cast(width, "float32") - 1)
    index = ops.cast(src_y, "int32") * width + ops.cast(src_x, "int32")
    index = ops.where(inside, index, ops.zeros_like(index))
    flat = ops.reshape(images, (batch, -1, channels))
    if angle.shape[0] == 1:
        gathered = ops.take(flat, index[0], axis=1)
        mask = ops.cast(inside[0], images.dtype)[None, :, None]
    else:
        gathered = ops.take_along_axis(flat, ops.broadcast_to(index[:, :, None], ops.shape(flat)), axis=1)
        mask = ops.cast(inside, images.dtype)[:, :, None]
    return ops.reshape(gathered * mask, (batch, height, width, channels))


def random_rotate(angles: Sequence[float], units: str = "degrees") -> Transform:
    """Rotate by a random angle from `angles` (nearest neighbour, zero fill, counter-clockwise).

    Args:
        angles: the angles, drawn uniformly (repeats weight the draw).
        units: ``"degrees"`` (converted with Lucid's 3.14 / 180) or ``"radians"``.

    Returns:
        The `Transform`; its draw is an index into `angles`.
    """
    if units not in ("degrees", "radians"):
        raise ValueError(f"Unknown units {units!r}; valid: 'degrees', 'radians'.")
    factor = LUCID_DEGREES_TO_RADIANS if units == "degrees" else 1.0
    table = (np.asarray(angles, dtype="float64") * factor).astype("float32")

    def sample(rng: np.random.Generator, batch: int, per_image: bool) -> np.ndarray:
        return rng.integers(0, len(table), size=(batch, 1) if per_image else (1,)).astype("int32")

    def apply(images: Tensor, draw: Draw) -> Tensor:
        index = ops.reshape(ops.convert_to_tensor(draw, "int32"), (-1,))
        return rotate_nearest(images, ops.take(ops.convert_to_tensor(table), index))

    def on_canvas(images: Tensor, draw: Draw, extent_in: Tensor, extent_out: Tensor) -> Tensor:
        index = ops.reshape(ops.convert_to_tensor(draw, "int32"), (-1,))
        return canvas.rotate_on_canvas(images, ops.take(ops.convert_to_tensor(table), index)[0], extent_in)

    return Transform(f"random_rotate({list(angles)}, {units!r})", apply, sample, on_canvas=on_canvas)


def standard_transforms() -> list[Transform]:
    """Lucid's ``standard_transforms`` (commit 798e28f).

    Returns:
        ``[pad(12, constant 0.5), jitter(8), random_scale(0.90..1.10 step
        0.02), random_rotate(-10..10 degrees + 5 x 0), jitter(4)]``.
    """
    return [
        pad(12, mode="constant", constant_value=0.5),
        jitter(8),
        random_scale(STANDARD_SCALES),
        random_rotate(STANDARD_ANGLES),
        jitter(4),
    ]
