"""Render channel visualizations: the public entry point of the renderer.

`render_channels` renders many channels of one layer in one optimization:
one image per channel, each batch slot maximizing its own channel, so a
batch behaves like independent Lucid runs that share each step's random
transform draw. The network is truncated at the target layer, so deeper
layers cost nothing, and the step is compiled once per layer and batch size
and reused for every chunk of channels (the channel ids are an input of the
step).

`ChannelRenderer` builds the parts of one layer's render from four small
settings objects (`ImageSettings`, `TransformSettings`, `ObjectiveSettings`,
`ComputeSettings`) and hands them to the one optimization loop,
`visualizer.render.loop.RenderLoop`, which owns the batches, retries,
thresholds and failures.

Under JAX (a compiler that needs static shapes) the renderer keeps the
compiled step's shapes and function fixed: the transforms run on the fixed
canvas (``scale_canvas="auto"`` is ``"fixed"`` there,
`visualizer.render.canvas`), the redirected-ReLU warm-up is a step input
(`visualizer.render.warmup`), and the network's weights are arguments of
the step, shared by every renderer of the same architecture, layer and
settings in the process (`visualizer.render.signature`). So a layer
compiles once, whatever the steps, models or snapshots.

The defaults are those of Lucid 0.3.10's ``render_vis``: 128 px images
parameterized by their Fourier spectrum (sd 0.01, scaled by
``1 / max(f, 1 / size)``), colour-decorrelated and squashed by a sigmoid;
``standard_transforms`` (pad 12, jitter 8, scale 0.9..1.1, rotate -10..10
degrees, jitter 4); Adam with learning rate 0.05, betas 0.9 and 0.999 and
epsilon 1e-8; the redirected ReLU gradient for the first 17 updates; each
image's objective is its channel's spatial mean. One difference is
deliberate: `steps` counts Adam updates (512 by default), where Lucid runs
``max(thresholds) + 1`` = 513; pass ``lucid_step_count=True`` for Lucid's
count and its threshold indexing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import keras
import numpy as np
from keras import ops

# pre_relu_layer, resolve_model_layer and truncate live in `visualizer.models.graph`; re-exported here.
from visualizer.models.graph import pre_relu_layer, resolve_model_layer, single_input, truncate
from visualizer.render import backend, canvas, loop
from visualizer.render import objectives as obj
from visualizer.render.fused import fuse_for_rendering, refresh_fused, select_target_channels
from visualizer.render.optimizer import describe, lucid_adam
from visualizer.render.param import ImageParameterization, fft_image, pixel_image
from visualizer.render.precision import PRECISIONS, compute_precision
from visualizer.render.relu import redirect_relu_gradients
from visualizer.render.signature import network_signature
from visualizer.render.transforms import SCALE_CANVASES, Pipeline, Transform, standard_transforms
from visualizer.render.warmup import switch_relu_gradients, warmup_switch

__all__ = [
    "OBJECTIVES",
    "ChannelRenderer",
    "ComputeSettings",
    "ImageSettings",
    "ObjectiveSettings",
    "Rendering",
    "TransformSettings",
    "pre_relu_layer",
    "render_channels",
    "resolve_model_layer",
    "truncate",
]

Tensor = Any
ObjectiveKind = str | Callable[[str, Tensor], obj.Objective]

OBJECTIVES = ("channel", "neuron", "negative")
PARAMS = ("fft", "pixel")


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


@dataclass(frozen=True)
class ImageSettings:
    """The image parameterization.

    Attributes:
        size: image height and width in pixels (at least 8).
        param: ``"fft"`` (Lucid's default) or ``"pixel"``.
        decorrelate: decorrelate colours (Lucid's default).
    """

    size: int = 128
    param: str = "fft"
    decorrelate: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.size, bool) or not isinstance(self.size, int) or self.size < 8:
            raise ValueError(f"size must be an integer of at least 8 pixels, received size={self.size!r}.")
        if self.param not in PARAMS:
            raise ValueError(f"Unknown param {self.param!r}; valid: {', '.join(PARAMS)}.")

    def parameterization(self) -> ImageParameterization:
        """The parameterization the render loop optimizes."""
        factory = fft_image if self.param == "fft" else pixel_image
        return ImageParameterization(factory(1, self.size, self.size, decorrelate=self.decorrelate))


@dataclass(frozen=True)
class TransformSettings:
    """The random transforms applied at each step.

    Attributes:
        transforms: ``"lucid"`` (`standard_transforms`), a sequence of
            `Transform` (kept as a tuple), or ``()``/None for none.
        per_image_transforms: independent draws per image instead of one draw
            per step shared by the batch (Lucid's behaviour).
        scale_canvas: ``"lucid"`` (each scale draw resizes the batch to its
            own size, Lucid's), ``"fixed"`` (every scale on one canvas of the
            largest size, the objective read over the image's region:
            `visualizer.render.canvas`; one step shape per layer) or
            ``"auto"`` (``"fixed"`` where the step is compiled per shape,
            JAX; ``"lucid"`` elsewhere, TensorFlow's default).
    """

    transforms: str | tuple[Transform, ...] | None = "lucid"
    per_image_transforms: bool = False
    scale_canvas: str = "auto"

    def __post_init__(self) -> None:
        if self.scale_canvas not in ("auto", *SCALE_CANVASES):
            raise ValueError(
                f"Unknown scale_canvas {self.scale_canvas!r}; valid: auto, {', '.join(SCALE_CANVASES)}."
            )
        if isinstance(self.transforms, str):
            if self.transforms not in ("lucid", "standard"):
                raise ValueError(
                    f"Unknown transforms {self.transforms!r}; valid: 'lucid' (standard_transforms), "
                    "a list of transforms, or [] for none."
                )
        elif self.transforms is not None:
            object.__setattr__(self, "transforms", tuple(self.transforms))

    def pipeline(self) -> Pipeline:
        """The transforms as one `Pipeline`."""
        if isinstance(self.transforms, str):
            return Pipeline(tuple(standard_transforms()))
        return Pipeline(tuple(self.transforms or ()))

    def canvas(self, compile: bool | str) -> str:
        """The scale canvas in use: `scale_canvas`, with ``"auto"`` resolved for the backend and `compile`."""
        if self.scale_canvas != "auto":
            return self.scale_canvas
        return "fixed" if backend.compiles_per_shape(compile) else "lucid"


@dataclass(frozen=True)
class ObjectiveSettings:
    """What each image maximizes, and the gradient the first updates use.

    Attributes:
        objective: ``"channel"`` (spatial mean), ``"neuron"`` (centre
            position), ``"negative"`` (minus the spatial mean: what the
            channel responds to least, as in Lucid's negative-neurons
            notebook), or a callable ``(layer, ids) -> Objective`` giving one
            value per batch slot.
        diversity: weight of Lucid's diversity term, subtracted from the
            objective (0 disables; Lucid's notebook uses 100).
        diversity_group: compute the diversity term within consecutive
            groups of this many slots, each group rendering one channel that
            many times (batches and retries keep groups whole); None: across
            the whole batch, as Lucid does.
        relu_redirect_steps: use the redirected ReLU gradient while the update
            index (0-based, Lucid's global step) is at most this; None
            disables it.
    """

    objective: ObjectiveKind = "channel"
    diversity: float = 0.0
    diversity_group: int | None = None
    relu_redirect_steps: int | None = 16

    def __post_init__(self) -> None:
        if isinstance(self.objective, str) and self.objective not in OBJECTIVES:
            raise ValueError(
                f"Unknown objective {self.objective!r}; valid: {', '.join(OBJECTIVES)} or a callable."
            )
        obj.check_group(self.diversity_group, "diversity_group")
        if self.diversity_group is not None and not self.diversity:
            group = self.diversity_group
            raise ValueError(
                f"diversity_group={group} groups the diversity term, which is off (diversity=0)."
            )
        object.__setattr__(self, "diversity", float(self.diversity))

    @property
    def one_channel(self) -> bool:
        """Whether each image's objective reads only its own channel (built-in objective, no diversity)."""
        return isinstance(self.objective, str) and not self.diversity


@dataclass(frozen=True)
class ComputeSettings:
    """How the step is computed: the optimizer, the compiler and the network copy differentiated.

    Attributes:
        optimizer: a Keras optimizer used as a template (each render shape
            gets a fresh copy); None: Keras's Adam with Lucid's settings
            (`visualizer.render.optimizer.lucid_adam`).
        compile: True (compiled step), False (eager) or ``"xla"``.
        truncate_model: compute only up to the layer (default); False runs
            the whole network each step, as a naive renderer would (for
            benchmarks).
        fuse: differentiate a rendering copy of the network
            (`visualizer.render.fused`: batch norms folded into convolutions,
            convolutions' input gradients as forward convolutions); the same
            function and gradient up to float rounding. False uses the
            model's own layers, as Lucid does.
        select_channels: with `fuse` and a one-channel objective, let the
            target convolution compute only the channel each image renders.
        precision: ``"float32"`` or ``"bf16"``: the fused network's
            convolutions in bfloat16, parameters, optimizer and everything
            else in float32 (`visualizer.render.precision`); needs `fuse`.
    """

    optimizer: keras.optimizers.Optimizer | None = None
    compile: bool | str = True
    truncate_model: bool = True
    fuse: bool = True
    select_channels: bool = True
    precision: str = "float32"

    def __post_init__(self) -> None:
        if self.compile not in backend.COMPILE_MODES:
            raise ValueError(f"Unknown compile setting {self.compile!r}; valid: True, False, 'xla'.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision {self.precision!r}; valid: {', '.join(PRECISIONS)}.")
        if self.precision != "float32" and not self.fuse:
            raise ValueError(
                f"precision={self.precision!r} computes the fused network's convolutions; it needs fuse=True."
            )


_SETTINGS = {
    "image": ImageSettings,
    "transforms": TransformSettings,
    "objective": ObjectiveSettings,
    "compute": ComputeSettings,
}


def _as_nhwc(acts: Tensor) -> Tensor:
    # Lucid's _T_force_NHWC: a dense layer's [B, C] becomes [B, 1, 1, C].
    if len(acts.shape) == 2:
        return acts[:, None, None, :]
    return acts


class ChannelRenderer:
    """Renders channels of one layer of one model; keeps its compiled steps across calls.

    Args:
        model: a Keras functional model taking images in [0, 1].
        layer: a catalogue alias or a Keras layer name.
        image: the image parameterization (default: Lucid's, 128 px).
        transforms: the random transforms (default: Lucid's standard ones).
        objective: what each image maximizes (default: its channel's mean).
        compute: optimizer, compiler and network copy (default: Lucid's Adam,
            compiled, truncated, fused).

    `from_keywords` builds the four settings from `render_channels`' keywords.
    """

    def __init__(
        self,
        model: keras.Model,
        layer: str,
        image: ImageSettings | None = None,
        transforms: TransformSettings | None = None,
        objective: ObjectiveSettings | None = None,
        compute: ComputeSettings | None = None,
    ):
        self.image = image or ImageSettings()
        self.transforms = transforms or TransformSettings()
        self.objective = objective or ObjectiveSettings()
        self.compute = compute or ComputeSettings()
        self.layer = resolve_model_layer(model, layer)
        self.channel_count = int(model.get_layer(self.layer).output.shape[-1])
        self.net, self.selects_channels = self._network(model)
        steps = self.objective.relu_redirect_steps
        per_shape = backend.compiles_per_shape(self.compute.compile)
        # Where steps are compiled per function (JAX), one switched network serves both phases.
        self.switched_net = switch_relu_gradients(self.net) if steps is not None and per_shape else None
        self.redirect_net = None
        if steps is not None and self.switched_net is None:
            self.redirect_net = redirect_relu_gradients(self.net)
        self.pipeline = self.transforms.pipeline()
        self.scale_canvas = self.transforms.canvas(self.compute.compile)
        self.optimizer = self.compute.optimizer or lucid_adam()
        self._regions: dict[tuple[int, int], tuple[int, int]] = {}
        warmup = None if self.redirect_net is None else self._score(self.redirect_net)
        switched = None if self.switched_net is None else self._switched_score(self.switched_net)
        objective = loop.Objective(
            self._score(self.net),
            warmup=warmup,
            warmup_steps=steps or 0,
            switched=switched,
            region=self.region,
        )
        self.loop = loop.RenderLoop(
            self.image.parameterization(),
            objective,
            self.pipeline,
            self.transforms.per_image_transforms,
            self.optimizer,
            self.compute.compile,
            scale_canvas=self.scale_canvas,
            weights=self._weights(),
            share=self._share_key(),
        )

    @classmethod
    def from_keywords(cls, model: keras.Model, layer: str, **keywords: Any) -> ChannelRenderer:
        """A renderer from flat settings: the fields of the four settings classes, by name.

        The names are `render_channels`' keywords (``size``, ``param``,
        ``decorrelate``, ``transforms``, ``per_image_transforms``,
        ``scale_canvas``, ``objective``, ``diversity``, ``diversity_group``,
        ``relu_redirect_steps``, ``optimizer``, ``compile``, ``fuse``,
        ``precision``) plus ``truncate_model`` and ``select_channels``.

        Raises:
            TypeError: a keyword no settings class has.
        """
        groups = {}
        for name, settings_class in _SETTINGS.items():
            names = {f.name for f in fields(settings_class)} & keywords.keys()
            groups[name] = settings_class(**{key: keywords.pop(key) for key in names})
        if keywords:
            raise TypeError(f"Unknown renderer settings {sorted(keywords)}.")
        return cls(model, layer, **groups)

    def _network(self, model: keras.Model) -> tuple[keras.Model, bool]:
        """The network differentiated, and whether it computes only each image's own channel."""
        net = truncate(model, self.layer)
        if not self.compute.truncate_model:
            # The whole network runs; the objective still reads the layer (first output).
            net = keras.Model(single_input(model), [model.get_layer(self.layer).output, *model.outputs])
        if self.compute.fuse:
            net = fuse_for_rendering(net)
        selectable = self.compute.fuse and self.compute.select_channels and self.compute.truncate_model
        selected = select_target_channels(net) if selectable and self.objective.one_channel else None
        return selected or net, selected is not None

    def _weights(self) -> list[keras.Variable]:
        """Every variable the scores read: the network's and its switched or redirected copy's, once each."""
        seen, weights = set(), []
        for net in (self.net, self.switched_net, self.redirect_net):
            for variable in [] if net is None else net.variables:
                if id(variable) not in seen:
                    seen.add(id(variable))
                    weights.append(variable)
        return weights

    def _share_key(self) -> tuple | None:
        """What names this renderer's step given its weights (`visualizer.render.signature`), or None.

        None where the objective is a callable or the network cannot be
        described: such a renderer's steps are its own.
        """
        if not isinstance(self.objective.objective, str):
            return None
        architecture = network_signature(self.net)
        if architecture is None:
            return None
        objective, image, compute = self.objective, self.image, self.compute
        return (
            architecture,
            self.layer,
            self.selects_channels,
            (image.size, image.param, image.decorrelate),
            repr(self.pipeline),
            (objective.objective, objective.diversity, objective.diversity_group),
            objective.relu_redirect_steps,
            (compute.truncate_model, compute.fuse, compute.select_channels, compute.precision),
        )

    # -- the objective ------------------------------------------------------------------------

    def batch_objective(self, ids: Sequence[int] | Tensor) -> obj.Objective:
        """The batch objective: slot b renders channel ``ids[b]`` (minus the diversity term)."""
        kind, diversity = self.objective.objective, self.objective.diversity
        if callable(kind):
            objective = kind(self.layer, ids)
        elif kind == "neuron":
            objective = obj.neurons(self.layer, ids)
        elif kind == "negative":
            objective = -obj.channels(self.layer, ids)
        else:
            objective = obj.channels(self.layer, ids)
        if diversity:
            objective = objective - diversity * obj.diversity(self.layer, self.objective.diversity_group)
        return objective

    def slot_name(self, channel: int) -> str:
        """The self-describing name of one channel's objective."""
        kind = self.objective.objective if isinstance(self.objective.objective, str) else "objective"
        name = f"{kind} {self.layer}:{channel}"
        if self.objective.diversity:
            term = obj.diversity(self.layer, self.objective.diversity_group).name
            name += f" - {self.objective.diversity:g} * {term}"
        return name

    def _score(self, net: keras.Model) -> loop.Score:
        """The loop's score: each image's objective, read from `net`'s activations.

        With ``region`` (the fixed canvas), only the activations of the
        image's region count (`visualizer.render.canvas.restrict`).
        """
        centre = self.objective.objective == "neuron"

        def score(images: Tensor, ids: Tensor, region: Tensor | None = None) -> Tensor:
            with compute_precision(self.compute.precision):
                acts = net([images, ids] if self.selects_channels else images, training=False)
            if isinstance(acts, (list, tuple)):
                acts = acts[0]
            acts = _as_nhwc(acts)
            if region is not None:
                acts = canvas.restrict(acts, region, centre)
            if self.selects_channels:
                # The net returns only channel ids[b] for image b: channel 0 of its output.
                return self.batch_objective(ops.zeros_like(ids))(lambda name: acts)
            return self.batch_objective(ids)(lambda name: acts)

        return score

    def _switched_score(self, net: keras.Model) -> Any:
        """The loop's switched score: `_score` of the switched network with its warm-up switch set."""
        score = self._score(net)

        def switched(images: Tensor, ids: Tensor, warm: Tensor, region: Tensor | None = None) -> Tensor:
            with warmup_switch(warm):
                return score(images, ids, region)

        return switched

    def region(self, extent: tuple[int, int]) -> tuple[int, int]:
        """The rows and columns of the layer's activations that an image of `extent` pixels produces."""
        extent = (int(extent[0]), int(extent[1]))
        if extent not in self._regions:
            images = keras.KerasTensor((1, *extent, 3))
            ids = keras.KerasTensor((1,), dtype="int32")
            spec = self.net.compute_output_spec([images, ids] if self.selects_channels else images)
            if isinstance(spec, (list, tuple)):
                spec = spec[0]
            shape = tuple(spec.shape)
            self._regions[extent] = (int(shape[1]), int(shape[2])) if len(shape) == 4 else (1, 1)
        return self._regions[extent]

    # -- rendering ----------------------------------------------------------------------------

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
        channels = loop.check_channels(channels, self.channel_count, self.layer)
        group = self.objective.diversity_group if self.objective.diversity else None
        schedule = loop.Schedule(
            steps, seed, batch_size, tuple(thresholds or ()), lucid_step_count, group or 1
        )
        self._check_groups(channels, batch_size)
        if self.compute.fuse:
            refresh_fused(self.net)
        result = self.loop.run(channels, schedule, progress=progress, label=f"{self.layer} x{len(channels)}")
        return Rendering(
            images=result.images,
            objectives=result.values,
            history=result.history,
            failed=[channels[slot] for slot in result.failed],
            layer=self.layer,
            channels=channels,
            names=[self.slot_name(c) for c in channels],
            settings=self.settings(
                steps=steps,
                seed=seed,
                batch_size=batch_size or len(channels),
                lucid_step_count=lucid_step_count,
            ),
            seconds=time.perf_counter() - started,
        )

    def _check_groups(self, channels: list[int], batch_size: int | None) -> None:
        """With diversity groups: each group of slots renders one channel; batches hold whole groups."""
        group = self.objective.diversity_group
        if not (self.objective.diversity and group):
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

    def settings(self, **extra: Any) -> dict[str, Any]:
        """Every setting of this renderer, plus `extra`, as plain values."""
        objective = self.objective
        return {
            "size": self.image.size,
            "objective": objective.objective if isinstance(objective.objective, str) else "custom",
            "param": self.image.param,
            "decorrelate": self.image.decorrelate,
            "transforms": repr(self.pipeline),
            "per_image_transforms": self.transforms.per_image_transforms,
            "diversity": objective.diversity,
            "diversity_group": objective.diversity_group,
            "relu_redirect_steps": objective.relu_redirect_steps,
            "optimizer": describe(self.optimizer),
            "compile": self.compute.compile,
            "fuse": self.compute.fuse,
            "scale_canvas": "fixed" if self.loop.canvas else "lucid",
            "precision": self.compute.precision,
            "backend": backend.backend_name(),
            "kernels": backend.kernel_library(),
            **extra,
        }


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
    optimizer: keras.optimizers.Optimizer | None = None,
    lucid_step_count: bool = False,
    fuse: bool = True,
    diversity_group: int | None = None,
    scale_canvas: str = "auto",
    precision: str = "float32",
) -> Rendering:
    """Render one feature visualization per channel of one layer, Lucid's way, batched.

    Args:
        model: a Keras functional model taking images in [0, 1] (any H, W).
        layer: a catalogue id or alias (``Mixed_4c_Branch_2_b_3x3``,
            ``4c_2_b_3x3``, ``mixed4b``...) or a raw Keras layer name.
        channels: the channel indices to render, one image each; a channel
            may repeat (each repeat starts from its own random image).
        size: image height and width (Lucid: 128).
        steps: Adam updates (Lucid runs 513; see `lucid_step_count`).
        seed: seeds every random draw (initial images, transform draws): the
            same seed gives the same images on the same backend.
        batch_size: channels per optimization; None renders all in one batch.
        objective: ``"channel"`` (spatial mean of the channel), ``"neuron"``
            (its centre position), ``"negative"`` (minus the spatial mean;
            best on a pre-ReLU layer, where the channel can go below zero)
            or a callable ``(layer, ids) -> Objective``.
        transforms: ``"lucid"`` (`standard_transforms`), a list of `Transform`, or ``[]``.
        param: ``"fft"`` (Lucid's default) or ``"pixel"``.
        decorrelate: decorrelate colours (Lucid's default).
        thresholds: update counts at which to keep the images in ``.history``.
        progress: show a tqdm progress bar.
        compile: True (``tf.function`` without XLA / ``jax.jit``), False (eager) or ``"xla"``.
        per_image_transforms: draw transforms per image instead of once per
            step for the whole batch (Lucid's behaviour).
        diversity: weight of Lucid's diversity term (subtracted); 0 disables.
        relu_redirect_steps: redirected ReLU gradient while the 0-based update
            index is at most this (Lucid: 16, i.e. 17 updates); None disables.
        optimizer: a Keras optimizer (a template); default Keras's ``Adam(0.05,
            beta_1=0.9, beta_2=0.999, epsilon=1e-8)``, Lucid's update (`lucid_adam`).
        lucid_step_count: run ``steps + 1`` updates and read `thresholds` as
            Lucid's 0-based loop indices, for exact parity with ``render_vis``.
        fuse: differentiate the rendering copy of the network from
            `visualizer.render.fused` (faster, the same function to float
            rounding); False differentiates the model's own layers.
        diversity_group: compare images for the diversity term only within
            groups of this many consecutive slots, each repeating one channel
            (``channels=[3, 3, 7, 7], diversity=100, diversity_group=2``: two
            diverse images of channel 3 and of channel 7); `batch_size` must
            be a multiple of it. None: the whole batch is one group (Lucid).
        scale_canvas: ``"auto"`` (``"fixed"`` under JAX, ``"lucid"`` on
            TensorFlow and PyTorch), ``"lucid"`` (each scale its own size) or
            ``"fixed"`` (one canvas; see `TransformSettings`).
        precision: ``"float32"`` or ``"bf16"`` (convolutions in bfloat16; see `ComputeSettings`).

    Returns:
        A `Rendering`. A channel whose values turn NaN or infinite is retried
        once with another seed, then listed in ``.failed`` (mid-grey image,
        NaN objective); the rest of its batch is unaffected.

    Raises:
        UnknownLayerError: the layer is not in the model (with close matches).
        ValueError: a channel out of range (the message gives 0..C-1) or a bad setting.
    """
    renderer = ChannelRenderer(
        model,
        layer,
        ImageSettings(size, param, decorrelate),
        TransformSettings(transforms, per_image_transforms, scale_canvas),
        ObjectiveSettings(objective, diversity, diversity_group, relu_redirect_steps),
        ComputeSettings(optimizer, compile, fuse=fuse, precision=precision),
    )
    return renderer.render(channels, steps, seed, batch_size, thresholds, progress, lucid_step_count)
