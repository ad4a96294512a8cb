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
    """Lucid's channel visualization (visualizer.render.render_channels)."""
    from visualizer.render import render_channels

    rendering = render_channels(
        model,
        layer,
        list(channels),
        size=size,
        steps=steps,
        seed=seed,
        transforms=transforms,
        param=param,
        decorrelate=decorrelate,
        progress=False,
    )
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(getattr(rendering, "failed", []) or []),
    )
