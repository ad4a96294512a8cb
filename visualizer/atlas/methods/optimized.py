"""The methods that optimize an image with Lucid's renderer: lucid, negative, diversity, neuron.

They share one pool of renderers (`RendererPool`), so that batches of one layer
and snapshot reuse the compiled steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from visualizer.render.render import Rendering

from visualizer.atlas.methods.registry import (
    MethodResult,
    classifier_step_flops,
    objective_settings,
    register_method,
    render_settings,
)


class RendererPool:
    """Reuses compiled render steps across snapshots that share an architecture.

    Compiling a step costs seconds; an atlas renders the same layers of many
    snapshots of one network (the final models and every training snapshot).
    Where the backend's compiled step reads live weights (TensorFlow and
    PyTorch read the variables; a JAX step takes their values as arguments),
    the pool keeps one template network per architecture and copies each
    snapshot's base weights into it, so every layer compiles once. JAX steps
    are also shared by renderers of the same architecture and settings across
    the process (`visualizer.render.backend`), heads and pools apart.
    """

    def __init__(self) -> None:
        self._signature: tuple | None = None
        self._template = None
        self._renderers: dict[tuple, object] = {}

    def renderer(self, model, layer: str, **settings):
        """A `ChannelRenderer` for `layer` computing with `model`'s weights (`from_keywords` settings)."""
        import keras

        from visualizer.models.inception_v1 import base_layer_names, copy_base_weights, has_base_network
        from visualizer.render import backend
        from visualizer.render.render import ChannelRenderer

        if not has_base_network(model) or not backend.reads_live_weights(settings.get("compile", True)):
            return ChannelRenderer.from_keywords(model, layer, **settings)
        signature = tuple(
            tuple(weight.shape) for name in base_layer_names() for weight in model.get_layer(name).weights
        )
        if signature != self._signature:
            self._signature, self._renderers = signature, {}
            self._template = keras.models.clone_model(model)
        copy_base_weights(model, self._template)
        key = (layer, tuple(sorted(settings.items())))
        if key not in self._renderers:
            self._renderers[key] = ChannelRenderer.from_keywords(self._template, layer, **settings)
        return self._renderers[key]


_POOL = RendererPool()


def _pooled_render(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    transforms: str,
    param: str,
    decorrelate: bool,
    batch_size: int | None = None,
    **options: Any,
) -> Rendering:
    """Render `channels` with the pool's compiled renderer for these settings (`ChannelRenderer` keywords)."""
    shared = {"size": size, "transforms": transforms, "param": param, "decorrelate": decorrelate, **options}
    try:
        renderer = _POOL.renderer(model, layer, **shared)
    except Exception as error:  # noqa: BLE001 - a layer type the fused copy cannot take
        # The model's own layers: the same objective, slower; float32 (bf16 needs the fused copy).
        # Where those fail too, the fault is not the fused copy's: the first error is the one to see.
        try:
            renderer = _POOL.renderer(model, layer, **{**shared, "fuse": False, "precision": "float32"})
        except Exception:  # noqa: BLE001
            raise error from None
    return renderer.render(list(channels), steps=steps, seed=seed, batch_size=batch_size, progress=False)


def _fused(rendering: Rendering) -> dict[str, Any]:
    """``{"fused": False}`` where the model's own layers were differentiated (the fused copy could not
    take a layer type); nothing where the fused copy was, so earlier images keep their settings.
    Images rendered on the fixed canvas (JAX's default) also record ``"scale_canvas": "fixed"``."""
    canvas = {"scale_canvas": "fixed"} if rendering.settings.get("scale_canvas") == "fixed" else {}
    return canvas if rendering.settings.get("fuse", True) else {"fused": False, **canvas}


@register_method(
    "lucid",
    order=10,
    description="Lucid's channel visualization: the image that maximizes the channel's mean.",
)
def lucid(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    transforms: str = "lucid",
    param: str = "fft",
    decorrelate: bool = True,
    objective: str = "channel",
    scale_canvas: str = "auto",
    precision: str = "float32",
) -> MethodResult:
    """Lucid's channel visualization (`visualizer.render`), compiled once per layer and architecture."""
    rendering = _pooled_render(
        model,
        layer,
        channels,
        size=size,
        steps=steps,
        seed=seed,
        transforms=transforms,
        param=param,
        decorrelate=decorrelate,
        objective=objective,
        scale_canvas=scale_canvas,
        precision=precision,
    )
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(rendering.failed),
        _fused(rendering),
    )


@register_method(
    "negative",
    settings=objective_settings("negative"),
    order=40,
    description="Minimizes the channel's mean before its ReLU: what the channel responds to least.",
)
def negative(model, layer: str, channels: Sequence[int], **settings: Any) -> MethodResult:
    """Lucid's method with the objective negated, on the layer's pre-ReLU values.

    After the ReLU a channel cannot go below zero, and any image that keeps
    it there is as good as another; before it (the batch norm's output in
    InceptionV1), the lowest mean is what the channel responds to least.
    Distill's feature-visualization appendix shows these "negative" images
    per unit. The objective recorded is minus the pre-ReLU mean.
    """
    from visualizer.render.render import pre_relu_layer

    target = pre_relu_layer(model, layer)
    result = lucid(model, target, channels, **{**settings, "objective": "negative"})
    result.recorded["pre_relu_layer"] = target
    return result


def _diversity_settings(config) -> dict[str, Any]:
    """Lucid's settings from ``config.render`` and the diversity settings from ``config.render.diversity``."""
    diversity = config.render.diversity
    return {
        **render_settings(config),
        "images": diversity.images,
        "weight": diversity.weight,
        "batch_size": diversity.batch_size,
    }


def _diversity_step_flops(config, layer_id: str) -> float:
    """A step of every image of one channel's sheet."""
    return config.render.diversity.images * classifier_step_flops(config, layer_id)


@register_method(
    "diversity",
    settings=_diversity_settings,
    step_flops=_diversity_step_flops,
    kind="sheet",
    order=70,
    description=(
        "Several images of the channel made to differ from each other (Lucid's diversity term), "
        "since a channel may respond to more than one thing."
    ),
)
def diversity(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    images: int,
    weight: float,
    batch_size: int = 0,
    transforms: str = "lucid",
    param: str = "fft",
    decorrelate: bool = True,
    scale_canvas: str = "auto",
    precision: str = "float32",
) -> MethodResult:
    """Several images of each channel, made to differ, on one contact sheet (Lucid's diversity notebook).

    Each channel's `images` images maximize the channel minus `weight` times
    Lucid's diversity term among them (Lucid's notebook: 4 images, weight
    100); many channels share one optimization, `batch_size` channels at a
    time (0: all). The objective recorded is the mean over the sheet's images
    of the channel's mean minus the weighted diversity term.
    """
    from visualizer.analysis.examples import contact_sheet

    rendering = _pooled_render(
        model,
        layer,
        [channel for channel in channels for _ in range(images)],
        size=size,
        steps=steps,
        seed=seed,
        transforms=transforms,
        param=param,
        decorrelate=decorrelate,
        batch_size=images * batch_size or None,
        diversity=weight,
        diversity_group=images,
        scale_canvas=scale_canvas,
        precision=precision,
    )
    groups = np.asarray(rendering.images).reshape(len(channels), images, size, size, 3)
    sheets = np.stack([contact_sheet(list(group)) for group in groups])
    values = np.asarray(rendering.objectives, dtype="float64").reshape(len(channels), images).mean(axis=1)
    return MethodResult(sheets, values, sorted(set(rendering.failed)), _fused(rendering))


@register_method(
    "neuron",
    settings=objective_settings("neuron"),
    order=20,
    description="Maximizes the unit at the centre of the layer's grid instead of the channel's mean.",
)
def neuron(model, layer: str, channels: Sequence[int], **settings: Any) -> MethodResult:
    """Lucid's neuron objective: the channel at the centre of the layer's grid, not its spatial mean.

    Distill's feature-visualization appendix shows both per unit; a neuron
    image is one unit's preferred stimulus, centred, within its receptive field.
    """
    return lucid(model, layer, channels, **{**settings, "objective": "neuron"})
