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

Channels are batched: one w per channel, optimized together, each step
compiled once per layer by the same backend code as the Lucid renderer.
Each channel draws its noise from its own seeded stream, so an image does not
depend on the batch it was rendered in.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from visualizer.models.graph import resolve_model_layer, truncate
from visualizer.prior.stylegan2 import StyleGAN2, to_unit_range
from visualizer.render import backend
from visualizer.render.optimizer import Adam

__all__ = ["CENTERS", "PriorRendering", "render_with_prior"]

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
        history: threshold (update count) -> images after that update.
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


def _check_channels(channels: Sequence[int], count: int, layer: str) -> list[int]:
    channels = [int(c) for c in channels]
    if not channels:
        raise ValueError("No channels to render; pass at least one channel index.")
    bad = [c for c in channels if not 0 <= c < count]
    if bad:
        raise ValueError(
            f"Channels {bad} out of range for layer {layer!r}, which has channels 0..{count - 1}."
        )
    return channels


class _PriorObjective:
    """F_z(downscale(G(w))) per batch slot, for the channel ids given."""

    def __init__(self, net: keras.Model, generator: StyleGAN2, size: int, channels: int):
        self.net, self.generator, self.size, self.channel_count = net, generator, size, channels

    def activations(self, w, ids, noises) -> Any:
        """The objective's value per slot for latents `w` (noise inputs, or None for the stored noise)."""
        return self.score(to_unit_range(self.generator.synthesis(w, noises)), ids)

    def score(self, images, ids) -> Any:
        """Channel ``ids[i]``'s spatial-mean activation on ``images[i]`` (in [0, 1], generator size)."""
        if images.shape[1] != self.size:
            images = ops.image.resize(
                images, (self.size, self.size), interpolation="bilinear", antialias=True
            )
        acts = self.net(images)
        if len(acts.shape) == 4:
            acts = ops.mean(acts, axis=(1, 2))
        # A gather, not a one-hot product: another channel's NaN must not reach this slot.
        return ops.take_along_axis(acts, ops.expand_dims(ids, 1), axis=1)[:, 0]


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
        learning_rate: Adam's step size (betas 0.9, 0.999, epsilon 1e-8).
        seed: seeds the noise drawn at each step.
        randomize_noise: fresh noise at every step (the paper); False uses
            the generator's stored noise throughout.
        center: w_hat: ``"sampled"`` (mean of 10,000 mapped z, as StyleGAN2's
            projectors compute it), ``"stored"`` (the release's
            ``dlatent_avg``), or an array ``[dlatent_size]``.
        batch_size: channels per optimization (default: all at once).
        thresholds: update counts at which to keep the images in `history`.
        compile: compile the step with the backend's graph compiler.
        progress: show a progress bar.

    Returns:
        A `PriorRendering`.

    Raises:
        UnknownLayerError: `layer` is not in `model`.
        ValueError: a channel out of range, or a bad setting, named with the valid choices.
    """
    started = time.perf_counter()
    if steps < 1:
        raise ValueError(f"steps must be at least 1; received {steps!r}.")
    if lam < 0:
        raise ValueError(f"lam must be non-negative; received {lam!r}.")
    if batch_size is not None and batch_size < 1:
        raise ValueError(f"batch_size must be at least 1 or None; received {batch_size!r}.")
    thresholds = sorted({int(t) for t in thresholds or []})
    if any(not 1 <= t <= steps for t in thresholds):
        raise ValueError(f"thresholds must lie in 1..{steps} (update counts); received {thresholds}.")
    name = resolve_model_layer(model, layer)
    net = truncate(model, name)
    count = int(net.output.shape[-1])
    channels = _check_channels(channels, count, name)
    w_hat = _center(generator, center)
    size = int(size or _input_size(model))
    objective = _PriorObjective(net, generator, size, count)
    step = _make_step(objective, lam, learning_rate, compile)

    batch = batch_size or len(channels)
    latents = np.zeros((len(channels), generator.config.dlatent_size), dtype="float32")
    kept: dict[int, np.ndarray] = {t: latents.copy() for t in thresholds}
    failed: list[int] = []
    bar = tqdm(total=len(channels) * steps, desc=f"prior {name}", unit="step", disable=not progress)
    for start in range(0, len(channels), batch):
        chunk = list(range(start, min(start + batch, len(channels))))
        chunk_channels = [channels[i] for i in chunk]
        run = (step, generator, w_hat, steps, seed, randomize_noise, thresholds)
        w, history, ok = _optimize(*run, chunk_channels, 0, bar)
        bad = [i for i in range(len(chunk)) if not ok[i]]
        if bad:  # retry once with another noise stream, then give up on the channel
            retry, retry_history, retry_ok = _optimize(*run, [chunk_channels[i] for i in bad], 1, None)
            for slot, i in enumerate(bad):
                w[i], ok[i] = retry[slot], retry_ok[slot]
                for t in thresholds:
                    history[t][i] = retry_history[t][slot]
        for slot, i in enumerate(chunk):
            latents[i] = w[slot]
            for t in thresholds:
                kept[t][i] = history[t][slot]
            if not ok[slot]:
                failed.append(channels[i])
    bar.close()

    images, objectives = _evaluate(objective, np.nan_to_num(latents), channels, batch)
    failed += [c for c, value in zip(channels, objectives) if not np.isfinite(value) and c not in failed]
    start_objectives = _evaluate(objective, np.tile(w_hat, (len(channels), 1)), channels, batch)[1]
    history_images = {t: _evaluate(objective, kept[t], channels, batch)[0] for t in thresholds}
    failed_rows = [i for i, c in enumerate(channels) if c in failed]
    images[failed_rows] = 0.5
    objectives[failed_rows] = np.nan
    return PriorRendering(
        images=images,
        objectives=objectives,
        start_objectives=start_objectives,
        latents=latents,
        distances=np.linalg.norm(latents - w_hat[None, :], axis=1).astype("float32"),
        history=history_images,
        failed=failed,
        layer=name,
        channels=channels,
        settings={
            "method": "stylegan2",
            "size": size,
            "steps": steps,
            "lam": lam,
            "learning_rate": learning_rate,
            "seed": seed,
            "randomize_noise": randomize_noise,
            "center": center if isinstance(center, str) else "given",
            "generator_resolution": generator.config.resolution,
            "batch_size": batch,
            "backend": backend.backend_name(),
        },
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


def _make_step(objective: _PriorObjective, lam: float, learning_rate: float, compile: bool):
    def loss_fn(params, targets, dynamic, static):
        ids, w_hat = targets
        values = objective.activations(params, ids, list(dynamic) if dynamic else None)
        return values - lam * ops.sum(ops.square(params - w_hat), axis=-1)

    return backend.make_step(loss_fn, Adam(learning_rate=learning_rate), compile)


def _noise_streams(channels: Sequence[int], seed: int, attempt: int) -> list[np.random.Generator]:
    # One stream per channel: a channel's noise does not depend on its batch mates.
    return [np.random.default_rng([seed, int(c), attempt]) for c in channels]


def _optimize(
    step,
    generator: StyleGAN2,
    w_hat: np.ndarray,
    steps: int,
    seed: int,
    randomize_noise: bool,
    thresholds: Sequence[int],
    channels: Sequence[int],
    attempt: int,
    bar: Any,
) -> tuple[np.ndarray, dict[int, np.ndarray], np.ndarray]:
    """Run the ascent for one batch from w_hat.

    Returns:
        w* per slot, w per slot at each threshold, and per slot whether
        every step's value and w* are finite.
    """
    batch = len(channels)
    params = ops.convert_to_tensor(np.tile(w_hat, (batch, 1)))
    m, v = ops.zeros_like(params), ops.zeros_like(params)
    targets = (ops.convert_to_tensor(np.asarray(channels, dtype="int32")), ops.convert_to_tensor(w_hat))
    streams = _noise_streams(channels, seed, attempt)
    finite = ops.ones((batch,), dtype="bool")
    history: dict[int, np.ndarray] = {}
    for index in range(steps):
        dynamic: tuple = ()
        if randomize_noise:
            per_slot = [generator.sample_noise(1, rng) for rng in streams]
            dynamic = tuple(
                ops.convert_to_tensor(np.concatenate([slot[i] for slot in per_slot]))
                for i in range(generator.config.num_noises)
            )
        count = ops.convert_to_tensor(np.float32(index + 1))
        params, m, v, values = step(params, m, v, count, targets, dynamic, None)
        finite = ops.logical_and(finite, ops.isfinite(values))
        if index + 1 in thresholds:
            history[index + 1] = ops.convert_to_numpy(params)
        if bar is not None:
            bar.update(1)
    w = ops.convert_to_numpy(params).copy()
    return w, history, ops.convert_to_numpy(finite) & np.isfinite(w).all(axis=1)


def _evaluate(
    objective: _PriorObjective, latents: np.ndarray, channels: Sequence[int], batch: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images G(w) with the stored noise, and each channel's activation on them."""
    images, values = [], []
    for start in range(0, len(channels), batch):
        w = ops.convert_to_tensor(latents[start : start + batch])
        ids = ops.convert_to_tensor(np.asarray(channels[start : start + batch], dtype="int32"))
        unit = to_unit_range(objective.generator.synthesis(w))
        images.append(ops.convert_to_numpy(unit))
        values.append(ops.convert_to_numpy(objective.score(unit, ids)))
    return np.concatenate(images).astype("float32"), np.concatenate(values).astype("float32")
