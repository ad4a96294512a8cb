"""Atomic PNG writes with text metadata (an atlas image's key and settings), and reads back.

Below every other layer of the project: the atlas writes its images with it,
and so do the commands that write PNGs outside an atlas (``vtl prior``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin

__all__ = [
    "AtlasWriteError",
    "TEMP_PREFIX",
    "file_sha256",
    "read_png",
    "read_png_text",
    "to_uint8",
    "write_png_atomic",
]

TEMP_PREFIX = ".tmp-"


class AtlasWriteError(OSError):
    """An image cannot be written (full disk, permissions); the message names the file."""


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a float image in [0, 1] (H, W, 3) to uint8, rounding to nearest."""
    return np.clip(np.rint(np.asarray(image, dtype="float64") * 255.0), 0, 255).astype("uint8")


def write_png_atomic(
    path: str | os.PathLike, image: np.ndarray, text: dict[str, str], temp_prefix: str = TEMP_PREFIX
) -> int:
    """Write `image` as a PNG with `text` chunks, atomically.

    The PNG goes to a temporary file in the same folder and is renamed into
    place, so a crash never leaves a half image at `path`.

    Args:
        path: destination file.
        image: float (H, W, 3) in [0, 1], or uint8.
        text: tEXt chunks (key -> value).
        temp_prefix: the temporary file's name prefix (a sharded writer's
            own, so that it removes only its own leftovers); starts with
            `TEMP_PREFIX`.

    Returns:
        The size of the written file in bytes.

    Raises:
        AtlasWriteError: when the folder cannot be created or written (the
            message says which path and why); nothing is left behind.
    """
    path = Path(path)
    pixels = image if image.dtype == np.uint8 else to_uint8(image)
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    temp_name = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=temp_prefix, suffix=".png", dir=path.parent)
        with os.fdopen(handle, "wb") as stream:
            Image.fromarray(pixels, "RGB").save(stream, format="PNG", pnginfo=info)
        os.replace(temp_name, path)
        temp_name = None
        return path.stat().st_size
    except OSError as error:
        reason = "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
        raise AtlasWriteError(error.errno, f"Cannot write image {path}: {reason}") from error
    finally:
        if temp_name is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)


def read_png(path: str | os.PathLike) -> tuple[np.ndarray, dict[str, str]]:
    """Decode a PNG fully; return its RGB pixels (uint8, H x W x 3) and text chunks.

    Raises:
        OSError or ValueError (from Pillow) when the file is not a readable PNG.
    """
    with Image.open(path) as image:
        if image.format != "PNG":
            raise ValueError(f"{path} is not a PNG (found {image.format}).")
        image.load()  # decode the pixels too: a truncated file fails here
        text = {key: str(value) for key, value in getattr(image, "text", {}).items()}
        return np.asarray(image.convert("RGB")), text


def read_png_text(path: str | os.PathLike) -> dict[str, str]:
    """Return the text chunks of a PNG after fully decoding it (see `read_png`)."""
    return read_png(path)[1]


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 hex digest of a file (an image's checksum in the catalog, a generator's identity)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
