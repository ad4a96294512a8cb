"""Image parameterizations: the optimized buffer and its map to an RGB image.

A `Param` holds the shape of the buffer that the optimizer updates, draws its
initial value from a seeded NumPy generator, and maps a buffer to images
``[batch, h, w, 3]`` in (0, 1). Everything after the initial draw is
`keras.ops`, so the same parameterization runs on every Keras backend.
`ImageParameterization` is a `Param` as the render loop
(`visualizer.render.loop`) takes it: one buffer per batch slot, each drawn
from the slot's own random stream.

Lucid's default (``lucid/optvis/param/images.py::image``) is `fft_image` with
colour decorrelation and a sigmoid: ``sigmoid(irfft2(spectrum * scale) / 4 @
(C / 0.4619524)^T)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import ops

from visualizer.render import backend

__all__ = [
    "COLOR_CORRELATION_SVD_SQRT",
    "DECORRELATION_MATRIX",
    "ImageParameterization",
    "MAX_NORM_SVD_SQRT",
    "Param",
    "fft_image",
    "fft_scale",
    "image",
    "irfft2",
    "pixel_image",
    "rfft2d_freqs",
    "to_valid_rgb",
]

Tensor = Any

DEFAULT_SD = 0.01
FFT_OUTPUT_DIVISOR = 4.0  # Lucid's own "magic constant" (spatial.py, fft_image)

COLOR_CORRELATION_SVD_SQRT = np.asarray(
    [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype="float32"
)
MAX_NORM_SVD_SQRT = np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
DECORRELATION_MATRIX = (COLOR_CORRELATION_SVD_SQRT / MAX_NORM_SVD_SQRT).T.astype("float32")
"""The matrix that decorrelated colour vectors are right-multiplied by: (C / max_norm)^T."""


@dataclass(frozen=True)
class Param:
    """An image parameterization.

    Attributes:
        kind: ``"fft"`` or ``"pixel"``.
        batch: images in the batch.
        height: image height in pixels.
        width: image width in pixels.
        shape: shape of the optimized buffer.
        sd: standard deviation of the normal initial draw.
        decorrelate: whether colours are decorrelated (Lucid's default).
        decay_power: spectrum decay of the FFT parameterization.
    """

    kind: str
    batch: int
    height: int
    width: int
    shape: tuple[int, ...]
    sd: float = DEFAULT_SD
    decorrelate: bool = True
    decay_power: float = 1.0

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """Draw an initial buffer, float32 normal with scale `sd`, from `rng`."""
        return rng.normal(scale=self.sd, size=self.shape).astype("float32")

    def __call__(self, buffer: Tensor) -> Tensor:
        """Map a buffer of `shape` to images ``[batch, height, width, 3]`` in (0, 1)."""
        if self.kind == "fft":
            raw = _fft_to_raw(buffer, self.height, self.width, self.decay_power)
        else:
            raw = buffer
        return to_valid_rgb(raw, decorrelate=self.decorrelate)


@dataclass(frozen=True)
class ImageParameterization:
    """Lucid's image parameterization for `visualizer.render.loop.RenderLoop`.

    Attributes:
        param: the parameterization of one image (its map does not depend on
            the batch size).
    """

    param: Param

    @property
    def slot_axis(self) -> int:
        """The buffer's batch axis: 1 for the FFT spectrum ``(2, batch, ...)``, 0 for pixels."""
        return 1 if self.param.kind == "fft" else 0

    def initial(self, streams: Sequence[np.random.Generator]) -> np.ndarray:
        """One initial draw per slot, each from its own stream, stacked on the batch axis."""
        return np.concatenate([self.param.init(rng) for rng in streams], axis=self.slot_axis)

    def step_inputs(self, streams: Sequence[np.random.Generator]) -> tuple:
        """No inputs besides the buffer."""
        return ()

    def images(self, params: Tensor, inputs: tuple = ()) -> Tensor:
        """The buffer's images ``[batch, height, width, 3]`` in (0, 1)."""
        return self.param(params)

    def view(self, images: Tensor) -> Tensor:
        """The model reads the images as they are."""
        return images


def rfft2d_freqs(h: int, w: int) -> np.ndarray:
    """Return the 2-D frequency magnitudes of a real FFT, Lucid's ``rfft2d_freqs``.

    Args:
        h: image height.
        w: image width; for odd widths one extra column is kept (and one
            pixel cropped after the inverse transform), as Lucid does.

    Returns:
        ``sqrt(fx**2 + fy**2)`` with shape ``(h, w // 2 + 1)`` (``+ 2`` for odd w).
    """
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 else 1)]
    return np.sqrt(fx * fx + fy * fy)


def fft_scale(h: int, w: int, decay_power: float = 1.0) -> np.ndarray:
    """Return Lucid's spectrum scale ``sqrt(h*w) / max(f, 1/max(h, w)) ** decay_power``.

    The first factor equalizes energy across frequencies; multiplying by
    sqrt(pixels) makes the inverse transform unitary, so that pixel-like
    learning rates work.
    """
    freqs = rfft2d_freqs(h, w)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) ** decay_power
    return (scale * np.sqrt(w * h)).astype("float32")


def irfft2(real: Tensor, imag: Tensor, width: int) -> Tensor:
    """Inverse 2-D real FFT over the last two axes, as ``numpy.fft.irfft2``.

    `keras.ops` has no irfft2: the inverse FFT along H is a forward FFT of
    the conjugate, conjugated and divided by H, followed by a 1-D inverse
    real FFT along W.

    Args:
        real: real part, ``[..., H, Wf]``.
        imag: imaginary part, same shape.
        width: output width (``2 * (Wf - 1)`` for Lucid's inferred length).

    Returns:
        A real tensor ``[..., H, width]``.
    """
    height = real.shape[-2]
    rank = len(real.shape)
    swap = list(range(rank - 2)) + [rank - 1, rank - 2]
    re, im = ops.fft((ops.transpose(real, swap), -ops.transpose(imag, swap)))
    re = ops.transpose(re, swap) / height
    im = -ops.transpose(im, swap) / height
    return ops.irfft((re, im), fft_length=width)


def _fft_to_raw(buffer: Tensor, h: int, w: int, decay_power: float) -> Tensor:
    scale = ops.convert_to_tensor(fft_scale(h, w, decay_power))
    full_width = 2 * (scale.shape[-1] - 1)
    # Unstacking (not indexing) keeps TensorFlow off its slow strided-slice gradient.
    real, imag = ops.unstack(buffer, 2, axis=0)
    inverse = backend.native_irfft2() or irfft2
    spatial = inverse(real * scale, imag * scale, full_width)  # [B, 3, H, W']
    spatial = ops.transpose(spatial, (0, 2, 3, 1))
    if full_width != w:  # odd widths: Lucid's spectrum is one column wider
        spatial = spatial[:, :h, :w, :]
    return spatial / FFT_OUTPUT_DIVISOR


def to_valid_rgb(raw: Tensor, decorrelate: bool = True) -> Tensor:
    """Map an unconstrained ``[..., 3]`` tensor to RGB in (0, 1).

    Args:
        raw: the raw image (last axis: colour).
        decorrelate: right-multiply by Lucid's ``(C / max_norm)^T`` first.

    Returns:
        ``sigmoid(raw @ M)`` (or ``sigmoid(raw)`` without decorrelation).
    """
    if decorrelate:
        raw = ops.matmul(raw, ops.convert_to_tensor(DECORRELATION_MATRIX))
    return ops.sigmoid(raw)


def fft_image(
    batch: int, height: int, width: int | None = None, sd: float = DEFAULT_SD, decorrelate: bool = True
) -> Param:
    """Lucid's FFT parameterization (``fft_image`` + ``to_valid_rgb``), decay power 1.

    Args:
        batch: images in the batch.
        height: image height.
        width: image width (defaults to `height`).
        sd: scale of the initial normal draw (Lucid: 0.01).
        decorrelate: decorrelate colours (Lucid: True).

    Returns:
        A `Param` with buffer shape ``(2, batch, 3, height, width // 2 + 1)``
        (index 0 real, 1 imaginary; ``+ 2`` for odd widths).
    """
    width = width or height
    freq_shape = rfft2d_freqs(height, width).shape
    return Param("fft", batch, height, width, (2, batch, 3, *freq_shape), sd, decorrelate)


def pixel_image(
    batch: int, height: int, width: int | None = None, sd: float = DEFAULT_SD, decorrelate: bool = True
) -> Param:
    """Lucid's pixel parameterization: the buffer is the pre-sigmoid image.

    Args:
        batch: images in the batch.
        height: image height.
        width: image width (defaults to `height`).
        sd: scale of the initial normal draw (Lucid: 0.01).
        decorrelate: decorrelate colours (Lucid: True).

    Returns:
        A `Param` with buffer shape ``(batch, height, width, 3)``.
    """
    width = width or height
    return Param("pixel", batch, height, width, (batch, height, width, 3), sd, decorrelate)


def image(
    size: int, batch: int = 1, fft: bool = True, decorrelate: bool = True, sd: float = DEFAULT_SD
) -> Param:
    """Lucid's ``param.image``: a square image, FFT and decorrelated by default.

    Args:
        size: image height and width.
        batch: images in the batch.
        fft: FFT parameterization (else pixels).
        decorrelate: decorrelate colours.
        sd: scale of the initial normal draw.

    Returns:
        The `Param`.
    """
    factory = fft_image if fft else pixel_image
    return factory(batch, size, size, sd=sd, decorrelate=decorrelate)
