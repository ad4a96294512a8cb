"""Tests for visualizer.render.param: Lucid's FFT parameterization, colour decorrelation, sigmoid."""

from __future__ import annotations

import numpy as np
import pytest
from keras import ops

from visualizer.render import param


def lucid_fft_image_numpy(buffer: np.ndarray, h: int, w: int) -> np.ndarray:
    """Lucid's fft_image + to_valid_rgb, written out in NumPy from lucid-method.md section 1."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 else 1)]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(w, h)) * np.sqrt(w * h)
    spectrum = (buffer[0] + 1j * buffer[1]) * scale
    spatial = np.fft.irfft2(spectrum, s=(h, 2 * (freqs.shape[1] - 1)))
    spatial = np.transpose(spatial, (0, 2, 3, 1))[:, :h, :w, :] / 4.0
    color = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    color = color / np.max(np.linalg.norm(color, axis=0))
    return 1.0 / (1.0 + np.exp(-(spatial @ color.T)))


@pytest.mark.parametrize("shape", [(8, 8), (16, 12), (7, 9), (5, 6)])
def test_irfft2_matches_numpy(shape):
    """The keras.ops irfft2 equals numpy.fft.irfft2 to float32 precision."""
    h, wf = shape
    rng = np.random.default_rng(1)
    real, imag = rng.normal(size=(2, 2, 3, h, wf)).astype("float32")
    width = 2 * (wf - 1)
    expected = np.fft.irfft2(real.astype("float64") + 1j * imag, s=(h, width))
    got = ops.convert_to_numpy(param.irfft2(ops.convert_to_tensor(real), ops.convert_to_tensor(imag), width))
    np.testing.assert_allclose(got, expected, atol=2e-6, rtol=1e-5)


@pytest.mark.parametrize("shape", [(8, 8), (16, 12), (7, 9), (5, 6)])
def test_native_irfft2_matches_numpy_and_the_keras_version(shape):
    """The backend's own irfft2 (TensorFlow's irfft2d) equals numpy's and the keras.ops composition."""
    from visualizer.render import backend

    native = backend.native_irfft2()
    if native is None:
        pytest.skip(f"no native irfft2 on the {backend.backend_name()} backend")
    h, wf = shape
    real, imag = np.random.default_rng(2).normal(size=(2, 2, 3, h, wf)).astype("float32")
    width = 2 * (wf - 1)
    tensors = ops.convert_to_tensor(real), ops.convert_to_tensor(imag)
    got = ops.convert_to_numpy(native(*tensors, width))
    expected = np.fft.irfft2(real.astype("float64") + 1j * imag, s=(h, width))
    np.testing.assert_allclose(got, expected, atol=2e-6, rtol=1e-5)
    np.testing.assert_allclose(got, ops.convert_to_numpy(param.irfft2(*tensors, width)), atol=1e-6)


@pytest.mark.parametrize("size", [(16, 16), (12, 9), (64, 64)])
def test_fft_image_matches_lucid_formula(size):
    """The FFT param equals a NumPy reimplementation of Lucid's formula to float32 precision."""
    h, w = size
    p = param.fft_image(2, h, w)
    buffer = p.init(np.random.default_rng(0)) * 30.0  # away from sigmoid(0) so the check bites
    expected = lucid_fft_image_numpy(buffer.astype("float64"), h, w)
    got = ops.convert_to_numpy(p(ops.convert_to_tensor(buffer)))
    assert got.shape == (2, h, w, 3)
    np.testing.assert_allclose(got, expected, atol=2e-6)


def test_buffer_shape_and_initial_scale():
    """The buffer is (2, B, 3, H, W//2+1) with sd 0.01 and starts as faint mid-grey noise."""
    p = param.fft_image(3, 128)
    assert p.shape == (2, 3, 3, 128, 65)
    buffer = p.init(np.random.default_rng(0))
    assert abs(buffer.std() - 0.01) < 5e-4
    image = ops.convert_to_numpy(p(ops.convert_to_tensor(buffer)))
    assert abs(image.mean() - 0.5) < 0.01 and 0.001 < image.std() < 0.02


def test_decorrelation_matrix_values():
    """(C / 0.4619524)^T holds the numbers Lucid and Xplique use."""
    assert abs(param.MAX_NORM_SVD_SQRT - 0.4619524) < 1e-6
    expected = [
        [0.56282854, 0.5844758, 0.5844758],
        [0.19482528, 0.0, -0.19482528],
        [0.0432945, -0.10823626, 0.06494176],
    ]
    np.testing.assert_allclose(param.DECORRELATION_MATRIX, expected, atol=1e-6)


def test_pixel_image_is_sigmoid_of_decorrelated_buffer():
    """The pixel param maps its NHWC buffer through the colour matrix and a sigmoid."""
    p = param.pixel_image(2, 6, 5)
    buffer = p.init(np.random.default_rng(0)) * 100
    expected = 1.0 / (1.0 + np.exp(-(buffer @ param.DECORRELATION_MATRIX)))
    np.testing.assert_allclose(ops.convert_to_numpy(p(ops.convert_to_tensor(buffer))), expected, atol=1e-6)
    plain = param.pixel_image(2, 6, 5, decorrelate=False)
    np.testing.assert_allclose(
        ops.convert_to_numpy(plain(ops.convert_to_tensor(buffer))), 1 / (1 + np.exp(-buffer)), atol=1e-6
    )
