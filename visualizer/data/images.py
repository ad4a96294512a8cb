"""Decode one image file into the models' input: float32 RGB in [0, 1], square.

The paper's preprocessing: the largest centred square is cut out and resized
to the model's input size (PIL's resampling filters, which low-pass when
shrinking). No augmentation.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
from PIL import Image

__all__ = ["IMAGE_SUFFIXES", "load_image"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")

# What PIL raises for a file that is not an image, truncated or absurdly large.
_DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)


def load_image(path: str | os.PathLike, size: int) -> np.ndarray | None:
    """Read an image, centre-crop it to a square and resize it to `size`.

    Args:
        path: an image file PIL can read (JPEG, PNG...).
        size: side of the output in pixels.

    Returns:
        float32 ``[size, size, 3]`` in [0, 1], or None when the file is
        missing, unreadable or corrupt (the caller counts and skips it).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. PIL's "palette images with transparency" note
            with Image.open(path) as image:
                # JPEG can decode at 1/2, 1/4, 1/8 scale: much faster for large photos.
                image.draft("RGB", (size, size))
                image = image.convert("RGB")
                width, height = image.size
                side = min(width, height)
                left, top = (width - side) // 2, (height - side) // 2
                image = image.resize(
                    (size, size), Image.Resampling.BILINEAR, box=(left, top, left + side, top + side)
                )
                pixels = np.asarray(image, dtype=np.float32)
    except _DECODE_ERRORS:
        return None
    return pixels / 255.0
