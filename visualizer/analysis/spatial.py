"""Spatial scale of a visualization: the period of its dominant repeating pattern.

The paper observes that each channel has a fundamental spatial scale (a
period from about 4 to 120 px at 224 px input) that stays stable during
transfer. `dominant_period` measures it from the image's power spectrum, so
the observation can be checked across models and snapshots, not only seen.
"""

from __future__ import annotations

import numpy as np

__all__ = ["dominant_period", "image_metrics", "radial_power"]


def radial_power(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Radially averaged power spectrum of an image's luminance.

    Args:
        image: (H, W, 3) or (H, W), float in [0, 1] or uint8.

    Returns:
        (frequencies in cycles per pixel, mean power in each ring), from the
        lowest non-zero ring to the Nyquist frequency.
    """
    pixels = np.asarray(image, dtype="float64")
    if pixels.max() > 1.0:
        pixels = pixels / 255.0
    gray = pixels.mean(axis=-1) if pixels.ndim == 3 else pixels
    height, width = gray.shape
    window = np.outer(np.hanning(height), np.hanning(width))
    spectrum = np.abs(np.fft.fft2((gray - gray.mean()) * window)) ** 2
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.fftfreq(width)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    step = 1.0 / max(height, width)
    rings = np.rint(radius / step).astype(int)
    count = np.bincount(rings.ravel())
    total = np.bincount(rings.ravel(), weights=spectrum.ravel())
    nyquist = int(0.5 / step)
    ring_ids = np.arange(1, nyquist + 1)
    mean = total[ring_ids] / np.maximum(count[ring_ids], 1)
    return ring_ids * step, mean


def dominant_period(image: np.ndarray) -> float:
    """Period in pixels of the strongest ring of the power spectrum (inf for a flat image)."""
    frequencies, power = radial_power(image)
    if not np.isfinite(power).all() or power.max() <= 1e-12:
        return float("inf")
    return float(1.0 / frequencies[int(np.argmax(power))])


def image_metrics(image: np.ndarray) -> dict[str, float | None]:
    """The per-image measurements the atlas catalog stores (None where undefined)."""
    period = dominant_period(image)
    return {"period_px": period if np.isfinite(period) else None}
