"""Vectorised numpy drawing for the synthetic worlds.

Every function draws a whole batch at once: per-image parameters are arrays of
shape ``[B]`` and results are ``[B, S, S]`` masks or textures in [0, 1], or
planar images ``[B, 3, S, S]`` (channels first, so that a mask broadcasts over
the colour axis at full numpy speed; `to_nhwc` gives the models' layout).
Coordinates are pixels of an ``S x S`` canvas, with pixel ``(row, col)`` at
``y = row, x = col``; lengths given "at 64 px" are scaled by ``S / 64`` by
the callers, so a world looks the same at any size.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "REFERENCE_SIZE",
    "TEXTURES",
    "blend",
    "ellipse",
    "grid",
    "hsv_to_rgb",
    "frame",
    "petals",
    "rectangle",
    "shade",
    "shape_mask",
    "SHAPES",
    "smooth_background",
    "texture",
    "to_nhwc",
    "triangle",
]

REFERENCE_SIZE = 64  # sizes and periods of the worlds are declared at this canvas size

TEXTURES = ("stripes", "checks", "dots")
SHAPES = ("disk", "square", "triangle", "cross", "ring")


def _b(value: np.ndarray | float) -> np.ndarray:
    """Broadcast a per-image parameter ``[B]`` against ``[B, S, S]``."""
    return np.asarray(value, dtype=np.float32)[..., None, None]


def grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates ``(y, x)`` of an ``size x size`` canvas, each ``[1, S, S]``."""
    axis = np.arange(size, dtype=np.float32)
    y, x = np.meshgrid(axis, axis, indexing="ij")
    return y[None], x[None]


def frame(size: int, cy, cx, angle=0.0) -> tuple[np.ndarray, np.ndarray]:
    """Pixel offsets from per-image centres, in axes turned by `angle` (radians).

    Returns:
        ``(u, v)``, each ``[B, S, S]``: along the turned x and y axes.
    """
    y, x = grid(size)
    dy, dx = y - _b(cy), x - _b(cx)
    cos, sin = _b(np.cos(angle)), _b(np.sin(angle))
    return dx * cos + dy * sin, dy * cos - dx * sin


def texture(
    size: int,
    kind: np.ndarray,
    period: np.ndarray,
    angle: np.ndarray,
    phase: np.ndarray,
) -> np.ndarray:
    """Periodic textures, one per image, with a declared spatial period.

    Each texture is built from sinusoids of period `period` pixels along the
    two axes turned by `angle`, so its dominant spatial frequency along those
    axes is ``1 / period``: ``stripes`` (one sinusoid), ``checks`` (their
    product) and ``dots`` (squared product of raised sinusoids).

    Args:
        size: canvas side S.
        kind: ``[B]`` indices into `TEXTURES`.
        period: ``[B]`` periods in pixels.
        angle: ``[B]`` orientations in radians.
        phase: ``[B]`` phases in radians.

    Returns:
        ``[B, S, S]`` float32 in [0, 1].
    """
    y, x = grid(size)
    cos, sin = _b(np.cos(angle)), _b(np.sin(angle))
    step = _b(2 * np.pi / np.asarray(period, dtype=np.float32))
    a = np.sin((x * cos + y * sin) * step + _b(phase))
    b = np.sin((y * cos - x * sin) * step + _b(phase))
    stripes = 0.5 + 0.5 * a
    checks = 0.5 + 0.5 * a * b
    dots = ((1 + a) * (1 + b) / 4) ** 2
    return np.choose(_b(kind).astype(np.int64), [stripes, checks, dots]).astype(np.float32)


def ellipse(size: int, cy, cx, ry, rx, angle=0.0) -> np.ndarray:
    """Filled ellipses ``[B, S, S]`` (1 inside) with radii `ry`, `rx`, turned by `angle`."""
    u, v = frame(size, cy, cx, angle)
    u, v = u / _b(rx), v / _b(ry)
    return (u * u + v * v <= 1.0).astype(np.float32)


def rectangle(size: int, top, left, bottom, right) -> np.ndarray:
    """Axis-aligned filled rectangles ``[B, S, S]``."""
    y, x = grid(size)
    inside = (y >= _b(top)) & (y < _b(bottom)) & (x >= _b(left)) & (x < _b(right))
    return inside.astype(np.float32)


def triangle(size: int, p0, p1, p2) -> np.ndarray:
    """Filled triangles ``[B, S, S]`` from vertex arrays ``(y, x)``, each ``[B]``."""
    y, x = grid(size)

    def side(a, b):
        (ay, ax), (by, bx) = a, b
        return (x - _b(ax)) * (_b(by) - _b(ay)) - (y - _b(ay)) * (_b(bx) - _b(ax))

    d0, d1, d2 = side(p0, p1), side(p1, p2), side(p2, p0)
    negative = (d0 < 0) | (d1 < 0) | (d2 < 0)
    positive = (d0 > 0) | (d1 > 0) | (d2 > 0)
    return (~(negative & positive)).astype(np.float32)


def shape_mask(size: int, kind: np.ndarray, cy, cx, radius, angle) -> np.ndarray:
    """Filled shapes ``[B, S, S]``, one of `SHAPES` per image (indices in `kind`)."""
    u, v = frame(size, cy, cx, angle)
    u, v = u / _b(radius), v / _b(radius)
    r2 = u * u + v * v
    au, av = np.abs(u), np.abs(v)
    disk = r2 <= 1.0
    square = np.maximum(au, av) <= 0.8
    # An equilateral triangle is three half-planes, at inradius 0.55 around the centre.
    tri = v <= 0.55
    for turn in (np.pi / 6, 5 * np.pi / 6):
        tri &= u * np.cos(turn) - v * np.sin(turn) <= 0.55
    cross = ((au <= 0.33) & (av <= 1.0)) | ((av <= 0.33) & (au <= 1.0))
    ring = disk & (r2 >= 0.55**2)
    return np.choose(_b(kind).astype(np.int64), [disk, square, tri, cross, ring]).astype(np.float32)


def petals(size: int, cy, cx, radius, count, sharpness, angle) -> np.ndarray:
    """Flower masks ``[B, S, S]``: `count` petals whose tips reach `radius`.

    The boundary is ``r = radius * (0.35 + 0.65 |cos(count * phi / 2)| ** sharpness)``:
    a small `sharpness` gives round petals, a large one pointed petals.
    """
    u, v = frame(size, cy, cx, angle)
    rho = np.hypot(u, v)
    c = u / np.maximum(rho, 1e-6)
    # cos(n phi) = T_n(cos phi), the Chebyshev recurrence: no arctan2 over the canvas.
    count = np.asarray(count, dtype=np.int64)
    previous, current = np.ones_like(c), c
    cos_n = np.where(_b(count) == 1, c, 0.0)
    for n in range(2, int(count.max()) + 1):
        previous, current = current, 2 * c * current - previous
        cos_n = np.where(_b(count) == n, current, cos_n)
    half = np.sqrt(np.clip((1 + cos_n) / 2, 0.0, 1.0))  # |cos(n phi / 2)|
    lobes = half ** _b(sharpness)
    return (rho <= _b(radius) * (0.35 + 0.65 * lobes)).astype(np.float32)


def hsv_to_rgb(hue, saturation, value) -> np.ndarray:
    """Colours ``[B, 3]`` in [0, 1] from per-image hue (turns), saturation and value."""
    h = np.mod(np.asarray(hue, dtype=np.float32), 1.0)[:, None]
    s = np.asarray(saturation, dtype=np.float32)[:, None]
    v = np.asarray(value, dtype=np.float32)[:, None]
    k = np.mod(np.array([5.0, 3.0, 1.0], dtype=np.float32) + h * 6.0, 6.0)
    return v - v * s * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def shade(colour: np.ndarray, intensity: np.ndarray) -> np.ndarray:
    """Planar images ``[B, 3, S, S]``: colours ``[B, 3]`` scaled by `intensity` ``[B, S, S]``."""
    return np.asarray(colour, dtype=np.float32)[:, :, None, None] * intensity[:, None]


def blend(image: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """Paint `colour` (``[B, 3]``, ``[1, 3]`` or planar ``[B, 3, S, S]``) where `mask` is 1.

    `image` (planar float32 ``[B, 3, S, S]``) is changed in place and returned.
    """
    colour = np.asarray(colour, dtype=np.float32)
    if colour.ndim == 2:
        colour = colour[:, :, None, None]
    weight = np.asarray(mask, dtype=np.float32)[:, None]
    image += weight * (colour - image)
    return image


def smooth_background(size: int, base: np.ndarray, tilt: np.ndarray) -> np.ndarray:
    """Planar linear gradients ``[B, 3, S, S]``: `base` colour ``[B, 3]`` tilted by `tilt` ``[B, 2]``."""
    y, x = grid(size)
    ramp = _b(tilt[:, 0]) * (y / size - 0.5) + _b(tilt[:, 1]) * (x / size - 0.5)
    image = np.asarray(base, dtype=np.float32)[:, :, None, None] + ramp[:, None]
    return np.clip(image, 0.0, 1.0, out=image)


def to_nhwc(image: np.ndarray) -> np.ndarray:
    """Planar ``[B, 3, S, S]`` to the models' ``[B, S, S, 3]`` (contiguous)."""
    return np.ascontiguousarray(image.transpose(0, 2, 3, 1))
