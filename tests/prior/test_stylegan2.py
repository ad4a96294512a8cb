"""The StyleGAN2 generator against the release's numbers and a NumPy re-statement of its ops."""

from __future__ import annotations

import math

import numpy as np
import pytest
from keras import ops

from tests.prior.conftest import TINY, randomized
from visualizer.prior.stylegan2 import StyleGAN2, StyleGAN2Config, WeightError, to_unit_range, upsample_2d

FIR = np.outer([1.0, 3.0, 3.0, 1.0], [1.0, 3.0, 3.0, 1.0]) / 64.0


# -- a NumPy statement of the TF release's operations (fused modulated convolution) --------------


def lrelu(x):
    return np.where(x >= 0, x, 0.2 * x) * math.sqrt(2.0)


def upfirdn(x, kernel, up, pad0, pad1):
    """upfirdn_2d by its definition: zero insertion, padding, then a true convolution with `kernel`."""
    n, h, w, c = x.shape
    stuffed = np.zeros((n, h * up, w * up, c))
    stuffed[:, ::up, ::up] = x
    padded = np.pad(stuffed, ((0, 0), (pad0, pad1), (pad0, pad1), (0, 0)))
    flipped = kernel[::-1, ::-1]
    size = kernel.shape[0]
    out_h, out_w = padded.shape[1] - size + 1, padded.shape[2] - size + 1
    out = np.zeros((n, out_h, out_w, c))
    for a in range(size):
        for b in range(size):
            out += padded[:, a : a + out_h, b : b + out_w] * flipped[a, b]
    return out


def conv_same(x, kernels):
    """Per-image SAME correlation: x [N, H, W, I], kernels [N, k, k, I, O]."""
    size = kernels.shape[1]
    pad = size // 2
    padded = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    h, w = x.shape[1:3]
    out = 0.0
    for a in range(size):
        for b in range(size):
            out = out + np.einsum("nhwi,nio->nhwo", padded[:, a : a + h, b : b + w], kernels[:, a, b])
    return out


def conv_transpose_stride2(x, filters):
    """tf.nn.conv2d_transpose (stride 2, VALID) by its definition; filters [N, k, k, O, I]."""
    n, h, w, _ = x.shape
    size, outputs = filters.shape[1], filters.shape[3]
    out = np.zeros((n, 2 * h + size - 2, 2 * w + size - 2, outputs))
    for a in range(size):
        for b in range(size):
            out[:, a : a + 2 * h : 2, b : b + 2 * w : 2] += np.einsum("nhwi,noi->nhwo", x, filters[:, a, b])
    return out


def reference_modconv(x, latent, params, scope, demodulate, up=False):
    weight = params[f"synthesis/{scope}/weight"].astype("float64")
    size, _, width_in, _ = weight.shape
    weight = weight / math.sqrt(size * size * width_in)
    dlatent = latent.shape[1]
    styles = latent @ (params[f"synthesis/{scope}/mod_weight"] / math.sqrt(dlatent))
    styles = styles + params[f"synthesis/{scope}/mod_bias"] + 1.0
    kernels = weight[None] * styles[:, None, None, :, None]
    if demodulate:
        kernels = kernels / np.sqrt(np.square(kernels).sum(axis=(1, 2, 3)) + 1e-8)[:, None, None, None, :]
    if up:
        filters = kernels[:, ::-1, ::-1].transpose(0, 1, 2, 4, 3)
        return upfirdn(conv_transpose_stride2(x, filters), FIR * 4.0, 1, 1, 1)
    return conv_same(x, kernels)


def reference_synthesis(params, config, ws, noises):
    def layer(x, index, scope, up=False):
        x = reference_modconv(x, ws[:, index], params, scope, True, up)
        x = x + noises[index] * params[f"synthesis/{scope}/noise_strength"]
        return lrelu(x + params[f"synthesis/{scope}/bias"])

    def to_rgb(x, index, scope):
        return reference_modconv(x, ws[:, index], params, scope, False) + params[f"synthesis/{scope}/bias"]

    const = params["synthesis/4x4/Const/const"].transpose(0, 2, 3, 1)
    x = np.repeat(const, ws.shape[0], axis=0).astype("float64")
    x = layer(x, 0, "4x4/Conv")
    y = to_rgb(x, 1, "4x4/ToRGB")
    for res in config.resolutions[1:]:
        k = int(math.log2(res))
        x = layer(x, 2 * k - 5, f"{res}x{res}/Conv0_up", up=True)
        x = layer(x, 2 * k - 4, f"{res}x{res}/Conv1")
        y = upfirdn(y, FIR * 4.0, 2, 2, 1) + to_rgb(x, 2 * k - 3, f"{res}x{res}/ToRGB")
    return y


def reference_mapping(params, config, z):
    x = z.astype("float64")
    x = x / np.sqrt(np.mean(x * x, axis=1, keepdims=True) + 1e-8)
    for i in range(config.mapping_layers):
        weight = params[f"mapping/Dense{i}/weight"]
        x = x @ (weight * config.mapping_lrmul / math.sqrt(weight.shape[0]))
        x = lrelu(x + params[f"mapping/Dense{i}/bias"] * config.mapping_lrmul)
    return x


# -- the tests ------------------------------------------------------------------------------------


def test_config_f_matches_the_release():
    config = StyleGAN2Config()
    assert [config.channels(r) for r in config.resolutions] == [512, 512, 512, 512, 512, 256, 128, 64, 32]
    assert (config.num_ws, config.num_noises) == (18, 17)
    assert StyleGAN2Config(resolution=256).num_ws == 14
    shapes = config.variable_shapes()
    sizes = {name: math.prod(shape) for name, shape in shapes.items()}
    assert len(shapes) == 156  # counting dlatent_avg, not lod
    assert sum(sizes.values()) == 33_166_748
    assert (
        sum(size for name, size in sizes.items() if "/noise" in name and "strength" not in name) == 2_796_176
    )
    assert sum(size for name, size in sizes.items() if name.startswith("mapping/")) == 2_101_248
    assert shapes["synthesis/noise16"] == (1, 1, 1024, 1024)
    assert shapes["synthesis/128x128/Conv0_up/weight"] == (3, 3, 512, 256)


def test_synthesis_flops_count_every_convolution_and_style():
    # TINY's layers, counted by hand: (kernel, in, out, pixels the kernel visits), and 8-wide styles.
    convolutions = [
        (3, 16, 16, 4 * 4),  # 4x4/Conv
        (1, 16, 3, 4 * 4),  # 4x4/ToRGB
        (3, 16, 16, 4 * 4),  # 8x8/Conv0_up, a transposed convolution over the 4x4 input
        (3, 16, 16, 8 * 8),  # 8x8/Conv1
        (1, 16, 3, 8 * 8),  # 8x8/ToRGB
        (3, 16, 8, 8 * 8),  # 16x16/Conv0_up over the 8x8 input
        (3, 8, 8, 16 * 16),  # 16x16/Conv1
        (1, 8, 3, 16 * 16),  # 16x16/ToRGB
    ]
    expected = sum(
        2 * k * k * c_in * c_out * pixels + 2 * 8 * c_in for k, c_in, c_out, pixels in convolutions
    )
    assert TINY.synthesis_flops() == expected == 906_496
    # Config F doubles its pixels with each block; its cost is dominated by the 3x3 convolutions.
    assert 140e9 < StyleGAN2Config().synthesis_flops() < 160e9


@pytest.mark.parametrize("resolution", [0, 3, 6, 100])
def test_bad_resolution_is_refused(resolution):
    with pytest.raises(ValueError, match=f"power of two, at least 4; received {resolution}"):
        StyleGAN2Config(resolution=resolution)


def test_mapping_matches_numpy():
    generator = randomized(seed=1)
    z = np.random.default_rng(0).standard_normal((5, TINY.latent_size)).astype("float32")
    expected = reference_mapping(generator.variables(), TINY, z)
    np.testing.assert_allclose(ops.convert_to_numpy(generator.mapping(z)), expected, rtol=1e-4, atol=1e-5)


def test_upsample_matches_upfirdn_definition():
    x = np.random.default_rng(2).standard_normal((2, 5, 4, 3)).astype("float32")
    got = ops.convert_to_numpy(upsample_2d(ops.convert_to_tensor(x)))
    assert got.shape == (2, 10, 8, 3)
    np.testing.assert_allclose(got, upfirdn(x, FIR * 4.0, 2, 2, 1), rtol=1e-5, atol=1e-5)


def test_synthesis_matches_the_fused_numpy_statement():
    generator = randomized(seed=4)
    rng = np.random.default_rng(5)
    ws = rng.standard_normal((3, TINY.num_ws, TINY.dlatent_size)).astype("float32")  # a w per layer
    noises = generator.sample_noise(3, rng)
    got = ops.convert_to_numpy(generator.synthesis(ws, noises))
    expected = reference_synthesis(generator.variables(), TINY, ws, noises)
    assert got.shape == (3, 16, 16, 3)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(got / scale, expected / scale, atol=2e-5)


def test_one_w_is_broadcast_to_every_layer():
    generator = randomized(seed=6)
    w = np.random.default_rng(7).standard_normal((2, TINY.dlatent_size)).astype("float32")
    tiled = np.repeat(w[:, None], TINY.num_ws, axis=1)
    np.testing.assert_allclose(
        ops.convert_to_numpy(generator.synthesis(w)),
        ops.convert_to_numpy(generator.synthesis(tiled)),
        atol=1e-6,
    )


def test_noise_modes(generator):
    z = np.random.default_rng(8).standard_normal((2, TINY.latent_size)).astype("float32")
    const = generator.generate(z)
    np.testing.assert_array_equal(const, generator.generate(z))
    first, again = (
        generator.generate(z, noise="random", seed=1),
        generator.generate(z, noise="random", seed=1),
    )
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - generator.generate(z, noise="random", seed=2)).max() > 1e-3
    assert const.min() >= 0.0 and const.max() <= 1.0
    with pytest.raises(ValueError, match="valid: 'const', 'random'"):
        generator.generate(z, noise="fresh")
    with pytest.raises(ValueError, match=f"takes {TINY.num_noises} noise inputs; received 1"):
        generator.synthesis(np.zeros((1, TINY.dlatent_size), "float32"), [np.zeros((1, 4, 4, 1), "float32")])


def test_truncation_pulls_towards_the_stored_centre():
    generator = randomized(seed=9)
    z = np.random.default_rng(10).standard_normal((2, TINY.latent_size)).astype("float32")
    centre = np.repeat(generator.stored_center()[None], 2, axis=0)
    at_centre = ops.convert_to_numpy(to_unit_range(generator.synthesis(centre)))
    np.testing.assert_allclose(generator.generate(z, truncation_psi=0.0), at_centre, atol=1e-6)


def test_center_is_the_mean_of_mapped_samples():
    generator = randomized(seed=11)
    z = np.random.RandomState(123).randn(50, TINY.latent_size)
    expected = reference_mapping(generator.variables(), TINY, z).mean(axis=0)
    np.testing.assert_allclose(generator.center(samples=50), expected, rtol=1e-4, atol=1e-5)


def test_weights_that_do_not_fit_are_refused_whole():
    variables = randomized().variables()
    del variables["synthesis/8x8/Conv1/bias"]
    variables["mapping/Dense1/weight"] = np.zeros((3, 3), "float32")
    with pytest.raises(WeightError) as error:
        StyleGAN2(TINY, variables)
    message = str(error.value)
    assert "synthesis/8x8/Conv1/bias: missing (expected (16,))" in message
    assert "mapping/Dense1/weight: shape (3, 3), expected (12, 8)" in message
