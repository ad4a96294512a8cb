"""Rendering methods the atlas can run, by name.

A method turns (model, layer, channels) into one image per channel. Lucid's
channel visualization is the first; the generative prior and weight ablation
plug in here under their own names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["MethodResult", "available_methods", "get_method", "register_method"]


@dataclass
class MethodResult:
    """Images (N, H, W, 3) in [0, 1], final objective per channel, and the channels that failed."""

    images: np.ndarray
    objectives: np.ndarray
    failed: list[int]


MethodFunction = Callable[..., MethodResult]
_METHODS: dict[str, MethodFunction] = {}


def register_method(name: str) -> Callable[[MethodFunction], MethodFunction]:
    """Decorator: make a method available to plans under `name`."""

    def decorate(function: MethodFunction) -> MethodFunction:
        _METHODS[name] = function
        return function

    return decorate


def available_methods() -> list[str]:
    """Names of the registered methods."""
    return sorted(_METHODS)


def get_method(name: str) -> MethodFunction:
    """Return the method called `name`, or raise ValueError listing the valid names."""
    if name not in _METHODS:
        raise ValueError(f"Unknown method {name!r}; valid: {', '.join(sorted(_METHODS))}.")
    return _METHODS[name]


class RendererPool:
    """Reuses compiled render steps across snapshots that share an architecture.

    Compiling a step costs seconds; an atlas renders the same layers of many
    snapshots of one network (the final models and every training snapshot).
    Where the backend's compiled step reads live weights (TensorFlow,
    PyTorch), the pool keeps one template network per architecture and copies
    each snapshot's base weights into it, so every layer compiles once.
    Elsewhere (JAX) it builds a renderer per call.
    """

    def __init__(self) -> None:
        self._signature: tuple | None = None
        self._template = None
        self._renderers: dict[tuple, object] = {}

    def renderer(self, model, layer: str, **settings):
        """A `ChannelRenderer` for `layer` computing with `model`'s weights."""
        import keras

        from visualizer.models.inception_v1 import base_layer_names, copy_base_weights, has_base_network
        from visualizer.render import backend
        from visualizer.render.render import ChannelRenderer

        if not has_base_network(model) or not backend.reads_live_weights(settings.get("compile", True)):
            return ChannelRenderer(model, layer, **settings)
        signature = tuple(
            tuple(weight.shape) for name in base_layer_names() for weight in model.get_layer(name).weights
        )
        if signature != self._signature:
            self._signature, self._renderers = signature, {}
            self._template = keras.models.clone_model(model)
        copy_base_weights(model, self._template)
        key = (layer, tuple(sorted(settings.items())))
        if key not in self._renderers:
            self._renderers[key] = ChannelRenderer(self._template, layer, **settings)
        return self._renderers[key]


_POOL = RendererPool()


@register_method("lucid")
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
) -> MethodResult:
    """Lucid's channel visualization (`visualizer.render`), compiled once per layer and architecture."""
    renderer = _POOL.renderer(
        model, layer, size=size, transforms=transforms, param=param, decorrelate=decorrelate
    )
    rendering = renderer.render(list(channels), steps=steps, seed=seed, progress=False)
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(rendering.failed),
    )
