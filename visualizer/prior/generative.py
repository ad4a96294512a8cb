"""Channel visualization with a generative prior: gradient ascent in StyleGAN2's W space.

The paper's section 2 (after Nguyen et al., 2016): for channel z of a
classifier F and a generator G, solve

    w* = argmax_w  F_z(downscale(G(w))) - lambda * ||w - w_hat||^2

from w = w_hat, the centre of gravity of W, and show G(w*). F_z is the
channel's spatial mean. The synthesis network's noise inputs are drawn
afresh at every step, as in the paper, so repeated runs with other seeds
land near each other but not on the same image (its figure 4).

The paper gives neither lambda, the optimizer's settings nor the step count.
The defaults here (Adam, learning rate 0.02, 256 steps, lambda 0.01) are this
project's choice and are recorded in each result's `settings`.

The ascent is a parameterization of the renderer's one optimization loop,
`visualizer.render.loop.RenderLoop`: the parameters are one w per channel
(`LatentParameterization`), the synthesis network and a downscale to the
classifier's size turn them into images, the noise inputs are each step's
random inputs, and ``lam * ||w - w_hat||^2`` is the objective's penalty. The
loop batches the channels, keeps the thresholds' images and retries channels
whose values turn non-finite, as it does for Lucid's method. Each channel
draws its noise from its own seeded stream, so an image does not depend on
the batch it was rendered in.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import keras
import numpy as np
from keras import ops

from visualizer.models.graph import resolve_model_layer, truncate
from visualizer.prior.stylegan2 import StyleGAN2, to_unit_range
from visualizer.render import backend
from visualizer.render.loop import Objective, RenderLoop, Schedule, check_channels
from visualizer.render.optimizer import lucid_adam

__all__ = ["CENTERS", "LatentParameterization", "PriorRendering", "render_with_prior"]

Tensor = Any

CENTERS = ("sampled", "stored")
DEFAULT_STEPS = 256
DEFAULT_LAMBDA = 0.01
DEFAULT_LEARNING_RATE = 0.02
FALLBACK_SIZE = 224  # InceptionV1's input size, for models without a fixed one


@dataclass
class PriorRendering:
    """The result of `render_with_prior`.

    Attributes:
        images: float32 ``[len(channels), R, R, 3]`` in [0, 1] at the
            generator's resolution: G(w*) with the generator's stored noise;
            failed channels are mid-grey.
        objectives: each channel's spatial-mean activation on its image
            (downscaled as during optimization); NaN where failed.
        start_objectives: the same activation on G(w_hat), the start point.
        latents: ``[len(channels), dlatent_size]``, each channel's w*.
        distances: ``||w* - w_hat||`` per channel.
        history: threshold (update count) -> images after that update (with
            the stored noise); failed channels are mid-grey.
        failed: channels whose optimization gave non-finite values twice.
        layer: the Keras layer name rendered.
        channels: the channel indices, in order.
        settings: every setting used.
        seconds: wall time.
    """

    images: np.ndarray
    objectives: np.ndarray
    start_objectives: np.ndarray
    latents: np.ndarray
    distances: np.ndarray
    history: dict[int, np.ndarray]
    failed: list[int]
    layer: str
    channels: list[int]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _input_size(model: keras.Model) -> int:
    height, width = model.inputs[0].shape[1:3]
    if height is not None and height == width:
        return int(height)
    return FALLBACK_SIZE


@dataclass(frozen=True, eq=False)
class LatentParameterization:
    """StyleGAN2's W space as a parameterization of `visualizer.render.loop.RenderLoop`.

    Attributes:
        generator: the generator whose synthesis network makes the images.
        center: w_hat ``[dlatent_size]``, where every slot's w starts.
        size: the side the classifier reads the images at (downscaled,
            antialiased bilinear).
        randomize_noise: draw the noise inputs afresh at every step from each
            slot's stream (the paper); False uses the generator's stored noise.
    """

    generator: StyleGAN2
    center: np.ndarray
    size: int
    randomize_noise: bool = True
    slot_axis: ClassVar[int] = 0  # the parameters are [batch, dlatent_size]

    def initial(self, streams: Sequence[np.random.Generator]) -> np.ndarray:
        """w_hat for every slot, ``[batch, dlatent_size]``."""
        return np.tile(self.center, (len(streams), 1))

    def step_inputs(self, streams: Sequence[np.random.Generator]) -> tuple[np.ndarray, ...]:
        """One noise draw per slot from its stream, batched per noise input; () for the stored noise."""
        if not self.randomize_noise:
            return ()
        per_slot = [self.generator.sample_noise(1, rng) for rng in streams]
        return tuple(
            np.concatenate([slot[i] for slot in per_slot]) for i in range(self.generator.config.num_noises)
        )

    def images(self, params: Tensor, inputs: tuple = ()) -> Tensor:
        """G(w) in [0, 1] at the generator's resolution; with the stored noise when `inputs` is empty."""
        return to_unit_range(self.generator.synthesis(params, list(inputs) if inputs else None))

    def view(self, images: Tensor) -> Tensor:
        """The images downscaled to the classifier's `size`."""
        if images.shape[1] != self.size:
            images = ops.image.resize(
                images, (self.size, self.size), interpolation="bilinear", antialias=True
            )
        return images


def _channel_means(net: keras.Model) -> Callable[[Tensor, Tensor], Tensor]:
    """Channel ``ids[i]``'s spatial-mean activation on ``images[i]``."""

    def score(images: Tensor, ids: Tensor) -> Tensor:
        acts = net(images)
        if len(acts.shape) == 4:
            acts = ops.mean(acts, axis=(1, 2))
        # A gather, not a one-hot product: another channel's NaN must not reach this slot.
        return ops.take_along_axis(acts, ops.expand_dims(ids, 1), axis=1)[:, 0]

    return score


def _distance_penalty(center: np.ndarray, lam: float) -> Callable[[Tensor], Tensor]:
    """``lam * ||w - w_hat||^2`` per slot.

    Raises:
        ValueError: a negative `lam`.
    """
    if lam < 0:
        raise ValueError(f"lam must be non-negative; received {lam!r}.")
    w_hat = ops.convert_to_tensor(center)

    def penalty(params: Tensor) -> Tensor:
        return lam * ops.sum(ops.square(params - w_hat), axis=-1)

    return penalty


def render_with_prior(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    generator: StyleGAN2,
    size: int | None = None,
    steps: int = DEFAULT_STEPS,
    lam: float = DEFAULT_LAMBDA,
    learning_rate: float = DEFAULT_LEARNING_RATE,
    seed: int = 0,
    randomize_noise: bool = True,
    center: str | np.ndarray = "sampled",
    batch_size: int | None = None,
    thresholds: Sequence[int] | None = None,
    compile: bool = True,
    progress: bool = True,
) -> PriorRendering:
    """Visualize channels of `layer` through `generator`, one w per channel.

    Args:
        model: a Keras functional model taking images in [0, 1].
        layer: a catalogue alias or Keras layer name.
        channels: channel indices of `layer`.
        generator: the StyleGAN2 generator (`visualizer.prior.weights.load_generator`).
        size: the side the generator's images are downscaled to before the
            classifier (default: the model's input size, else 224).
        steps: Adam updates.
        lam: weight of ``||w - w_hat||^2``; larger keeps faces more typical.
        learning_rate: the step size of Keras's Adam (betas 0.9, 0.999, epsilon 1e-8).
        seed: seeds the noise drawn at each step.
        randomize_noise: fresh noise at every step (the paper); False: the stored noise.
        center: w_hat: ``"sampled"`` (mean of 10,000 mapped z, as StyleGAN2's
            projectors compute it), ``"stored"`` (the release's
            ``dlatent_avg``), or an array ``[dlatent_size]``.
        batch_size: channels per optimization (default: all at once).
        thresholds: update counts at which to keep the images in `history`.
        compile: compile the step with the backend's graph compiler.
        progress: show a progress bar.

    Returns:
        A `PriorRendering`. A channel whose values or w turn NaN or infinite
        is optimized once more with another noise stream, then listed in
        ``.failed`` (mid-grey images, NaN objective); its batch is unaffected.

    Raises:
        UnknownLayerError: `layer` is not in `model`.
        ValueError: a channel out of range, or a bad setting, named with the valid choices.
    """
    started = time.perf_counter()
    schedule = Schedule(steps, seed, batch_size, tuple(sorted({int(t) for t in thresholds or []})))
    name = resolve_model_layer(model, layer)
    net = truncate(model, name)
    channels = check_channels(channels, int(net.output.shape[-1]), name)
    w_hat = _center(generator, center)
    size = int(size or _input_size(model))
    ascent = RenderLoop(
        LatentParameterization(generator, w_hat, size, randomize_noise),
        Objective(_channel_means(net), penalty=_distance_penalty(w_hat, lam)),
        optimizer=lucid_adam(learning_rate),
        compile=compile,
    )
    result = ascent.run(channels, schedule, progress=progress, label=f"prior {name}", keep_params=True)
    batch = batch_size or len(channels)
    settings = {"method": "stylegan2", "size": size, "steps": steps, "lam": lam}
    settings |= {"learning_rate": learning_rate, "seed": seed, "randomize_noise": randomize_noise}
    settings |= {"center": center if isinstance(center, str) else "given"}
    settings |= {"generator_resolution": generator.config.resolution, "batch_size": batch}
    settings["backend"] = backend.backend_name()
    start_objectives = ascent.evaluate(np.tile(w_hat, (len(channels), 1)), channels, batch)[1]
    return PriorRendering(
        images=result.images,
        objectives=result.values,
        start_objectives=start_objectives,
        latents=result.params,
        distances=np.linalg.norm(result.params - w_hat[None, :], axis=1).astype("float32"),
        history=result.history,
        failed=[channels[slot] for slot in result.failed],
        layer=name,
        channels=channels,
        settings=settings,
        seconds=time.perf_counter() - started,
    )


def _center(generator: StyleGAN2, center: str | np.ndarray) -> np.ndarray:
    if isinstance(center, str):
        if center not in CENTERS:
            raise ValueError(f"Unknown center {center!r}; valid: {', '.join(CENTERS)}, or an array.")
        return generator.center() if center == "sampled" else generator.stored_center()
    w_hat = np.asarray(center, dtype="float32").reshape(-1)
    if w_hat.shape != (generator.config.dlatent_size,):
        raise ValueError(f"center must have {generator.config.dlatent_size} values; received {w_hat.size}.")
    return w_hat
