"""StyleGAN2's generator (config F, `skip` architecture) in Keras 3 operations.

The network of Karras et al. (2020) as NVlabs/stylegan2 builds it in TF1,
re-implemented from the facts in ``reference/architectures.md`` (section E):
the mapping network (normalized z, dense layers with a 0.01 learning-rate
multiplier, leaky ReLU times sqrt(2)), and the synthesis network (a learned
4x4 constant, modulated and demodulated 3x3 convolutions with per-pixel
noise, transposed-convolution upsampling followed by the [1, 3, 3, 1] FIR
filter, and the skip RGB path).

Weights are kept in the TF pickle's layout and names (``mapping/Dense0/weight``,
``synthesis/8x8/Conv0_up/weight``, ``dlatent_avg``), so a converted release
and this module agree name for name; the equalized-learning-rate scales are
applied once, when the generator is built. Every operation is a
``keras.ops`` call, so the same code runs under TensorFlow, JAX and PyTorch
and is differentiable in the latent.

Images are NHWC and about [-1, 1], as StyleGAN2 returns them (no clamp);
`to_unit_range` maps them to the [0, 1] images the classifiers here take.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from keras import ops

__all__ = ["StyleGAN2", "StyleGAN2Config", "WeightError", "to_unit_range"]

Tensor = Any

LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)
DEMODULATION_EPSILON = 1e-8
RESAMPLE_TAPS = (1.0, 3.0, 3.0, 1.0)
CENTER_SAMPLES = 10_000  # the projectors' dlatent_avg_samples
CENTER_SEED = 123  # the projectors' RandomState(123)


class WeightError(ValueError):
    """A generator's weights do not match its configuration."""


@dataclass(frozen=True)
class StyleGAN2Config:
    """The shape of a StyleGAN2 generator.

    The defaults are config F at 1024 px (FFHQ). The release at 256 px keeps
    every default but `resolution`; tests use tiny configurations.

    Attributes:
        resolution: output height and width, a power of two, at least 4.
        latent_size: size of z.
        dlatent_size: size of w.
        mapping_layers: dense layers in the mapping network.
        mapping_fmaps: width of the mapping network's hidden layers.
        mapping_lrmul: the mapping network's learning-rate multiplier.
        fmap_base: channel rule numerator: the block at resolution 2^k has
            ``min(fmap_base // 2^(k-1), fmap_max)`` channels.
        fmap_max: most channels in a block.
    """

    resolution: int = 1024
    latent_size: int = 512
    dlatent_size: int = 512
    mapping_layers: int = 8
    mapping_fmaps: int = 512
    mapping_lrmul: float = 0.01
    fmap_base: int = 16384
    fmap_max: int = 512

    def __post_init__(self) -> None:
        log2 = math.log2(self.resolution) if self.resolution > 0 else -1
        if self.resolution < 4 or log2 != int(log2):
            raise ValueError(f"resolution must be a power of two, at least 4; received {self.resolution!r}.")
        for name in (
            "latent_size",
            "dlatent_size",
            "mapping_layers",
            "mapping_fmaps",
            "fmap_base",
            "fmap_max",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1; received {getattr(self, name)!r}.")

    @property
    def resolutions(self) -> list[int]:
        """Block resolutions, 4 to `resolution`."""
        return [2**k for k in range(2, int(math.log2(self.resolution)) + 1)]

    @property
    def num_ws(self) -> int:
        """How many w vectors the synthesis network reads (18 at 1024 px, 14 at 256)."""
        return 2 * int(math.log2(self.resolution)) - 2

    @property
    def num_noises(self) -> int:
        """Noise inputs, one per 3x3 convolution (17 at 1024 px)."""
        return self.num_ws - 1

    def channels(self, resolution: int) -> int:
        """Feature maps of the block at `resolution`."""
        stage = int(math.log2(resolution)) - 1
        return int(min(max(self.fmap_base // 2**stage, 1), self.fmap_max))

    def noise_resolution(self, index: int) -> int:
        """Height and width of noise input `index`."""
        return 2 ** ((index + 5) // 2)

    def variable_shapes(self) -> dict[str, tuple[int, ...]]:
        """Every weight's name and shape, in the TF release's layout (HWIO kernels, NCHW constants)."""
        shapes: dict[str, tuple[int, ...]] = {"dlatent_avg": (self.dlatent_size,)}
        width_in = self.latent_size
        for i in range(self.mapping_layers):
            width_out = self.dlatent_size if i == self.mapping_layers - 1 else self.mapping_fmaps
            shapes[f"mapping/Dense{i}/weight"] = (width_in, width_out)
            shapes[f"mapping/Dense{i}/bias"] = (width_out,)
            width_in = width_out
        for index in range(self.num_noises):
            size = self.noise_resolution(index)
            shapes[f"synthesis/noise{index}"] = (1, 1, size, size)
        first = self.channels(4)
        shapes["synthesis/4x4/Const/const"] = (1, first, 4, 4)
        shapes.update(self._layer_shapes("4x4/Conv", 3, first, first, noise=True))
        shapes.update(self._layer_shapes("4x4/ToRGB", 1, first, 3, noise=False))
        previous = first
        for res in self.resolutions[1:]:
            current = self.channels(res)
            shapes.update(self._layer_shapes(f"{res}x{res}/Conv0_up", 3, previous, current, noise=True))
            shapes.update(self._layer_shapes(f"{res}x{res}/Conv1", 3, current, current, noise=True))
            shapes.update(self._layer_shapes(f"{res}x{res}/ToRGB", 1, current, 3, noise=False))
            previous = current
        return shapes

    def synthesis_flops(self) -> int:
        """FLOPs of one image through the synthesis network (a multiply-add counts as 2).

        Counts the convolutions (the upsampling ones as transposed
        convolutions over the half-resolution input) and the style dense
        layers; the FIR filter, noise and activations are small next to them.
        As in `visualizer.models.flops`, a render step that needs the
        gradient with respect to w costs about twice this: the input gradient
        of a convolution with a fixed kernel costs what the convolution does,
        and the styles' gradients are elementwise.
        """
        total = 0
        for scope, shape in self.variable_shapes().items():
            if not scope.endswith("/weight") or not scope.startswith("synthesis/"):
                continue
            kernel, _, width_in, width_out = shape
            resolution = int(scope.split("/")[1].split("x")[0])
            if scope.endswith("Conv0_up/weight"):
                resolution //= 2  # a transposed convolution touches each input pixel once
            total += 2 * kernel * kernel * width_in * width_out * resolution * resolution
            total += 2 * self.dlatent_size * width_in  # the layer's style
        return total

    def _layer_shapes(
        self, scope: str, kernel: int, width_in: int, width_out: int, noise: bool
    ) -> dict[str, tuple[int, ...]]:
        prefix = f"synthesis/{scope}/"
        shapes = {
            prefix + "weight": (kernel, kernel, width_in, width_out),
            prefix + "mod_weight": (self.dlatent_size, width_in),
            prefix + "mod_bias": (width_in,),
            prefix + "bias": (width_out,),
        }
        if noise:
            shapes[prefix + "noise_strength"] = ()
        return shapes


def _fir_kernel(channels: int, gain: float) -> np.ndarray:
    taps = np.asarray(RESAMPLE_TAPS, dtype="float64")
    kernel = np.outer(taps, taps)
    kernel = kernel / kernel.sum() * gain
    # The FIR filter is a true convolution; the kernel is symmetric, so no flip is needed.
    return np.tile(kernel[:, :, None, None], (1, 1, channels, 1)).astype("float32")


def _zero_stuff(x: Tensor) -> Tensor:
    """Insert a zero after every pixel along height and width: [N, H, W, C] -> [N, 2H, 2W, C]."""
    _, height, width, channels = x.shape
    x = ops.expand_dims(ops.expand_dims(x, 2), 4)  # [N, H, 1, W, 1, C]
    x = ops.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]])
    return ops.reshape(x, (-1, 2 * height, 2 * width, channels))


def _fir(x: Tensor, kernel: np.ndarray, pad_before: int, pad_after: int) -> Tensor:
    x = ops.pad(x, [[0, 0], [pad_before, pad_after], [pad_before, pad_after], [0, 0]])
    return ops.depthwise_conv(x, kernel, strides=1, padding="valid")


def upsample_2d(x: Tensor) -> Tensor:
    """StyleGAN2's ``upsample_2d``: zero insertion x2, pads (2, 1), the [1, 3, 3, 1] filter times 4."""
    return _fir(_zero_stuff(x), _fir_kernel(x.shape[-1], gain=4.0), 2, 1)


def _leaky_relu(x: Tensor) -> Tensor:
    return ops.where(x >= 0, x, LRELU_SLOPE * x) * LRELU_GAIN


def to_unit_range(images: Tensor) -> Tensor:
    """Map StyleGAN2's [-1, 1] images to [0, 1], clipping what lies outside."""
    return ops.clip((images + 1.0) * 0.5, 0.0, 1.0)


class StyleGAN2:
    """A StyleGAN2 generator: `mapping` (z to w) and `synthesis` (w to images).

    Args:
        config: the network's shape.
        variables: every weight of ``config.variable_shapes()``, in that
            layout; other names (``lod``, a discriminator's) are ignored.

    Raises:
        WeightError: naming every missing weight and every wrong shape.
    """

    def __init__(self, config: StyleGAN2Config, variables: Mapping[str, np.ndarray]):
        expected = config.variable_shapes()
        problems = [
            f"{name}: missing (expected {shape})" for name, shape in expected.items() if name not in variables
        ]
        problems += [
            f"{name}: shape {tuple(np.shape(variables[name]))}, expected {shape}"
            for name, shape in expected.items()
            if name in variables and tuple(np.shape(variables[name])) != shape
        ]
        if problems:
            raise WeightError(
                f"The weights do not fit a StyleGAN2 generator of {config}; nothing was built:\n  "
                + "\n  ".join(problems)
            )
        self.config = config
        self._variables = {name: np.asarray(variables[name], dtype="float32") for name in expected}
        self._runtime = {name: ops.convert_to_tensor(value) for name, value in self._runtime_values().items()}

    @classmethod
    def random(cls, config: StyleGAN2Config, seed: int = 0, noise_strength: float = 0.0) -> StyleGAN2:
        """A generator with TF StyleGAN2's initialization (for tests and smoke runs).

        Weights are N(0, 1) (the mapping network's N(0, 1/lrmul)), biases and
        modulation biases zero, and noise strengths `noise_strength` (zero in
        the release's initialization).
        """
        rng = np.random.default_rng(seed)
        variables: dict[str, np.ndarray] = {}
        for name, shape in config.variable_shapes().items():
            leaf = name.rsplit("/", 1)[-1]
            if leaf == "noise_strength":
                value = np.full(shape, noise_strength)
            elif leaf in ("bias", "mod_bias") or name == "dlatent_avg":
                value = np.zeros(shape)
            elif name.startswith("mapping/"):
                value = rng.standard_normal(shape) / config.mapping_lrmul
            else:
                value = rng.standard_normal(shape)
            variables[name] = value.astype("float32")
        return cls(config, variables)

    def variables(self) -> dict[str, np.ndarray]:
        """A copy of the weights, in the release's layout and names."""
        return {name: value.copy() for name, value in self._variables.items()}

    def _runtime_values(self) -> dict[str, np.ndarray]:
        """The weights with their equalized-learning-rate scales applied, in the layouts the ops take."""
        config, values = self.config, self._variables
        runtime: dict[str, np.ndarray] = {}
        for i in range(config.mapping_layers):
            weight = values[f"mapping/Dense{i}/weight"]
            runtime[f"mapping/Dense{i}/weight"] = weight * (config.mapping_lrmul / math.sqrt(weight.shape[0]))
            runtime[f"mapping/Dense{i}/bias"] = values[f"mapping/Dense{i}/bias"] * config.mapping_lrmul
        runtime["const"] = values["synthesis/4x4/Const/const"].transpose(0, 2, 3, 1)
        for index in range(config.num_noises):
            runtime[f"noise{index}"] = values[f"synthesis/noise{index}"].transpose(0, 2, 3, 1)
        for scope in self._layer_scopes():
            prefix = f"synthesis/{scope}/"
            weight = values[prefix + "weight"]
            kernel, _, width_in, _ = weight.shape
            weight = weight / math.sqrt(kernel * kernel * width_in)
            runtime[scope + "/weight"] = weight
            if scope.endswith("Conv0_up"):
                # conv2d_transpose with the flipped kernel (laid out [h, w, out, in]) is
                # zero insertion, full padding and correlation with the stored kernel.
                runtime[scope + "/transposed"] = weight[::-1, ::-1].transpose(0, 1, 3, 2).copy()
            runtime[scope + "/weight_square_sum"] = np.square(weight).sum(axis=(0, 1))
            runtime[scope + "/mod_weight"] = values[prefix + "mod_weight"] / math.sqrt(config.dlatent_size)
            runtime[scope + "/mod_bias"] = values[prefix + "mod_bias"] + 1.0
            runtime[scope + "/bias"] = values[prefix + "bias"]
            if prefix + "noise_strength" in values:
                runtime[scope + "/noise_strength"] = values[prefix + "noise_strength"]
        return {name: np.ascontiguousarray(value, dtype="float32") for name, value in runtime.items()}

    def _layer_scopes(self) -> list[str]:
        scopes = ["4x4/Conv", "4x4/ToRGB"]
        for res in self.config.resolutions[1:]:
            scopes += [f"{res}x{res}/Conv0_up", f"{res}x{res}/Conv1", f"{res}x{res}/ToRGB"]
        return scopes

    def mapping(self, z: Tensor) -> Tensor:
        """z ``[N, latent_size]`` -> w ``[N, dlatent_size]``; `synthesis` broadcasts w to every layer."""
        x = ops.convert_to_tensor(z, dtype="float32")
        x = x * ops.rsqrt(ops.mean(ops.square(x), axis=1, keepdims=True) + 1e-8)
        for i in range(self.config.mapping_layers):
            x = (
                ops.matmul(x, self._runtime[f"mapping/Dense{i}/weight"])
                + self._runtime[f"mapping/Dense{i}/bias"]
            )
            x = _leaky_relu(x)
        return x

    def center(self, samples: int = CENTER_SAMPLES, seed: int = CENTER_SEED) -> np.ndarray:
        """The centre of gravity of W: the mean of `mapping` over `samples` normal z.

        StyleGAN2's projectors recompute it this way (10,000 z from
        ``RandomState(123)``) rather than trust the stored ``dlatent_avg``.
        """
        rng = np.random.RandomState(seed)
        z = rng.randn(samples, self.config.latent_size).astype("float32")
        total = np.zeros(self.config.dlatent_size, dtype="float64")
        for start in range(0, samples, 1000):
            total += ops.convert_to_numpy(self.mapping(z[start : start + 1000])).sum(axis=0)
        return (total / samples).astype("float32")

    def stored_center(self) -> np.ndarray:
        """The ``dlatent_avg`` the release tracked during training."""
        return self._variables["dlatent_avg"].copy()

    def noise_shapes(self, batch: int) -> list[tuple[int, int, int, int]]:
        """Shapes of the noise inputs of `synthesis` for `batch` images (NHWC)."""
        sizes = [self.config.noise_resolution(i) for i in range(self.config.num_noises)]
        return [(batch, size, size, 1) for size in sizes]

    def sample_noise(self, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Fresh N(0, 1) noise inputs for `batch` images (the release's ``randomize_noise=True``)."""
        return [rng.standard_normal(shape).astype("float32") for shape in self.noise_shapes(batch)]

    def synthesis(self, ws: Tensor, noises: Sequence[Tensor] | None = None) -> Tensor:
        """Images from w.

        Args:
            ws: ``[N, dlatent_size]`` (one w for every layer) or
                ``[N, num_ws, dlatent_size]``.
            noises: one tensor per noise input, shaped as `noise_shapes`
                gives, or None for the release's stored constant noise.

        Returns:
            NHWC images ``[N, resolution, resolution, 3]``, about [-1, 1].
        """
        ws = ops.convert_to_tensor(ws, dtype="float32")
        if len(ws.shape) == 2:
            ws = ops.repeat(ops.expand_dims(ws, 1), self.config.num_ws, axis=1)
        if noises is None:
            noises = [self._runtime[f"noise{i}"] for i in range(self.config.num_noises)]
        elif len(noises) != self.config.num_noises:
            raise ValueError(
                f"synthesis takes {self.config.num_noises} noise inputs; received {len(noises)}."
            )
        const = self._runtime["const"]
        x = ops.zeros_like(ws[:, 0, :1])[:, :, None, None] + const  # tile the constant over the batch
        x = self._layer(x, ws[:, 0], "4x4/Conv", noises[0])
        images = self._to_rgb(x, ws[:, 1], "4x4/ToRGB")
        for res in self.config.resolutions[1:]:
            k = int(math.log2(res))
            x = self._layer(x, ws[:, 2 * k - 5], f"{res}x{res}/Conv0_up", noises[2 * k - 5], up=True)
            x = self._layer(x, ws[:, 2 * k - 4], f"{res}x{res}/Conv1", noises[2 * k - 4])
            images = upsample_2d(images) + self._to_rgb(x, ws[:, 2 * k - 3], f"{res}x{res}/ToRGB")
        return images

    def generate(
        self,
        z: np.ndarray,
        truncation_psi: float = 1.0,
        noise: str = "const",
        seed: int = 0,
    ) -> np.ndarray:
        """Images in [0, 1] (NHWC numpy) from z, as the release's examples make them.

        Args:
            z: ``[N, latent_size]``.
            truncation_psi: pull w towards the stored centre (1 = none).
            noise: ``"const"`` (stored noise) or ``"random"`` (drawn from `seed`).
            seed: the noise seed when `noise` is ``"random"``.
        """
        if noise not in ("const", "random"):
            raise ValueError(f"Unknown noise {noise!r}; valid: 'const', 'random'.")
        w = self.mapping(z)
        if truncation_psi != 1.0:
            center = ops.convert_to_tensor(self.stored_center())
            w = center + truncation_psi * (w - center)
        noises = self.sample_noise(len(z), np.random.default_rng(seed)) if noise == "random" else None
        return ops.convert_to_numpy(to_unit_range(self.synthesis(w, noises)))

    def _modulated_conv(self, x: Tensor, w: Tensor, scope: str, demodulate: bool, up: bool = False) -> Tensor:
        # The non-fused form of the release's modulated convolution: scale the input
        # channels by the style, convolve with the shared kernel, scale the outputs by
        # the demodulation factor. The same numbers as modulating the kernel per image.
        styles = ops.matmul(w, self._runtime[scope + "/mod_weight"]) + self._runtime[scope + "/mod_bias"]
        x = x * styles[:, None, None, :]
        if up:
            x = ops.conv_transpose(x, self._runtime[scope + "/transposed"], strides=2, padding="valid")
            x = _fir(x, _fir_kernel(x.shape[-1], gain=4.0), 1, 1)
        else:
            x = ops.conv(x, self._runtime[scope + "/weight"], strides=1, padding="same")
        if demodulate:
            square = ops.matmul(ops.square(styles), self._runtime[scope + "/weight_square_sum"])
            x = x * ops.rsqrt(square + DEMODULATION_EPSILON)[:, None, None, :]
        return x

    def _layer(self, x: Tensor, w: Tensor, scope: str, noise: Tensor, up: bool = False) -> Tensor:
        x = self._modulated_conv(x, w, scope, demodulate=True, up=up)
        x = x + noise * self._runtime[scope + "/noise_strength"]
        return _leaky_relu(x + self._runtime[scope + "/bias"])

    def _to_rgb(self, x: Tensor, w: Tensor, scope: str) -> Tensor:
        return self._modulated_conv(x, w, scope, demodulate=False) + self._runtime[scope + "/bias"]
