"""The one optimization loop of every renderer, in the spirit of Lucid's ``render_vis``.

Lucid's ``render_vis(model, objective, param_f, optimizer, transforms,
thresholds)`` takes its parts as objects; so does `RenderLoop`:

- a `Parameterization`: the optimized parameters of a batch of slots and how
  they become images (Lucid's FFT or pixel image,
  `visualizer.render.param.ImageParameterization`; StyleGAN2's W space,
  `visualizer.prior.generative.LatentParameterization`);
- an `Objective`: per-slot values read from the images by the model, to
  maximize, minus an optional penalty on the parameters (a prior's
  regularizer);
- transforms: a `visualizer.render.transforms.Pipeline`, applied to the
  images before the objective reads them;
- an optimizer: a Keras optimizer, applied by `visualizer.render.backend`.

`RenderLoop.run` renders one image per slot, each slot maximizing the
objective for its own channel, and owns what every renderer needs once: the
batches (chunks of slots), a seeded random stream per slot, the transform
draws, the images kept at thresholds, and failure handling. A slot whose
values turn NaN or infinite is optimized once more from another stream; if it
fails again it is reported, its image is mid-grey and its value NaN, and the
rest of its batch is unaffected.

Three options keep a compiled step's shapes and function fixed, so that
``jax.jit`` compiles it once per layer: ``scale_canvas="fixed"`` (the
transforms on one canvas, `visualizer.render.canvas`, with the objective
read over the image's region, `Objective.region`), `Objective.switched` (the
redirected-ReLU warm-up as a step input rather than a second loss), and
``weights``/``share`` (the network's weights as step arguments, and a key
under which every renderer of one architecture shares the compiled step;
`visualizer.render.backend`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import keras
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from visualizer.render import backend
from visualizer.render.optimizer import lucid_adam
from visualizer.render.transforms import SCALE_CANVASES, Pipeline

__all__ = [
    "LoopResult",
    "Objective",
    "Parameterization",
    "RenderLoop",
    "Schedule",
    "check_channels",
    "repeat_indices",
    "slot_streams",
]

Tensor = Any
Score = Callable[[Tensor, Tensor], Tensor]

RETRY_ATTEMPT = 1  # a failed slot's retry draws with attempt index 1
DRAW_STREAM = 1 << 20  # keeps transform draws independent of the per-slot streams
FAILED_PIXEL = 0.5  # failed slots are mid-grey


class Parameterization(Protocol):
    """Image parameters and how they become images (Lucid's ``param_f``).

    Attributes:
        slot_axis: the axis of the parameters that indexes batch slots.
    """

    slot_axis: int

    def initial(self, streams: Sequence[np.random.Generator]) -> np.ndarray:
        """The starting parameters of a batch, one slot per stream (a slot may draw from its stream)."""

    def step_inputs(self, streams: Sequence[np.random.Generator]) -> tuple[np.ndarray, ...]:
        """Random inputs of one step besides the parameters (e.g. a generator's noise); () for none."""

    def images(self, params: Tensor, inputs: tuple = ()) -> Tensor:
        """The images ``[batch, H, W, 3]`` in [0, 1]; `inputs` from `step_inputs`, () outside optimization."""

    def view(self, images: Tensor) -> Tensor:
        """What the model reads of `images` (e.g. downscaled), before the transforms."""


@dataclass(frozen=True)
class Objective:
    """What the loop maximizes, one value per slot (the loss is minus their sum).

    Attributes:
        score: ``(images, ids) -> values [batch]``: slot b's objective for
            channel ``ids[b]`` on the model's view of its transformed image.
            The value reported per slot is this score on its final image,
            untransformed.
        penalty: ``params -> [batch]``, subtracted while optimizing and not
            reported (a generative prior's regularizer); None for none.
        warmup: a score used instead of `score` for the updates whose 0-based
            index is at most `warmup_steps` (Lucid's redirected ReLU
            gradient: the same values, another gradient); None for none.
        warmup_steps: see `warmup`.
        switched: ``(images, ids, warm) -> values``: `score` and its warm-up
            as one function of a scalar bool tensor `warm` (true for the
            updates whose index is at most `warmup_steps`), used in place of
            `score` and `warmup` in every update, so that one compiled step
            serves both phases; None: `score` and `warmup`, two losses.
        region: for ``scale_canvas="fixed"``: maps the image's valid region
            on the canvas, ``(height, width)`` on the host, to the rows and
            columns of what `score` reads that the region produces; the
            scores (and `switched`) then take it as a keyword, ``region=``
            (an int32 ``[2]`` tensor), and read only that part.
    """

    score: Score
    penalty: Callable[[Tensor], Tensor] | None = None
    warmup: Score | None = None
    warmup_steps: int = 0
    switched: Callable[..., Tensor] | None = None
    region: Callable[[tuple[int, int]], tuple[int, int]] | None = None


@dataclass(frozen=True)
class Schedule:
    """How long one render runs, in what batches, and which images it keeps.

    Attributes:
        steps: optimizer updates (Lucid runs 513 for its threshold 512; see
            `lucid_step_count`).
        seed: seeds every random draw (each slot's stream and the transform draws).
        batch_size: slots per optimization; None: all in one.
        thresholds: update counts at which to keep the images (``history``).
        lucid_step_count: run ``steps + 1`` updates and read `thresholds` as
            Lucid's 0-based loop indices (0..steps).
        group: consecutive slots that stay in one batch and succeed or fail
            together (Lucid's diversity term couples them); 1 for none.

    Raises:
        ValueError: steps, batch size or thresholds out of range.
    """

    steps: int
    seed: int = 0
    batch_size: int | None = None
    thresholds: tuple[int, ...] = ()
    lucid_step_count: bool = False
    group: int = 1

    def __post_init__(self) -> None:
        if not isinstance(self.steps, (int, np.integer)) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, received steps={self.steps!r}.")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(
                f"batch_size must be None or a positive integer, received batch_size={self.batch_size!r}."
            )
        object.__setattr__(self, "thresholds", tuple(self.thresholds or ()))
        low = 0 if self.lucid_step_count else 1
        for threshold in self.thresholds:
            if not low <= threshold <= self.steps:
                raise ValueError(
                    f"thresholds must lie in {low}..{self.steps} (update counts; steps={self.steps}); "
                    f"received {threshold!r}."
                )

    @property
    def updates(self) -> int:
        """Optimizer updates run: `steps`, or ``steps + 1`` with `lucid_step_count`."""
        return self.steps + 1 if self.lucid_step_count else self.steps

    @property
    def record(self) -> dict[int, int]:
        """0-based update index -> the history key (the threshold) of the images kept after it."""
        shift = 0 if self.lucid_step_count else 1
        return {int(t) - shift: int(t) for t in self.thresholds}


@dataclass
class LoopResult:
    """The result of `RenderLoop.run`, one row per slot.

    Attributes:
        images: float32 ``[slots, H, W, 3]`` in [0, 1]; failed slots mid-grey.
        values: float32 ``[slots]``, `Objective.score` on each final image; NaN where failed.
        history: threshold -> images after that update; failed slots mid-grey.
        failed: the positions of the slots that failed twice.
        params: each slot's final parameters (the last attempt's, failed
            slots too), slots first; only with ``keep_params=True``.
    """

    images: np.ndarray
    values: np.ndarray
    history: dict[int, np.ndarray]
    failed: list[int]
    params: np.ndarray | None = None


@dataclass
class _Attempt:
    """One batch's optimization: per-slot images, values, history, parameters and success."""

    images: np.ndarray
    values: np.ndarray
    history: dict[int, np.ndarray]
    params: np.ndarray
    ok: np.ndarray


@dataclass
class _Collected:
    """The results of a render, filled batch by batch; arrays are allocated on the first batch."""

    count: int
    keep_params: bool
    images: np.ndarray | None = None
    values: np.ndarray | None = None
    params: np.ndarray | None = None
    history: dict[int, np.ndarray] = field(default_factory=dict)

    def write(self, slots: Sequence[int], attempt: _Attempt) -> list[int]:
        """Store the batch's successful slots (and every slot's parameters); return the failed ones."""
        if self.images is None:
            self.images = np.full((self.count, *attempt.images.shape[1:]), FAILED_PIXEL, "float32")
            self.values = np.full((self.count,), np.nan, "float32")
            self.history = {key: self.images.copy() for key in attempt.history}
            if self.keep_params:
                self.params = np.zeros((self.count, *attempt.params.shape[1:]), attempt.params.dtype)
        failed = []
        for position, slot in enumerate(slots):
            if self.params is not None:
                self.params[slot] = attempt.params[position]
            if not attempt.ok[position]:
                failed.append(slot)
                continue
            self.images[slot] = attempt.images[position]
            self.values[slot] = attempt.values[position]
            for key, frames in attempt.history.items():
                self.history[key][slot] = frames[position]
        return failed


def check_channels(channels: Sequence[int], count: int, layer: str) -> list[int]:
    """Channel indices as ints, checked against a layer of `count` channels.

    Raises:
        ValueError: no channels, a non-integer, or channels out of range (all named, with 0..count-1).
    """
    channels = list(channels)
    if not channels:
        raise ValueError("No channels to render; pass at least one channel index.")
    for channel in channels:
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)):
            raise ValueError(f"Channel indices must be integers, received {channel!r}.")
    bad = [int(c) for c in channels if not 0 <= c < count]
    if bad:
        raise ValueError(
            f"Channels {bad} out of range for layer {layer!r}, which has channels 0..{count - 1}."
        )
    return [int(c) for c in channels]


def repeat_indices(channels: Sequence[int]) -> list[int]:
    """For each slot, how many earlier slots render the same channel."""
    seen: dict[int, int] = {}
    repeats = []
    for channel in channels:
        repeats.append(seen.get(channel, 0))
        seen[channel] = repeats[-1] + 1
    return repeats


def slot_streams(
    channels: Sequence[int], repeats: Sequence[int], seed: int, attempt: int
) -> list[np.random.Generator]:
    """One random stream per slot, from the seed, its channel, the attempt and its repeat index.

    A slot's stream does not depend on its batch mates, so an image does not
    depend on the batch it was rendered in; a channel's k-th repeat (k > 0)
    has a stream of its own.
    """
    return [
        np.random.default_rng([seed, int(c), attempt] + ([int(k)] if k else []))
        for c, k in zip(channels, repeats)
    ]


class RenderLoop:
    """Gradient ascent of an objective over a parameterization, under transforms, with an optimizer.

    The steps are compiled once per loss (the objective's score and its
    warm-up) and parameter shape, and kept across `run` calls.

    Args:
        parameterization: the parameters and their images (`Parameterization`).
        objective: what each slot maximizes (`Objective`).
        transforms: applied to the model's view of the images at each step
            (None: none).
        per_image_transforms: independent draws per image instead of one draw
            per step shared by the batch (Lucid's behaviour).
        optimizer: a Keras optimizer, used as a template (default
            `visualizer.render.optimizer.lucid_adam`).
        compile: True (compiled step), False (eager) or ``"xla"``.
        scale_canvas: ``"lucid"`` (each scale's own size) or ``"fixed"`` (one
            canvas; needs `Objective.region`); per-image draws keep one shape
            either way and ignore it.
        weights: the variables the objective reads (the network's); a JAX
            step takes their values as arguments (`visualizer.render.backend`).
        share: a key naming the loss's computation given its weights (the
            architecture and settings); steps are shared under it
            process-wide. None: this loop's steps are its own.

    Raises:
        ValueError: an unknown `scale_canvas`, or a fixed canvas without
            `Objective.region` or with a transform that has no canvas form.
    """

    def __init__(
        self,
        parameterization: Parameterization,
        objective: Objective,
        transforms: Pipeline | None = None,
        per_image_transforms: bool = False,
        optimizer: keras.optimizers.Optimizer | None = None,
        compile: bool | str = True,
        scale_canvas: str = "lucid",
        weights: Sequence[keras.Variable] = (),
        share: Hashable | None = None,
    ):
        if scale_canvas not in SCALE_CANVASES:
            raise ValueError(f"Unknown scale_canvas {scale_canvas!r}; valid: {', '.join(SCALE_CANVASES)}.")
        self.parameterization = parameterization
        self.objective = objective
        self.transforms = transforms or Pipeline(())
        self.per_image_transforms = per_image_transforms
        self.optimizer = optimizer or lucid_adam()
        self.stepper = backend.make_stepper(self.optimizer, compile)
        self.static_shapes = backend.needs_static_shapes(compile)
        self.canvas = scale_canvas == "fixed" and not per_image_transforms
        if self.canvas:
            if objective.region is None:
                raise ValueError("scale_canvas='fixed' needs an objective with a region (Objective.region).")
            self.transforms.check_canvas()
        self.weights = tuple(weights)
        self.share = share
        self._losses: dict[str, backend.LossFn] = {}
        self._view_sizes: dict[tuple[int, ...], tuple[int, int]] = {}

    def run(
        self,
        channels: Sequence[int],
        schedule: Schedule,
        *,
        progress: bool = True,
        label: str = "render",
        keep_params: bool = False,
    ) -> LoopResult:
        """Render one image per slot; slot i maximizes the objective for ``channels[i]``.

        Args:
            channels: the channel of each slot (checked by the caller); may repeat.
            schedule: steps, seed, batches, thresholds and failure groups.
            progress: show a tqdm progress bar, labelled `label`.
            label: the progress bar's label.
            keep_params: return each slot's final parameters in ``.params``.

        Returns:
            A `LoopResult`. Failed slots are retried once, in batches of the
            same size, with the attempt index `RETRY_ATTEMPT`.
        """
        channels = [int(c) for c in channels]
        batch = schedule.batch_size or len(channels)
        if batch % schedule.group or len(channels) % schedule.group:
            raise ValueError(f"Slots and batches must hold whole groups of {schedule.group}.")
        repeats = repeat_indices(channels)
        collected = _Collected(len(channels), keep_params)

        def attempt(slots: list[int], index: int, bar: Any) -> list[int]:
            chunk = [channels[s] for s in slots], [repeats[s] for s in slots]
            return collected.write(slots, self._optimize(*chunk, schedule, index, bar))

        chunks = [list(range(i, min(i + batch, len(channels)))) for i in range(0, len(channels), batch)]
        with tqdm(total=schedule.updates * len(chunks), disable=not progress, desc=label, unit="step") as bar:
            pending = [slot for chunk in chunks for slot in attempt(chunk, 0, bar)]
            failed: list[int] = []
            for start in range(0, len(pending), batch):  # retries keep the batch size too
                bar.total += schedule.updates
                failed += attempt(pending[start : start + batch], RETRY_ATTEMPT, bar)
        return LoopResult(collected.images, collected.values, collected.history, failed, collected.params)

    def initial(self, channels: Sequence[int], seed: int, attempt: int = 0) -> np.ndarray:
        """The starting parameters of a batch rendering `channels` (repeats counted within the list)."""
        return self.parameterization.initial(slot_streams(channels, repeat_indices(channels), seed, attempt))

    def evaluate(
        self, params: np.ndarray, channels: Sequence[int], batch_size: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Images and `Objective.score` values of the given parameters (slots first), untransformed.

        Returns:
            float32 images ``[slots, H, W, 3]`` and values ``[slots]``.
        """
        batch = batch_size or len(channels)
        images, values = [], []
        for start in range(0, len(channels), batch):
            chunk = np.moveaxis(params[start : start + batch], 0, self.parameterization.slot_axis)
            ids = ops.convert_to_tensor(np.asarray(channels[start : start + batch], dtype="int32"))
            shown, scored = self._evaluate(ops.convert_to_tensor(chunk), ids)
            images.append(ops.convert_to_numpy(shown))
            values.append(ops.convert_to_numpy(scored))
        return np.concatenate(images).astype("float32"), np.concatenate(values).astype("float32")

    # -- the optimization ---------------------------------------------------------------------

    def _evaluate(self, params: Tensor, ids: Tensor) -> tuple[Tensor, Tensor]:
        images = self.parameterization.images(params)
        return images, self.objective.score(self.parameterization.view(images), ids)

    def step_loss(self, warm: bool) -> backend.LossFn:
        """The loss of a step: the warm-up score or the objective's (kept: steps are compiled per loss)."""
        return self._loss("warm" if warm else "plain")

    def switched_loss(self) -> backend.LossFn:
        """The loss of every step where the objective is `Objective.switched` (its warm flag a step input)."""
        return self._loss("switched")

    def _loss(self, phase: str) -> backend.LossFn:
        """The loss of `phase`: ``"plain"``, ``"warm"`` or ``"switched"``.

        Its ``dynamic`` input is ``(inputs, draws, extents, region, warm)``:
        the parameterization's step inputs, the transform draws, on the fixed
        canvas the sizes from `Pipeline.extents` and the objective's region
        (else None), and the warm flag (``"switched"``; else None).
        """
        if phase not in self._losses:
            score = {"plain": self.objective.score, "warm": self.objective.warmup}.get(phase)
            switched = self.objective.switched
            penalty, param, transforms = self.objective.penalty, self.parameterization, self.transforms

            def loss(params: Tensor, ids: Tensor, dynamic: tuple, static: tuple) -> Tensor:
                inputs, draws, extents, region, warm = dynamic
                draws = tuple(d if s is None else s for d, s in zip(draws, static))
                images = param.view(param.images(params, inputs))
                if extents is None:
                    images, where = transforms(images, draws), {}
                else:
                    images, where = transforms.on_canvas(images, draws, extents), {"region": region}
                values = score(images, ids, **where) if warm is None else switched(images, ids, warm, **where)
                return values if penalty is None else values - penalty(params)

            self._losses[phase] = loss
        return self._losses[phase]

    def split_draws(self, draws: tuple) -> tuple[tuple, tuple]:
        """Transform draws as (tensors for the step, Python ints where they decide shapes)."""
        slots = self.transforms.static_slots(self.per_image_transforms)
        if not self.static_shapes or self.canvas:
            slots = (False,) * len(draws)
        dynamic = tuple(
            None if (static or d is None) else ops.convert_to_tensor(d) for d, static in zip(draws, slots)
        )
        static = tuple(int(d.reshape(-1)[0]) if s else None for d, s in zip(draws, slots))
        return dynamic, static

    def view_size(self, params: np.ndarray) -> tuple[int, int]:
        """The (height, width) of what the transforms receive, for parameters of this shape."""
        key = tuple(params.shape)
        if key not in self._view_sizes:
            view = self.parameterization.view(self.parameterization.images(ops.convert_to_tensor(params)))
            self._view_sizes[key] = (int(view.shape[1]), int(view.shape[2]))
        return self._view_sizes[key]

    def step(
        self, index: int, ids: Tensor, draws: tuple, inputs: tuple = (), size: tuple[int, int] = (0, 0)
    ) -> Tensor:
        """Run update `index` (0-based) of the current optimization with these draws; returns the values.

        Args:
            index: the update's index (the warm-up covers indices up to `Objective.warmup_steps`).
            ids: int32 ``[batch]``, each slot's channel.
            draws: the transform draws (`Pipeline.sample`).
            inputs: the parameterization's step inputs (tensors).
            size: what the transforms receive, ``view_size`` (read on the fixed canvas only).
        """
        objective = self.objective
        warms = objective.warmup is not None or objective.switched is not None
        warm = warms and index <= objective.warmup_steps
        dynamic, static = self.split_draws(draws)
        extents = region = flag = None
        if self.canvas:
            sizes = self.transforms.extents(size, draws)
            extents = ops.convert_to_tensor(np.asarray(sizes, dtype="int32"))
            region = ops.convert_to_tensor(np.asarray(objective.region(sizes[-1]), dtype="int32"))
        if objective.switched is not None:
            loss, flag, phase = self.switched_loss(), ops.convert_to_tensor(warm), "switched"
        else:
            loss, phase = self.step_loss(warm), warm
        share = None if self.share is None else (self.share, phase, self.canvas, self.per_image_transforms)
        return self.stepper.step(loss, ids, (inputs, dynamic, extents, region, flag), static, share)

    def _optimize(
        self, channels: list[int], repeats: list[int], schedule: Schedule, attempt: int, bar: Any
    ) -> _Attempt:
        """Optimize one batch from its starting parameters; report per slot whether all stayed finite."""
        batch, param, record = len(channels), self.parameterization, schedule.record
        streams = slot_streams(channels, repeats, schedule.seed, attempt)
        initial = param.initial(streams)
        size = self.view_size(initial) if self.canvas else (0, 0)
        self.stepper.start(initial, self.weights)
        ids = ops.convert_to_tensor(np.asarray(channels, dtype="int32"))
        draw_rng = np.random.default_rng([schedule.seed, DRAW_STREAM, attempt])
        finite = ops.ones((batch,), dtype="bool")
        history: dict[int, np.ndarray] = {}
        for index in range(schedule.updates):
            inputs = tuple(ops.convert_to_tensor(x) for x in param.step_inputs(streams))
            draws = self.transforms.sample(draw_rng, batch, self.per_image_transforms)
            values = self.step(index, ids, draws, inputs, size)
            finite = ops.logical_and(finite, ops.isfinite(values))
            if index in record:
                history[record[index]] = ops.convert_to_numpy(param.images(self.stepper.params))
            bar.update(1)
        params = self.stepper.params
        images, values = (ops.convert_to_numpy(x) for x in self._evaluate(params, ids))
        params = np.moveaxis(ops.convert_to_numpy(params), param.slot_axis, 0)
        ok = ops.convert_to_numpy(finite) & np.isfinite(values)
        ok &= np.isfinite(images.reshape(batch, -1)).all(axis=1) & np.isfinite(params.reshape(batch, -1)).all(
            axis=1
        )
        if schedule.group > 1:
            ok = np.repeat(ok.reshape(-1, schedule.group).all(axis=1), schedule.group)
        return _Attempt(images, values, history, params, ok)
