"""Synthetic demo worlds: labelled images drawn on the fly, no downloads, no files.

One SOURCE world stands in for ImageNet and three TARGET worlds are shaped
like the paper's datasets:

- ``source``: 72 classes, shape (disk, square, triangle, cross) x texture
  (stripes, checks, dots) x spatial period (4, 8, 16 px) x colour family
  (warm, cool), on tilted coloured backgrounds;
- ``faces``: face-like compositions (oval, hair, eyes, mouth...) with 11
  independent binary attributes, multi-label like CelebA; wavy hair is
  stripes of period 4 px, a beard dots of period 4 px;
- ``flowers``: 17 classes of petal count x petal shape x colour, some with
  concentric rings of period 4 or 8 px, on leafy green backgrounds with a
  period of 16 px; small (80 images per class) like Flowers17;
- ``animals``: 8 breeds of ear shape x fur texture (period 4, 8 or 16 px)
  x colour; 200 images per class like the paper's Animals set.

Periods and sizes are declared for a 64 px canvas and scaled with the image
size. The free parameters of item ``i`` of a split (position, size, hue,
attributes...) are a counter-based hash of ``(seed, world, split, i)``, and its
pixel noise is one of a fixed bank of seeded noise tiles: the same seed gives
the same images in any batch composition, and a finite training split is a
fixed set of images, so small worlds behave like small datasets. Single-label items cycle through the
classes (item ``i`` has class ``i mod C``), so every split is balanced.
Drawing is vectorised over the batch: thousands of 64 px images a second.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from visualizer.data import drawing as dr
from visualizer.data.base import SPLITS, Dataset, DatasetError

__all__ = ["WORLDS", "World", "WorldDataset", "get_world", "open_world"]

PERIODS = (4, 8, 16)  # texture periods of the source world, in pixels at 64 px
NOISE = 0.03  # standard deviation of the pixel noise on every image
NOISE_TILES = 61  # distinct noise patterns per (seed, size)
_UNIFORMS = 24  # random numbers per image that set its free parameters
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijective scramble of uint64 values."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return x ^ (x >> np.uint64(31))


def hashed_uniforms(key: tuple[int, ...], indices: np.ndarray, count: int) -> np.ndarray:
    """Uniforms in [0, 1) ``[len(indices), count]``, a pure function of `key` and each index.

    A counter-based generator: item ``i`` gets the same numbers in any batch.
    """
    state = np.uint64(0)
    for part in key:
        state = _mix(np.asarray(state ^ np.uint64(part & 0xFFFFFFFFFFFFFFFF)))
    counters = np.asarray(indices, dtype=np.uint64)[:, None] * np.uint64(count) + np.arange(
        count, dtype=np.uint64
    )
    bits = _mix(_mix(counters ^ state))
    return ((bits >> np.uint64(11)).astype(np.float64) * 2.0**-53).astype(np.float32)


@functools.lru_cache(maxsize=8)
def _noise_bank(seed: int, size: int) -> np.ndarray:
    """`NOISE_TILES` planar Gaussian noise tiles ``[T, 3, S, S]`` for this seed and size."""
    rng = np.random.default_rng([seed, 0x401E])
    return rng.standard_normal((NOISE_TILES, 3, size, size), dtype=np.float32) * NOISE


Draw = Callable[[np.ndarray, np.ndarray, int], np.ndarray]


@dataclass(frozen=True)
class World:
    """A synthetic dataset definition.

    Attributes:
        name: the config's ``world`` value.
        description: one line for humans.
        class_names: one name per class (or attribute, when multi-label).
        multi_label: labels are independent {0, 1} attributes.
        train_size: default number of training images.
        validation_size: default number of validation images.
        draw: ``(uniforms [B, 24], labels, size) -> planar images [B, 3, S, S]``.
    """

    name: str
    description: str
    class_names: tuple[str, ...]
    multi_label: bool
    train_size: int
    validation_size: int
    draw: Draw

    def labels(self, uniforms: np.ndarray, indices: np.ndarray) -> np.ndarray:
        """Labels of items `indices` (attributes come from the first uniforms)."""
        if self.multi_label:
            return (uniforms[:, : len(self.class_names)] < 0.5).astype(np.float32)
        return (indices % len(self.class_names)).astype(np.int64)

    def sample(self, indices: np.ndarray, split: str, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw items `indices` of `split`.

        Args:
            indices: item numbers ``[B]``.
            split: ``"train"`` or ``"validation"`` (disjoint sets of images).
            size: image side in pixels.
            seed: the world's seed.

        Returns:
            ``(images float32 [B, S, S, 3] in [0, 1], labels)``.
        """
        if split not in SPLITS:
            raise DatasetError(f"Unknown split {split!r}; valid: {', '.join(SPLITS)}.")
        indices = np.asarray(indices, dtype=np.int64)
        key = (seed, zlib.crc32(self.name.encode()), SPLITS.index(split))
        uniforms = hashed_uniforms(key, indices, _UNIFORMS + 1)
        labels = self.labels(uniforms, indices)
        images = self.draw(uniforms[:, :_UNIFORMS], labels, size)
        images += _noise_bank(seed, size)[(uniforms[:, _UNIFORMS] * NOISE_TILES).astype(np.int64)]
        return dr.to_nhwc(np.clip(images, 0.0, 1.0, out=images)), labels


def _background(u: np.ndarray, size: int, saturation: float = 0.3) -> np.ndarray:
    """Tilted backgrounds of random hue from uniforms ``u[:, 0:4]``."""
    base = dr.hsv_to_rgb(u[:, 0], saturation * u[:, 1], 0.35 + 0.5 * u[:, 2])
    tilt = np.stack([u[:, 3] - 0.5, 0.5 - u[:, 3]], axis=1) * 0.5
    return dr.smooth_background(size, base, tilt)


# ---------------------------------------------------------------- source


def _source_classes() -> list[tuple[int, int, int, int]]:
    return [
        (shape, texture, period, colour)
        for colour in range(2)
        for period in range(len(PERIODS))
        for texture in range(len(dr.TEXTURES))
        for shape in range(4)
    ]


_SOURCE = _source_classes()
_COLOURS = ("warm", "cool")


def _draw_source(u: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    s = size / dr.REFERENCE_SIZE
    shape, kind, period, colour = (np.array([_SOURCE[c][k] for c in labels]) for k in range(4))
    image = _background(u[:, 10:14], size)
    cy = size / 2 + (u[:, 0] - 0.5) * 0.25 * size
    cx = size / 2 + (u[:, 1] - 0.5) * 0.25 * size
    radius = size * (0.28 + 0.1 * u[:, 2])
    mask = dr.shape_mask(size, shape, cy, cx, radius, u[:, 3] * 2 * np.pi)
    tex = dr.texture(size, kind, np.take(PERIODS, period) * s, u[:, 4] * np.pi, u[:, 5] * 2 * np.pi)
    hue = np.where(colour == 0, -0.04 + 0.16 * u[:, 6], 0.45 + 0.2 * u[:, 6])
    light = dr.hsv_to_rgb(hue, 0.6 + 0.3 * u[:, 7], 0.8 + 0.2 * u[:, 8])
    dark = light * (0.15 + 0.15 * u[:, 9])[:, None]
    fill = dr.shade(dark, np.ones_like(tex)) + dr.shade(light - dark, tex)
    return dr.blend(image, mask, fill)


# ---------------------------------------------------------------- faces

FACE_ATTRIBUTES = (
    "Smiling", "Mouth_Slightly_Open", "Eyeglasses", "Black_Hair", "Bangs", "Wavy_Hair",
    "Pale_Skin", "Beard", "Narrow_Eyes", "Oval_Face", "Wearing_Hat",
)  # fmt: skip
_HAIR_PERIOD = 4  # wavy hair: stripes of this period (px at 64)
_BEARD_PERIOD = 4  # beard: dots of this period


def _draw_faces(u: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    s = size / dr.REFERENCE_SIZE
    a = {name: labels[:, i] > 0 for i, name in enumerate(FACE_ATTRIBUTES)}
    b = len(u)
    v = u[:, len(FACE_ATTRIBUTES) :]  # 13 free uniforms
    image = _background(v[:, 0:4], size, saturation=0.5)
    cy = (34 + (v[:, 4] - 0.5) * 6) * s
    cx = (32 + (v[:, 5] - 0.5) * 6) * s
    rx = (14 + 2 * v[:, 6]) * s
    ry = rx * np.where(a["Oval_Face"], 1.4, 1.1)
    # Hair behind the face, a little wider and higher, cut below the ears.
    hair_colour = np.where(
        a["Black_Hair"][:, None],
        dr.hsv_to_rgb(np.full(b, 0.07), np.full(b, 0.4), 0.1 + 0.08 * v[:, 7]),
        dr.hsv_to_rgb(0.08 + 0.05 * v[:, 8], np.full(b, 0.65), 0.7 + 0.2 * v[:, 7]),
    )
    waves = dr.texture(size, np.zeros(b), np.full(b, _HAIR_PERIOD * s), np.full(b, np.pi / 2), v[:, 9] * 6)
    hair_fill = dr.shade(hair_colour, np.where(a["Wavy_Hair"][:, None, None], 0.55 + 0.45 * waves, 1.0))
    y, _ = dr.grid(size)
    hair = dr.ellipse(size, cy - 0.15 * ry, cx, 1.15 * ry, 1.2 * rx) * (y < (cy + 0.35 * ry)[:, None, None])
    image = dr.blend(image, hair, hair_fill)
    skin = np.where(
        a["Pale_Skin"][:, None],
        dr.hsv_to_rgb(np.full(b, 0.07), 0.12 + 0.05 * v[:, 10], np.full(b, 0.96)),
        dr.hsv_to_rgb(np.full(b, 0.06), 0.45 + 0.1 * v[:, 10], 0.55 + 0.15 * v[:, 11]),
    )
    face = dr.ellipse(size, cy, cx, ry, rx)
    image = dr.blend(image, face, skin)
    dots = dr.texture(size, np.full(b, 2), np.full(b, _BEARD_PERIOD * s), np.zeros(b), np.zeros(b))
    beard = face * (y > (cy + 0.3 * ry)[:, None, None]) * a["Beard"][:, None, None]
    image = dr.blend(image, beard, dr.shade(hair_colour, 0.5 + 0.5 * dots))
    bangs = face * (y < (cy - 0.4 * ry)[:, None, None]) * a["Bangs"][:, None, None]
    image = dr.blend(image, bangs, hair_fill)
    eye_y = cy - 0.1 * ry
    eye_ry = np.where(a["Narrow_Eyes"], 0.05, 0.14) * rx
    for side in (-1, 1):
        eye_x = cx + side * 0.4 * rx
        image = dr.blend(image, dr.ellipse(size, eye_y, eye_x, eye_ry, 0.17 * rx), np.full((b, 3), 0.08))
        rim = dr.ellipse(size, eye_y, eye_x, 0.3 * rx, 0.3 * rx) - dr.ellipse(
            size, eye_y, eye_x, 0.22 * rx, 0.22 * rx
        )
        image = dr.blend(image, rim * a["Eyeglasses"][:, None, None], np.full((b, 3), 0.05))
    bridge = dr.rectangle(size, eye_y - 0.8 * s, cx - 0.2 * rx, eye_y + 0.8 * s, cx + 0.2 * rx)
    image = dr.blend(image, bridge * a["Eyeglasses"][:, None, None], np.full((b, 3), 0.05))
    # Mouth: a line whose corners rise when smiling; an open mouth adds a dark oval.
    mouth_y, half = cy + 0.5 * ry, 0.35 * rx
    _, x = dr.grid(size)
    t = (x - cx[:, None, None]) / half[:, None, None]
    curve = mouth_y[:, None, None] + np.where(a["Smiling"], 0.12, 0.0)[:, None, None] * ry[:, None, None] * (
        1 - t**2
    )
    lips = (np.abs(y - curve) <= 1.0 * s) & (np.abs(t) <= 1)
    opening = dr.ellipse(size, mouth_y + 0.08 * ry, cx, 0.1 * ry, 0.6 * half)
    image = dr.blend(image, opening * a["Mouth_Slightly_Open"][:, None, None], np.array([[0.35, 0.05, 0.08]]))
    image = dr.blend(image, lips.astype(np.float32), np.array([[0.55, 0.1, 0.12]]))
    hat_colour = dr.hsv_to_rgb(v[:, 12], np.full(b, 0.7), np.full(b, 0.6))
    crown = dr.rectangle(size, cy - 1.3 * ry, cx - 0.9 * rx, cy - 0.6 * ry, cx + 0.9 * rx)
    brim = dr.rectangle(size, cy - 0.7 * ry, cx - 1.35 * rx, cy - 0.58 * ry, cx + 1.35 * rx)
    hat = np.maximum(crown, brim) * a["Wearing_Hat"][:, None, None]
    return dr.blend(image, hat, hat_colour)


# ---------------------------------------------------------------- flowers

_Y, _W, _P, _R, _O, _K, _B = 0.14, -1.0, 0.78, 0.0, 0.07, 0.92, 0.6  # hues; -1 is white
# (name, petals, sharpness, hue, ring period in px at 64 or 0, centre radius, dark centre)
_FLOWERS = (
    ("Daffodil", 6, 3.0, _Y, 0, 0.25, False),
    ("Snowdrop", 3, 3.0, _W, 0, 0.2, False),
    ("LilyValley", 6, 0.5, _W, 0, 0.2, False),
    ("Bluebell", 6, 0.5, _B, 0, 0.2, False),
    ("Crocus", 6, 3.0, _P, 0, 0.2, False),
    ("Iris", 3, 0.5, _P, 8, 0.2, False),
    ("Tigerlily", 6, 3.0, _O, 4, 0.2, True),
    ("Tulip", 5, 0.5, _R, 0, 0.2, True),
    ("Fritillary", 6, 0.5, _P, 4, 0.2, False),
    ("Sunflower", 12, 3.0, _Y, 0, 0.45, True),
    ("Daisy", 12, 0.5, _W, 0, 0.3, False),
    ("ColtsFoot", 16, 3.0, _Y, 0, 0.25, False),
    ("Dandelion", 16, 0.5, _Y, 0, 0.15, False),
    ("Cowslip", 5, 3.0, _Y, 0, 0.2, False),
    ("Buttercup", 5, 0.5, _Y, 0, 0.2, False),
    ("Windflower", 5, 0.5, _W, 0, 0.3, True),
    ("Pansy", 5, 0.5, _P, 8, 0.3, True),
)
_LEAF_PERIOD = 16


def _draw_flowers(u: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    s = size / dr.REFERENCE_SIZE
    rows = [_FLOWERS[c] for c in labels]
    count, sharp, hue, rings, centre, dark = (np.array([r[k] for r in rows]) for k in range(1, 7))
    b = len(u)
    leaves = dr.texture(size, np.zeros(b), np.full(b, _LEAF_PERIOD * s), u[:, 0] * np.pi, u[:, 1] * 6)
    green = dr.hsv_to_rgb(0.25 + 0.12 * u[:, 2], 0.5 + 0.2 * u[:, 3], 0.3 + 0.25 * u[:, 4])
    image = dr.shade(green, 0.75 + 0.25 * leaves)
    cy = size / 2 + (u[:, 5] - 0.5) * 8 * s
    cx = size / 2 + (u[:, 6] - 0.5) * 8 * s
    radius = (20 + 8 * u[:, 7]) * s
    mask = dr.petals(size, cy, cx, radius, count, sharp, u[:, 8] * 2 * np.pi)
    white = hue < 0
    colour = dr.hsv_to_rgb(
        np.where(white, 0.0, hue + (u[:, 9] - 0.5) * 0.04),
        np.where(white, 0.05, 0.7 + 0.25 * u[:, 10]),
        np.where(white, 0.95, 0.75 + 0.25 * u[:, 11]),
    )
    rho = np.hypot(*dr.frame(size, cy, cx))
    ring_period = np.maximum(rings, 1) * s
    ring = 0.5 + 0.5 * np.sin(2 * np.pi * rho / ring_period[:, None, None])
    image = dr.blend(
        image, mask, dr.shade(colour, np.where((rings > 0)[:, None, None], 0.45 + 0.55 * ring, 1.0))
    )
    centre_colour = np.where(dark[:, None], np.array([[0.3, 0.18, 0.05]]), np.array([[0.95, 0.75, 0.1]]))
    disk = dr.ellipse(size, cy, cx, centre * radius, centre * radius)
    return dr.blend(image, disk, centre_colour)


# ---------------------------------------------------------------- animals

_POINTY, _FLOPPY, _ROUND = 0, 1, 2
_PLAIN, _STRIPES, _DOTS = -1, 0, 2
# (name, ears, fur texture, period in px at 64, (hue, saturation, value))
_BREEDS = (
    ("tabby_cat", _POINTY, _STRIPES, 8, (0.07, 0.7, 0.85)),
    ("bengal_cat", _POINTY, _DOTS, 8, (0.09, 0.55, 0.75)),
    ("russian_blue", _POINTY, _PLAIN, 8, (0.6, 0.15, 0.55)),
    ("husky", _POINTY, _STRIPES, 4, (0.6, 0.05, 0.75)),
    ("beagle", _FLOPPY, _PLAIN, 8, (0.07, 0.6, 0.55)),
    ("dalmatian", _FLOPPY, _DOTS, 16, (0.0, 0.0, 0.95)),
    ("pug", _ROUND, _PLAIN, 8, (0.1, 0.3, 0.85)),
    ("brindle_bulldog", _ROUND, _STRIPES, 16, (0.07, 0.5, 0.5)),
)


def _draw_animals(u: np.ndarray, labels: np.ndarray, size: int) -> np.ndarray:
    s = size / dr.REFERENCE_SIZE
    rows = [_BREEDS[c] for c in labels]
    ears, fur, period = (np.array([r[k] for r in rows]) for k in range(1, 4))
    hsv = np.array([r[4] for r in rows], dtype=np.float32)
    b = len(u)
    image = _background(u[:, 0:4], size, saturation=0.4)
    cy = (36 + (u[:, 4] - 0.5) * 6) * s
    cx = (32 + (u[:, 5] - 0.5) * 8) * s
    r = (16 + 4 * u[:, 6]) * s
    colour = dr.hsv_to_rgb(hsv[:, 0] + (u[:, 7] - 0.5) * 0.03, hsv[:, 1], hsv[:, 2] * (0.9 + 0.1 * u[:, 8]))
    tex = dr.texture(size, np.maximum(fur, 0), period * s, (u[:, 9] - 0.5) * 0.6, u[:, 10] * 6)
    coat = dr.shade(colour, np.where((fur == _PLAIN)[:, None, None], 1.0, 0.35 + 0.65 * tex))
    ear_mask = np.zeros((b, size, size), np.float32)
    for side in (-1, 1):
        centre = -np.pi / 2 + side * 0.7
        spread = 0.38
        base0 = (cy + 0.9 * r * np.sin(centre - spread), cx + 0.9 * r * np.cos(centre - spread))
        base1 = (cy + 0.9 * r * np.sin(centre + spread), cx + 0.9 * r * np.cos(centre + spread))
        tip = (cy + 1.6 * r * np.sin(centre), cx + 1.6 * r * np.cos(centre))
        pointy = dr.triangle(size, base0, base1, tip)
        floppy = dr.ellipse(size, cy + 0.2 * r, cx + side * 0.95 * r, 0.7 * r, 0.3 * r, side * 0.25)
        rounded = dr.ellipse(size, cy + r * np.sin(centre), cx + r * np.cos(centre), 0.36 * r, 0.36 * r)
        ear_mask = np.maximum(ear_mask, np.choose(ears[:, None, None], [pointy, floppy, rounded]))
    image = dr.blend(image, ear_mask * (ears != _FLOPPY)[:, None, None], coat * 0.8)
    image = dr.blend(image, dr.ellipse(size, cy, cx, r, r), coat)
    image = dr.blend(image, ear_mask * (ears == _FLOPPY)[:, None, None], coat * 0.6)
    for side in (-1, 1):
        eye = dr.ellipse(size, cy - 0.15 * r, cx + side * 0.38 * r, 0.1 * r, 0.1 * r)
        image = dr.blend(image, eye, np.full((b, 3), 0.05))
    snout = dr.ellipse(size, cy + 0.38 * r, cx, 0.25 * r, 0.35 * r)
    image = dr.blend(image, snout, np.clip(colour * 0.5 + 0.45, 0.0, 1.0))
    nose = dr.ellipse(size, cy + 0.25 * r, cx, 0.09 * r, 0.13 * r)
    return dr.blend(image, nose, np.full((b, 3), 0.08))


# ---------------------------------------------------------------- registry

WORLDS: dict[str, World] = {
    world.name: world
    for world in (
        World(
            "source",
            "stand-in for ImageNet: shape x texture x spatial period x colour",
            tuple(f"{dr.SHAPES[a]}-{dr.TEXTURES[t]}-p{PERIODS[p]}-{_COLOURS[c]}" for a, t, p, c in _SOURCE),
            False,
            72 * 800,
            72 * 12,
            _draw_source,
        ),
        World(
            "faces",
            "face-like compositions, 11 binary attributes",
            FACE_ATTRIBUTES,
            True,
            20_000,
            512,
            _draw_faces,
        ),
        World(
            "flowers",
            "17 flower classes: petal count, shape and colour",
            tuple(row[0] for row in _FLOWERS),
            False,
            17 * 80,
            17 * 30,
            _draw_flowers,
        ),
        World(
            "animals",
            "8 breeds: ear shape, fur texture period and colour",
            tuple(row[0] for row in _BREEDS),
            False,
            8 * 200,
            8 * 64,
            _draw_animals,
        ),
    )
}


def get_world(name: str) -> World:
    """Return the world called `name`, or raise DatasetError listing the worlds."""
    if name not in WORLDS:
        raise DatasetError(f"Unknown world {name!r}; valid worlds: {', '.join(WORLDS)}.")
    return WORLDS[name]


class WorldDataset(Dataset):
    """A world as a `Dataset`: fixed-size splits of images drawn on demand."""

    def __init__(
        self, world: World, image_size: int, seed: int, train_size: int = 0, validation_size: int = 0
    ):
        super().__init__(
            f"{world.name} world", "world", list(world.class_names), world.multi_label, image_size, seed
        )
        for label, value in (("train_size", train_size), ("validation_size", validation_size)):
            if value < 0:
                raise DatasetError(f"{label} must be 0 (the world's default) or positive, received {value}.")
        self.world = world
        self._sizes = {
            "train": train_size or world.train_size,
            "validation": validation_size or world.validation_size,
        }

    def size(self, split: str) -> int:
        return self._sizes[split]

    def _load(self, split: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        images, labels = self.world.sample(indices, split, self.image_size, self.seed)
        return images, labels, np.ones(len(indices), dtype=bool)


def open_world(
    name: str, image_size: int, seed: int, train_size: int = 0, validation_size: int = 0
) -> WorldDataset:
    """Open the world `name` as a dataset.

    Args:
        name: one of `WORLDS`.
        image_size: side of the images in pixels.
        seed: the images and the batch order derive from it.
        train_size: training images (0: the world's default).
        validation_size: validation images (0: the world's default).

    Returns:
        A `WorldDataset`.

    Raises:
        DatasetError: an unknown world or a negative size.
    """
    return WorldDataset(get_world(name), image_size, seed, train_size, validation_size)
