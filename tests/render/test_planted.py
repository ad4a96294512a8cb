"""Fidelity tests: channels built to prefer a known pattern must render that pattern.

Each model is a hand-set conv whose kernel is the planted feature; the full
method (FFT param, decorrelation, standard transforms, Adam, redirected
ReLU) must recover it.
"""

from __future__ import annotations

import keras
import numpy as np

from visualizer.render import render_channels

SIZE = 64
PERIOD = 6.4  # pixels: 10 cycles across the image, 10 FFT bins
ORIENTATION = 30.0  # degrees, direction of the wave vector (x right, y down)
COLOR = np.array([1.0, -0.5, -0.5]) / np.sqrt(1.5)  # a red-cyan grating, blind to luminance


def grating_model() -> keras.Model:
    """Channel 0 = spatial energy of a quadrature pair of coloured Gabor filters (phase invariant)."""
    k = 15
    yy, xx = np.mgrid[:k, :k] - (k - 1) / 2
    theta = np.deg2rad(ORIENTATION)
    phase = 2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / PERIOD
    envelope = np.exp(-(xx**2 + yy**2) / (2 * 4.0**2))
    kernel = np.zeros((k, k, 3, 2), dtype="float32")
    for index, wave in enumerate((np.cos(phase), np.sin(phase))):
        wave = wave * envelope
        wave -= wave.mean() * envelope / envelope.mean()  # no response to flat images
        kernel[..., index] = wave[..., None] * COLOR[None, None, :]
    inputs = keras.Input((None, None, 3))
    pair_layer = keras.layers.Conv2D(2, k, use_bias=False, name="gabor")
    pair = pair_layer(inputs)
    energy = keras.layers.Multiply(name="square")([pair, pair])
    sum_layer = keras.layers.Conv2D(1, 1, use_bias=False, name="energy")
    out = keras.layers.ReLU(name="channel")(sum_layer(energy))
    model = keras.Model(inputs, out)
    pair_layer.set_weights([kernel])
    sum_layer.set_weights([np.ones((1, 1, 2, 1), dtype="float32")])
    return model


def blob_model(colours: np.ndarray) -> keras.Model:
    """Channel i = ReLU of a 1x1 projection on ``colours[i]`` (colour-blob detectors)."""
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(len(colours), 1, activation="relu", name="blob")
    model = keras.Model(inputs, conv(inputs))
    kernel = np.asarray(colours, dtype="float32").T.reshape(1, 1, 3, len(colours))
    conv.set_weights([kernel, np.zeros(len(colours), dtype="float32")])
    return model


def test_grating_channel_renders_its_grating():
    """The rendered image's dominant frequency, orientation and colour axis are the planted ones."""
    result = render_channels(grating_model(), "channel", [0], size=SIZE, steps=150, progress=False)
    image = result.images[0].astype("float64")
    image -= image.mean(axis=(0, 1))
    spectra = np.fft.fft2(image, axes=(0, 1))  # [fy, fx, colour]
    signal = spectra @ COLOR
    power = np.abs(signal) ** 2
    # The slowest colour drifts (under 3 cycles per image) are left over from the FFT prior's
    # 1/f start: the Gabor pair (envelope sigma 4 px) is blind to them.
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(SIZE), np.fft.fftfreq(SIZE))) * SIZE
    power[radius < 3] = 0
    fy, fx = np.unravel_index(np.argmax(power), power.shape)
    # The grating's colour: each channel's amplitude in phase with the planted colour's signal.
    colour = np.real(spectra[fy, fx] * np.conj(signal[fy, fx]))
    assert np.array_equal(np.sign(colour), np.sign(COLOR)), colour  # red against cyan
    assert colour @ COLOR / np.linalg.norm(colour) > 0.85, colour  # within about 30 degrees
    fy = fy - SIZE if fy > SIZE // 2 else fy
    fx = fx - SIZE if fx > SIZE // 2 else fx
    frequency = np.hypot(fx, fy) / SIZE  # cycles per pixel
    angle = np.rad2deg(np.arctan2(fy, fx)) % 180
    assert abs(frequency - 1 / PERIOD) <= 1.5 / SIZE, (fx, fy)  # within 1.5 FFT bins (about 15%)
    assert min(abs(angle - ORIENTATION), 180 - abs(angle - ORIENTATION)) <= 10, angle


def test_colour_blob_channels_render_their_colours():
    """Channels preferring red and green (luminance-blind) render images of that mean colour."""
    colours = np.array([[1.0, -0.5, -0.5], [-0.5, 1.0, -0.5]])
    result = render_channels(blob_model(colours), "blob", [0, 1], size=SIZE, steps=200, progress=False)
    for image, colour in zip(result.images, colours):
        shift = image.mean(axis=(0, 1)) - 0.5
        assert shift @ colour / (np.linalg.norm(shift) * np.linalg.norm(colour)) > 0.8, shift
        assert np.argmax(shift) == np.argmax(colour) and shift.max() > 0.1, shift
