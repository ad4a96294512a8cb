"""Render channel visualizations: the public entry point of the renderer.

`render_channels` renders many channels of one layer in one optimization:
one image per channel, each batch slot maximizing its own channel, so a
batch behaves like independent Lucid runs that share each step's random
transform draw. The network is truncated at the target layer, so deeper
layers cost nothing, and the step is compiled once per layer and reused for
every chunk of channels (the channel ids are an input of the step).

Defaults are Lucid's ``render_vis`` (see lucid-method.md, sections 1-4 and
10): 128 px FFT-parameterized, colour-decorrelated, sigmoid images; the
standard transforms; Adam(0.05, 0.9, 0.999, 1e-8); the redirected ReLU
gradient for the first 17 updates. One difference is deliberate: `steps`
counts Adam updates (512 by default), where Lucid runs
``max(thresholds) + 1`` = 513; pass ``lucid_step_count=True`` for Lucid's
count and its threshold indexing.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

# pre_relu_layer, resolve_model_layer and truncate live in `visualizer.models.graph`; re-exported here.
from visualizer.models.graph import pre_relu_layer, resolve_model_layer, single_input, truncate
from visualizer.render import backend
from visualizer.render import objectives as obj
from visualizer.render.fused import fuse_for_rendering, refresh_fused, select_target_channels
from visualizer.render.optimizer import Adam
from visualizer.render.param import Param, fft_image, pixel_image
from visualizer.render.relu import redirect_relu_gradients
from visualizer.render.transforms import Pipeline, Transform, standard_transforms

__all__ = [
    "OBJECTIVES",
    "ChannelRenderer",
    "Rendering",
    "pre_relu_layer",
    "render_channels",
    "resolve_model_layer",
    "truncate",
]

Tensor = Any

OBJECTIVES = ("channel", "neuron", "negative")
PARAMS = ("fft", "pixel")
RETRY_SEED_OFFSET = 1  # a failed channel's retry draws with attempt index 1
_DRAW_STREAM = 1 << 20  # keeps transform draws independent of per-channel init streams


@dataclass
class Rendering:
    """The result of `render_channels`.

    Attributes:
        images: float32 ``[len(channels), size, size, 3]`` in [0, 1]; failed
            channels are mid-grey 0.5.
        objectives: float32 ``[len(channels)]``, each channel's objective on
            its final image (untransformed); NaN for failed channels.
        history: threshold (update count) -> images after that update.
        failed: the channel indices that failed (non-finite values twice).
        layer: the Keras layer name rendered.
        channels: the channel indices, in order.
        names: self-describing objective name per channel, e.g.
            ``"channel Mixed_4c_Branch_2_b_3x3:17"``.
        settings: every setting used (size, steps, seed, transforms...).
        seconds: wall time of the render.
    """

    images: np.ndarray
    objectives: np.ndarray
    history: dict[int, np.ndarray]
    failed: list[int]
    layer: str
    channels: list[int]
    names: list[str]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def _as_nhwc(acts: Tensor) -> Tensor:
    # Lucid's _T_force_NHWC: a dense layer's [B, C] becomes [B, 1, 1, C].
    if len(acts.shape) == 2:
        return acts[:, None, None, :]
    return acts


def _transform_list(transforms: str | Sequence[Transform] | None) -> list[Transform]:
    if transforms is None:
        return []
    if isinstance(transforms, str):
        if transforms not in ("lucid", "standard"):
            raise ValueError(
                f"Unknown transforms {transforms!r}; valid: 'lucid' (standard_transforms), "
                "a list of transforms, or [] for none."
            )
        return standard_transforms()
    return list(transforms)


class ChannelRenderer:
    """Renders channels of one layer of one model; keeps its compiled steps across calls.

    Args:
        model: a Keras functional model taking images in [0, 1].
        layer: a catalogue alias or a Keras layer name.
        size: image height and width in pixels.
        objective: ``"channel"`` (spatial mean), ``"neuron"`` (centre
            position), ``"negative"`` (minus the spatial mean: what the
            channel responds to least, as in Lucid's negative-neurons
            notebook), or a callable ``(layer, ids) -> Objective`` giving
            one value per batch slot.
        param: ``"fft"`` (Lucid's default) or ``"pixel"``.
        decorrelate: decorrelate colours (Lucid's default).
        transforms: ``"lucid"`` (`standard_transforms`), a list of
            `Transform`, or ``[]``/None for none.
        per_image_transforms: independent draws per image instead of one
            draw per step shared by the batch (Lucid's behaviour).
        diversity: weight of Lucid's diversity term, subtracted from the
            objective (0 disables; Lucid's notebook uses 100).
        diversity_group: compute the diversity term within consecutive
            groups of this many slots, each group rendering one channel that
            many times (`render` then keeps groups whole in batches and
            retries); None: across the whole batch, as Lucid does.
        relu_redirect_steps: use the redirected ReLU gradient while the
            update index (0-based, Lucid's global step) is at most this;
            None disables it.
        optimizer: the update rule, default ``Adam(0.05, 0.9, 0.999, 1e-8)``.
        compile: True (compiled step), False (eager) or ``"xla"``.
        truncate_model: compute only up to `layer` (default); False runs the whole
            network each step, as a naive renderer would (for benchmarks).
        fuse: differentiate a rendering copy of the network
            (`visualizer.render.fused`: batch norms folded into convolutions,
            convolutions' input gradients as forward convolutions and, for
            the channel and neuron objectives without diversity, a target
            convolution that computes only the channel each image renders);
            the same function and gradient up to float rounding. False uses
            the model's own layers, as Lucid does.
    """

    def __init__(
        self,
        model: keras.Model,
        layer: str,
        size: int = 128,
        objective: str | Callable[[str, Tensor], obj.Objective] = "channel",
        param: str = "fft",
        decorrelate: bool = True,
        transforms: str | Sequence[Transform] | None = "lucid",
        per_image_transforms: bool = False,
        diversity: float = 0.0,
        relu_redirect_steps: int | None = 16,
        optimizer: Adam | None = None,
        compile: bool | str = True,
        truncate_model: bool = True,
        diversity_group: int | None = None,
        fuse: bool = True,
    ):
        if not isinstance(size, int) or size < 8:
            raise ValueError(f"size must be an integer of at least 8 pixels, received size={size!r}.")
        if param not in PARAMS:
            raise ValueError(f"Unknown param {param!r}; valid: {', '.join(PARAMS)}.")
        if isinstance(objective, str) and objective not in OBJECTIVES:
            raise ValueError(
                f"Unknown objective {objective!r}; valid: {', '.join(OBJECTIVES)} or a callable."
            )
        obj.check_group(diversity_group, "diversity_group")
        if diversity_group is not None and not diversity:
            raise ValueError(
                f"diversity_group={diversity_group} groups the diversity term, which is off (diversity=0)."
            )
        if compile not in backend.COMPILE_MODES:
            raise ValueError(f"Unknown compile setting {compile!r}; valid: True, False, 'xla'.")
        self.layer = resolve_model_layer(model, layer)
        self.net = truncate(model, self.layer)
        if not truncate_model:
            # The whole network runs; the objective still reads the layer (first output).
            self.net = keras.Model(single_input(model), [model.get_layer(self.layer).output, *model.outputs])
        if fuse:
            self.net = fuse_for_rendering(self.net)
        self.fuse = fuse
        # Objectives that read one channel per image let the target convolution compute only that one.
        one_channel = objective in OBJECTIVES and not diversity and truncate_model
        selected = select_target_channels(self.net) if fuse and one_channel else None
        self.selects_channels = selected is not None
        self.net = selected or self.net
        self.redirect_net = None if relu_redirect_steps is None else redirect_relu_gradients(self.net)
        self.channel_count = int(model.get_layer(self.layer).output.shape[-1])
        self.size = size
        self.objective_kind = objective
        self.param_kind = param
        self.decorrelate = decorrelate
        self.pipeline = Pipeline(tuple(_transform_list(transforms)))
        self.per_image_transforms = per_image_transforms
        self.diversity = float(diversity)
        self.diversity_group = diversity_group
        self.relu_redirect_steps = relu_redirect_steps
        self.optimizer = optimizer or Adam()
        self.compile = compile
        self.static_shapes = backend.needs_static_shapes(compile)
        self._steps: dict[bool, Callable] = {}

    # -- building blocks ----------------------------------------------------------------------

    def param(self, batch: int) -> Param:
        """The image parameterization for a batch of `batch` images."""
        factory = fft_image if self.param_kind == "fft" else pixel_image
        return factory(batch, self.size, self.size, decorrelate=self.decorrelate)

    def objective(self, ids: Sequence[int] | Tensor) -> obj.Objective:
        """The batch objective: slot b renders channel ``ids[b]`` (minus the diversity term)."""
        if callable(self.objective_kind):
            objective = self.objective_kind(self.layer, ids)
        elif self.objective_kind == "neuron":
            objective = obj.neurons(self.layer, ids)
        elif self.objective_kind == "negative":
            objective = -obj.channels(self.layer, ids)
        else:
            objective = obj.channels(self.layer, ids)
        if self.diversity:
            objective = objective - self.diversity * obj.diversity(self.layer, self.diversity_group)
        return objective

    def slot_name(self, channel: int) -> str:
        """The self-describing name of one channel's objective."""
        kind = self.objective_kind if isinstance(self.objective_kind, str) else "objective"
        name = f"{kind} {self.layer}:{channel}"
        if self.diversity:
            name += f" - {self.diversity:g} * {obj.diversity(self.layer, self.diversity_group).name}"
        return name

    def _values(self, net: keras.Model, images: Tensor, ids: Tensor) -> Tensor:
        if self.selects_channels:
            # The net returns only channel ids[b] for image b: channel 0 of its output.
            acts = net([images, ids], training=False)
            return self.objective(ops.zeros_like(ids))(lambda name: acts)
        acts = net(images, training=False)
        if isinstance(acts, (list, tuple)):
            acts = acts[0]
        acts = _as_nhwc(acts)
        return self.objective(ids)(lambda name: acts)

    def _loss_fn(self, net: keras.Model) -> Callable:
        param = self.param(1)  # the map to images does not depend on the batch size

        def loss(params: Tensor, ids: Tensor, dynamic: tuple, static: tuple) -> Tensor:
            draws = tuple(d if s is None else s for d, s in zip(dynamic, static))
            images = self.pipeline(param(params), draws)
            return self._values(net, images, ids)

        return loss

    def _step(self, redirect: bool) -> Callable:
        if redirect not in self._steps:
            net = self.redirect_net if redirect else self.net
            self._steps[redirect] = backend.make_step(self._loss_fn(net), self.optimizer, self.compile)
        return self._steps[redirect]

    def _split_draws(self, draws: tuple) -> tuple[tuple, tuple]:
        slots = self.pipeline.static_slots(self.per_image_transforms)
        if not self.static_shapes:
            slots = (False,) * len(draws)
        dynamic = tuple(
            None if (static or d is None) else ops.convert_to_tensor(d) for d, static in zip(draws, slots)
        )
        static = tuple(int(d.reshape(-1)[0]) if s else None for d, s in zip(draws, slots))
        return dynamic, static

    def _initial(
        self, channels: Sequence[int], seed: int, attempt: int, repeats: Sequence[int] | None = None
    ) -> np.ndarray:
        # One stream per channel: a channel's start does not depend on its batch mates. A channel's
        # k-th repeat in the render (k > 0; diversity renders) has a stream of its own.
        single = self.param(1)
        axis = 1 if self.param_kind == "fft" else 0
        parts = [
            single.init(np.random.default_rng([seed, int(c), attempt] + ([k] if k else [])))
            for c, k in zip(channels, repeats or _repeat_indices(channels))
        ]
        return np.concatenate(parts, axis=axis)

    # -- the optimization ---------------------------------------------------------------------

    def _optimize(
        self,
        channels: Sequence[int],
        seed: int,
        attempt: int,
        updates: int,
        record: dict[int, int],
        bar: Any,
        repeats: Sequence[int],
    ) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray], np.ndarray]:
        batch = len(channels)
        param = self.param(batch)
        params = ops.convert_to_tensor(self._initial(channels, seed, attempt, repeats))
        m, v = ops.zeros_like(params), ops.zeros_like(params)
        ids = ops.convert_to_tensor(np.asarray(channels, dtype="int32"))
        draw_rng = np.random.default_rng([seed, _DRAW_STREAM, attempt])
        finite = ops.ones((batch,), dtype="bool")
        history: dict[int, np.ndarray] = {}
        for index in range(updates):
            redirect = self.redirect_net is not None and index <= self.relu_redirect_steps
            dynamic, static = self._split_draws(
                self.pipeline.sample(draw_rng, batch, self.per_image_transforms)
            )
            count = ops.convert_to_tensor(np.float32(index + 1))
            params, m, v, values = self._step(redirect)(params, m, v, count, ids, dynamic, static)
            finite = ops.logical_and(finite, ops.isfinite(values))
            if index in record:
                history[record[index]] = ops.convert_to_numpy(param(params))
            bar.update(1)
        images = param(params)
        values = ops.convert_to_numpy(self._values(self.net, images, ids))
        images = ops.convert_to_numpy(images)
        ok = ops.convert_to_numpy(finite) & np.isfinite(values)
        ok &= np.isfinite(images.reshape(batch, -1)).all(axis=1)
        return images, values, history, ok

    def render(
        self,
        channels: Sequence[int],
        steps: int = 512,
        seed: int = 0,
        batch_size: int | None = None,
        thresholds: Sequence[int] | None = None,
        progress: bool = True,
        lucid_step_count: bool = False,
    ) -> Rendering:
        """Render one image per channel. See `render_channels` for the arguments.

        The fused copy of the network is refreshed from the model's weights
        first, so weights assigned between renders are used.
        """
        started = time.perf_counter()
        channels = self._check_channels(channels)
        if self.fuse:
            refresh_fused(self.net)
        if not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(f"steps must be a positive integer, received steps={steps!r}.")
        if batch_size is not None and batch_size < 1:
            raise ValueError(f"batch_size must be None or positive, received batch_size={batch_size!r}.")
        self._check_groups(channels, batch_size)
        updates = steps + 1 if lucid_step_count else steps
        record = self._record(thresholds, steps, lucid_step_count)
        batch_size = batch_size or len(channels)
        chunks = [
            list(range(i, min(i + batch_size, len(channels)))) for i in range(0, len(channels), batch_size)
        ]
        repeats = _repeat_indices(channels)

        count = len(channels)
        images = np.full((count, self.size, self.size, 3), 0.5, dtype="float32")
        values = np.full((count,), np.nan, dtype="float32")
        history = {key: images.copy() for key in record.values()}
        with tqdm(
            total=updates * len(chunks), disable=not progress, desc=f"{self.layer} x{count}", unit="step"
        ) as bar:
            run = functools.partial(
                self._run,
                channels=channels,
                seed=seed,
                updates=updates,
                record=record,
                bar=bar,
                images=images,
                values=values,
                history=history,
                repeats=repeats,
            )
            pending: list[int] = []
            for chunk in chunks:
                pending += run(chunk, attempt=0)
            still: list[int] = []
            for start in range(0, len(pending), batch_size):  # retries keep the batch size too
                bar.total += updates
                still += run(pending[start : start + batch_size], attempt=RETRY_SEED_OFFSET)
        for slot in still:
            images[slot] = 0.5
            values[slot] = np.nan
            for frames in history.values():
                frames[slot] = 0.5
        return Rendering(
            images=images,
            objectives=values,
            history=history,
            failed=[channels[slot] for slot in still],
            layer=self.layer,
            channels=list(channels),
            names=[self.slot_name(c) for c in channels],
            settings=self.settings(
                steps=steps, seed=seed, batch_size=batch_size, lucid_step_count=lucid_step_count
            ),
            seconds=time.perf_counter() - started,
        )

    def _run(
        self,
        slots: list[int],
        *,
        channels: list[int],
        seed: int,
        attempt: int,
        updates: int,
        record: dict[int, int],
        bar: Any,
        images: np.ndarray,
        values: np.ndarray,
        history: dict[int, np.ndarray],
        repeats: list[int],
    ) -> list[int]:
        """Optimize `slots` (positions in `channels`), write results, return the failed positions.

        With diversity groups, a slot that fails fails its whole group, so
        that a retry optimizes whole groups again.
        """
        chunk_images, chunk_values, chunk_history, ok = self._optimize(
            [channels[s] for s in slots], seed, attempt, updates, record, bar, [repeats[s] for s in slots]
        )
        if self.diversity and self.diversity_group:
            ok = np.repeat(ok.reshape(-1, self.diversity_group).all(axis=1), self.diversity_group)
        failed = []
        for position, slot in enumerate(slots):
            if not ok[position]:
                failed.append(slot)
                continue
            images[slot] = chunk_images[position]
            values[slot] = chunk_values[position]
            for key, frames in chunk_history.items():
                history[key][slot] = frames[position]
        return failed

    def _check_groups(self, channels: list[int], batch_size: int | None) -> None:
        """With diversity groups: each group of slots renders one channel; batches hold whole groups."""
        group = self.diversity_group
        if not (self.diversity and group):
            return
        if len(channels) % group:
            raise ValueError(
                f"With diversity_group={group}, the channels must come in groups of {group} "
                f"(each channel repeated {group} times in a row); received {len(channels)} channels."
            )
        for start in range(0, len(channels), group):
            if len(set(channels[start : start + group])) != 1:
                raise ValueError(
                    f"With diversity_group={group}, each group of {group} consecutive slots renders one "
                    f"channel; slots {start}..{start + group - 1} hold {channels[start : start + group]}."
                )
        if batch_size is not None and batch_size % group:
            raise ValueError(
                f"With diversity_group={group}, batch_size must be a multiple of {group}; "
                f"received batch_size={batch_size}."
            )

    def _check_channels(self, channels: Sequence[int]) -> list[int]:
        channels = list(channels)
        if not channels:
            raise ValueError("channels must list at least one channel index.")
        last = self.channel_count - 1
        for channel in channels:
            if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
                raise ValueError(f"Channel indices must be integers, received {channel!r}.")
            if not 0 <= channel <= last:
                raise ValueError(
                    f"Channel {channel} is out of range for layer {self.layer!r}: "
                    f"valid channels are 0..{last}."
                )
        return [int(c) for c in channels]

    @staticmethod
    def _record(thresholds: Sequence[int] | None, steps: int, lucid_step_count: bool) -> dict[int, int]:
        """Map 0-based update index -> history key."""
        if not thresholds:
            return {}
        low, high = (0, steps) if lucid_step_count else (1, steps)
        record = {}
        for threshold in thresholds:
            if not low <= threshold <= high:
                raise ValueError(
                    f"Thresholds must lie in {low}..{high} (steps={steps}); received {threshold!r}."
                )
            record[threshold if lucid_step_count else threshold - 1] = int(threshold)
        return record

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Every setting of this renderer, plus `extra`, as plain values."""
        return {
            "size": self.size,
            "objective": self.objective_kind if isinstance(self.objective_kind, str) else "custom",
            "param": self.param_kind,
            "decorrelate": self.decorrelate,
            "transforms": repr(self.pipeline),
            "per_image_transforms": self.per_image_transforms,
            "diversity": self.diversity,
            "diversity_group": self.diversity_group,
            "relu_redirect_steps": self.relu_redirect_steps,
            "optimizer": repr(self.optimizer),
            "compile": self.compile,
            "fuse": self.fuse,
            "backend": backend.backend_name(),
            "kernels": backend.kernel_library(),
            **extra,
        }


def _repeat_indices(channels: Sequence[int]) -> list[int]:
    """For each slot, how many earlier slots render the same channel."""
    seen: dict[int, int] = {}
    repeats = []
    for channel in channels:
        repeats.append(seen.get(channel, 0))
        seen[channel] = repeats[-1] + 1
    return repeats


def render_channels(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    size: int = 128,
    steps: int = 512,
    seed: int = 0,
    batch_size: int | None = None,
    objective: str | Callable[[str, Tensor], obj.Objective] = "channel",
    transforms: str | Sequence[Transform] | None = "lucid",
    param: str = "fft",
    decorrelate: bool = True,
    thresholds: Sequence[int] | None = None,
    progress: bool = True,
    *,
    compile: bool | str = True,
    per_image_transforms: bool = False,
    diversity: float = 0.0,
    relu_redirect_steps: int | None = 16,
    optimizer: Adam | None = None,
    lucid_step_count: bool = False,
    fuse: bool = True,
    diversity_group: int | None = None,
) -> Rendering:
    """Render one feature visualization per channel of one layer, Lucid's way, batched.

    Args:
        model: a Keras functional model taking images in [0, 1] (any H, W).
        layer: a catalogue id or alias (``Mixed_4c_Branch_2_b_3x3``,
            ``4c_2_b_3x3``, ``mixed4b``...) or a raw Keras layer name.
        channels: the channel indices to render, one image each; a channel
            may repeat (each repeat starts from its own random image).
        size: image height and width (Lucid: 128).
        steps: Adam updates (Lucid runs 513 for its default threshold 512;
            see `lucid_step_count`).
        seed: seeds every random draw: each channel's initial image and the
            transform draws; the same seed gives the same images on the same backend.
        batch_size: channels per optimization; None renders all in one batch.
        objective: ``"channel"`` (spatial mean of the channel), ``"neuron"``
            (its centre position), ``"negative"`` (minus the spatial mean;
            best on a pre-ReLU layer, where the channel can go below zero)
            or a callable ``(layer, ids) -> Objective``.
        transforms: ``"lucid"`` for `standard_transforms`, a list of
            `Transform`, or ``[]`` for none.
        param: ``"fft"`` (Lucid's default) or ``"pixel"``.
        decorrelate: decorrelate colours (Lucid's default).
        thresholds: update counts at which to keep the images in ``.history``.
        progress: show a tqdm progress bar.
        compile: True (``tf.function`` without XLA / ``jax.jit``), False
            (eager) or ``"xla"``.
        per_image_transforms: draw transforms per image instead of once per
            step for the whole batch (Lucid's behaviour).
        diversity: weight of Lucid's diversity term (subtracted); 0 disables.
        relu_redirect_steps: redirected ReLU gradient while the 0-based update
            index is at most this (Lucid: 16, i.e. 17 updates); None disables.
        optimizer: default ``Adam(0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-8)``.
        lucid_step_count: run ``steps + 1`` updates and read `thresholds` as
            Lucid's 0-based loop indices, for exact parity with ``render_vis``.
        fuse: differentiate the rendering copy of the network from
            `visualizer.render.fused` (faster, the same function to float
            rounding); False differentiates the model's own layers.
        diversity_group: compare images for the diversity term only within
            groups of this many consecutive slots, each repeating one channel:
            ``channels=[3, 3, 3, 3, 7, 7, 7, 7], diversity=100,
            diversity_group=4`` renders Lucid's four diverse images of
            channel 3 and of channel 7 in one batch. `batch_size` must be a
            multiple of it. None: the whole batch is one group (Lucid).

    Returns:
        A `Rendering`. A channel whose values turn NaN or infinite is retried
        once with another seed; if it fails again it is listed in ``.failed``,
        its image is mid-grey and its objective NaN, and the rest of the batch
        is unaffected.

    Raises:
        UnknownLayerError: the layer is not in the model (with close matches).
        ValueError: a channel is out of range (the message gives 0..C-1) or a
            setting is invalid.
    """
    renderer = ChannelRenderer(
        model,
        layer,
        size=size,
        objective=objective,
        param=param,
        decorrelate=decorrelate,
        transforms=transforms,
        per_image_transforms=per_image_transforms,
        diversity=diversity,
        relu_redirect_steps=relu_redirect_steps,
        optimizer=optimizer,
        compile=compile,
        fuse=fuse,
        diversity_group=diversity_group,
    )
    return renderer.render(
        channels,
        steps=steps,
        seed=seed,
        batch_size=batch_size,
        thresholds=thresholds,
        progress=progress,
        lucid_step_count=lucid_step_count,
    )
