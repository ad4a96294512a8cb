"""Position-free descriptors of visualizations, and distances between two of them, in pixel space.

A channel's visualization can shift its pattern anywhere in the image from
one render to the next, so every descriptor here ignores where a pattern
sits: colour histograms, histograms of gradient orientation, the power
spectrum's share per octave (under a Hann window, which weighs the centre, so
nearly rather than exactly), and the best normalized cross-correlation over
all circular shifts. Everything works on batches ``[N, S, S, 3]`` of float
images in [0, 1], vectorized over the batch.

- `colour_change`: Hellinger distance of chroma histograms (luminance left out);
- `structure_change`: the mean Hellinger distance of the luminance's
  gradient-orientation histograms and of its power per octave (colour left out);
- `pixel_change`: one minus the best normalized cross-correlation over shifts;
- `image_scale_share`: the share of the luminance's power at periods of at
  least half the image (observation 6).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

__all__ = [
    "CHROMA_BINS",
    "ORIENTATION_BINS",
    "Descriptors",
    "chroma",
    "colour_change",
    "colour_mean_shift",
    "describe",
    "hellinger",
    "image_scale_share",
    "load_images",
    "luminance",
    "octave_power",
    "orientation_histogram",
    "pixel_change",
    "structure_change",
]

CHROMA_BINS = 8  # per chroma axis: an 8 x 8 histogram
ORIENTATION_BINS = 12  # gradient orientations modulo 180 degrees: 15 degrees a bin


def load_images(paths: Sequence[str | os.PathLike], size: int | None = None) -> np.ndarray:
    """Read PNGs as float32 ``[N, S, S, 3]`` in [0, 1]; images larger than `size` are box-downsampled to it.

    Raises:
        ValueError: the images do not all have the same side after resizing, naming the first odd one.
    """
    from PIL import Image

    pixels = []
    for path in paths:
        with Image.open(path) as image:
            image = image.convert("RGB")
            if size is not None and max(image.size) > size:
                image = image.resize((size, size), Image.Resampling.BOX)
            pixels.append(np.asarray(image, dtype="float32") / 255.0)
    if not pixels:
        return np.zeros((0, size or 1, size or 1, 3), "float32")
    side = pixels[0].shape
    for path, array in zip(paths, pixels):
        if array.shape != side:
            raise ValueError(f"{path}: image of shape {array.shape}, expected {side} like the others")
    return np.stack(pixels)


def hellinger(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Hellinger distance in [0, 1] between distributions along the last axis (each summing to 1)."""
    overlap = np.sum(np.sqrt(np.clip(p, 0, None) * np.clip(q, 0, None)), axis=-1)
    return np.sqrt(np.clip(1.0 - overlap, 0.0, 1.0))


def _normalized(counts: np.ndarray) -> np.ndarray:
    """Rows of `counts` divided by their sums; an all-zero row becomes uniform."""
    counts = np.asarray(counts, dtype="float64")
    totals = counts.sum(axis=-1, keepdims=True)
    uniform = np.full_like(counts, 1.0 / counts.shape[-1])
    return np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), uniform)


def luminance(images: np.ndarray) -> np.ndarray:
    """The mean of R, G and B, ``[N, S, S]``: equal weights, so permuting the colour channels keeps it."""
    return np.asarray(images, dtype="float32").mean(axis=-1)


def chroma(images: np.ndarray) -> np.ndarray:
    """Opponent colour coordinates without luminance, ``[N, S, S, 2]`` in [-1, 1]: red-green, yellow-blue."""
    images = np.asarray(images, dtype="float32")
    red, green, blue = images[..., 0], images[..., 1], images[..., 2]
    return np.stack([red - green, (red + green) / 2.0 - blue], axis=-1)


def _chroma_histograms(coords: np.ndarray) -> np.ndarray:
    """``[N, CHROMA_BINS**2]`` normalized histograms of chroma coordinates ``[N, S, S, 2]``."""
    count = len(coords)
    coords = coords.reshape(count, -1, 2)
    cells = np.clip(((coords + 1.0) * (CHROMA_BINS / 2.0)).astype(int), 0, CHROMA_BINS - 1)
    index = cells[..., 0] * CHROMA_BINS + cells[..., 1] + np.arange(count)[:, None] * CHROMA_BINS**2
    counts = np.bincount(index.ravel(), minlength=count * CHROMA_BINS**2)
    return _normalized(counts.reshape(count, CHROMA_BINS**2))


def _orientations(gray: np.ndarray) -> np.ndarray:
    """``[N, ORIENTATION_BINS]`` from luminances ``[N, S, S]`` (circular central differences)."""
    count = len(gray)
    dy = np.roll(gray, -1, axis=1) - np.roll(gray, 1, axis=1)
    dx = np.roll(gray, -1, axis=2) - np.roll(gray, 1, axis=2)
    magnitude = np.hypot(dx, dy).reshape(count, -1)
    angle = np.mod(np.arctan2(dy, dx), np.pi).reshape(count, -1)
    bins = np.minimum((angle * (ORIENTATION_BINS / np.pi)).astype(int), ORIENTATION_BINS - 1)
    bins += np.arange(count)[:, None] * ORIENTATION_BINS
    counts = np.bincount(bins.ravel(), weights=magnitude.ravel(), minlength=count * ORIENTATION_BINS)
    return _normalized(counts.reshape(count, ORIENTATION_BINS))


def orientation_histogram(images: np.ndarray) -> np.ndarray:
    """``[N, ORIENTATION_BINS]`` histograms of the luminance's gradient orientation (modulo 180 degrees),
    each pixel weighted by its gradient magnitude; a flat image gets a uniform histogram."""
    return _orientations(luminance(images))


def _rings(gray: np.ndarray) -> np.ndarray:
    """``[N, S // 2]``: the power of luminances ``[N, S, S]`` in each ring of radius 1 .. S/2 cycles per
    image, under a Hann window, mean removed."""
    count, height, width = gray.shape
    window = np.outer(np.hanning(height), np.hanning(width)).astype("float32")
    centred = (gray - gray.mean(axis=(1, 2), keepdims=True)) * window
    power = np.abs(np.fft.rfft2(centred)) ** 2  # the other half of the spectrum mirrors this one
    fy = np.fft.fftfreq(height)[:, None] * height
    fx = np.fft.rfftfreq(width)[None, :] * width
    rings = np.rint(np.sqrt(fx**2 + fy**2)).astype(int)
    # Columns 1 .. W/2 - 1 stand for two columns of the full spectrum each.
    weight = np.where((np.arange(power.shape[2]) == 0) | (np.arange(power.shape[2]) == width // 2), 1.0, 2.0)
    top = min(height, width) // 2
    keep = ((rings >= 1) & (rings <= top)).ravel()
    index = (rings.ravel()[keep] - 1)[None, :] + np.arange(count)[:, None] * top
    weights = (power * weight[None, None, :]).reshape(count, -1)[:, keep]
    total = np.bincount(index.ravel(), weights=weights.ravel(), minlength=count * top)
    return total.reshape(count, top)


def _octaves(rings: np.ndarray) -> np.ndarray:
    octave = np.floor(np.log2(np.arange(1, rings.shape[1] + 1))).astype(int)
    shares = np.zeros((len(rings), octave.max() + 1))
    np.add.at(shares.T, octave, rings.T)
    return _normalized(shares)


def _image_scale(rings: np.ndarray) -> np.ndarray:
    total = rings.sum(axis=1)
    return np.where(total > 0, rings[:, :2].sum(axis=1) / np.where(total > 0, total, 1.0), 0.0)


def octave_power(images: np.ndarray) -> np.ndarray:
    """``[N, octaves]``: the share of the luminance's power in each octave of spatial frequency
    (rings 1, 2-3, 4-7, ... cycles per image); a flat image gets a uniform distribution."""
    return _octaves(_rings(luminance(images)))


def image_scale_share(images: np.ndarray) -> np.ndarray:
    """``[N]``: the share of the luminance's power (Hann window, mean removed) at periods of at least half
    the image side (1 and 2 cycles per image); 0 for a flat image."""
    return _image_scale(_rings(luminance(images)))


class Descriptors:
    """The position-free descriptors of a batch of images, computed once and compared many times.

    Attributes:
        chroma_histogram: ``[N, 64]``.
        mean_chroma: ``[N, 2]``.
        orientation: ``[N, ORIENTATION_BINS]``.
        octaves: ``[N, octaves]``.
        image_scale: ``[N]``, `image_scale_share`.
        spectra: ``[N, S, S//2+1, 3]`` the real FFT of each image minus its mean colour, scaled to unit
            norm (for `pixel_change`).
        side: ``(S, S)``.
    """

    CHUNK = 64  # images per step: keeps the temporaries small

    def __init__(self, images: np.ndarray):
        images = np.asarray(images, dtype="float32")
        parts: dict[str, list[np.ndarray]] = {}
        for start in range(0, max(len(images), 1), self.CHUNK):
            for name, value in self._describe(images[start : start + self.CHUNK]).items():
                parts.setdefault(name, []).append(value)
        joined = {name: np.concatenate(values) for name, values in parts.items()}
        self.chroma_histogram = joined["chroma_histogram"]
        self.mean_chroma = joined["mean_chroma"]
        self.orientation = joined["orientation"]
        self.octaves = joined["octaves"]
        self.image_scale = joined["image_scale"]
        self.spectra = joined["spectra"]
        self.side = tuple(images.shape[1:3])

    @staticmethod
    def _describe(images: np.ndarray) -> dict[str, np.ndarray]:
        coords = chroma(images)
        gray = images.mean(axis=-1)
        rings = _rings(gray)
        centred = images - images.mean(axis=(1, 2), keepdims=True)
        norms = np.sqrt((centred**2).sum(axis=(1, 2, 3), keepdims=True))
        centred = np.where(norms > 0, centred / np.where(norms > 0, norms, 1.0), 0.0).astype("float32")
        return {
            "chroma_histogram": _chroma_histograms(coords),
            "mean_chroma": coords.mean(axis=(1, 2), dtype="float64"),
            "orientation": _orientations(gray),
            "octaves": _octaves(rings),
            "image_scale": _image_scale(rings),
            "spectra": np.fft.rfft2(centred, axes=(1, 2)),
        }

    def __len__(self) -> int:
        return len(self.image_scale)


def describe(images: np.ndarray) -> Descriptors:
    """`Descriptors` of a batch ``[N, S, S, 3]`` in [0, 1]."""
    return Descriptors(images)


def _pairs(
    first: Descriptors, second: Descriptors, pairs: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if pairs is None:
        if len(first) != len(second):
            raise ValueError(
                f"{len(first)} and {len(second)} images: pass `pairs` to compare unequal batches"
            )
        index = np.arange(len(first))
        return index, index
    pairs = np.asarray(pairs, dtype=int).reshape(-1, 2)
    return pairs[:, 0], pairs[:, 1]


def colour_change(first: Descriptors, second: Descriptors, pairs: np.ndarray | None = None) -> np.ndarray:
    """Hellinger distance in [0, 1] of the chroma histograms of image ``i`` of `first` and ``i`` of `second`
    (or of each ``(i, j)`` row of `pairs`)."""
    i, j = _pairs(first, second, pairs)
    return hellinger(first.chroma_histogram[i], second.chroma_histogram[j])


def colour_mean_shift(first: Descriptors, second: Descriptors, pairs: np.ndarray | None = None) -> np.ndarray:
    """Distance between the mean chroma of the two images, scaled to [0, 1]."""
    i, j = _pairs(first, second, pairs)
    return np.linalg.norm(first.mean_chroma[i] - second.mean_chroma[j], axis=-1) / (2.0 * np.sqrt(2.0))


def structure_change(first: Descriptors, second: Descriptors, pairs: np.ndarray | None = None) -> np.ndarray:
    """Mean of the Hellinger distances of the gradient-orientation histograms and of the octave
    power distributions of the two luminances, in [0, 1]."""
    i, j = _pairs(first, second, pairs)
    return 0.5 * (
        hellinger(first.orientation[i], second.orientation[j])
        + hellinger(first.octaves[i], second.octaves[j])
    )


def pixel_change(first: Descriptors, second: Descriptors, pairs: np.ndarray | None = None) -> np.ndarray:
    """One minus the largest normalized cross-correlation of the two images over all circular shifts,
    in [0, 2] (0: one image is a shifted copy of the other, up to brightness and contrast)."""
    i, j = _pairs(first, second, pairs)
    if len(i) == 0:
        return np.zeros(0)
    if second.side != first.side:
        raise ValueError(f"images of sides {first.side} and {second.side}: load them at one size")
    out = np.empty(len(i))
    for start in range(0, len(i), 128):
        a, b = first.spectra[i[start : start + 128]], second.spectra[j[start : start + 128]]
        correlation = np.fft.irfft2((np.conj(a) * b).sum(axis=-1), s=first.side, axes=(1, 2))
        out[start : start + 128] = 1.0 - correlation.reshape(len(a), -1).max(axis=1)
    return np.clip(out, 0.0, 2.0)
