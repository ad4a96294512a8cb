"""The ``stylegan2`` method: channels rendered through the StyleGAN2 prior (`visualizer.prior.generative`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visualizer.config import Config, Fail, SelectionConfig
from visualizer.pngio import file_sha256

if TYPE_CHECKING:
    pass

from visualizer.atlas.methods.registry import (
    MethodResult,
    classifier_step_flops,
    register_method,
)


def _prior_settings(config) -> dict[str, Any]:
    """The generative prior's settings from ``config.render.prior``; the generator path resolved."""
    prior = config.render.prior
    return {
        "generator": str(config.resolve_path(prior.generator)) if prior.generator else "",
        "size": config.render.size,
        "steps": prior.steps,
        "lam": prior.lam,
        "learning_rate": prior.learning_rate,
        "randomize_noise": prior.randomize_noise,
        "center": prior.center,
    }


def _check_prior(config: Config, selections: list[SelectionConfig], fail: Fail) -> None:
    """The generative prior needs StyleGAN2 weights at ``render.prior.generator``."""
    prior = config.render.prior
    if not prior.generator:
        fail("render.prior.generator", "the stylegan2 method needs StyleGAN2 weights (.pkl or .npz)")
    if not config.resolve_path(prior.generator).is_file():
        fail("render.prior.generator", f"no file at {str(config.resolve_path(prior.generator))!r}")


_GENERATORS: dict[str, tuple[Any, dict[str, str]]] = {}


def _generator(path: str) -> tuple[Any, dict[str, str]]:
    """Load a StyleGAN2 generator once per process; return it and what identifies its file."""
    from visualizer.prior.weights import load_generator

    if not path:
        raise ValueError(
            "The stylegan2 method needs render.prior.generator (StyleGAN2 weights, .pkl or .npz)."
        )
    if path not in _GENERATORS:
        network = load_generator(path)  # first: it names a missing or unreadable file
        identity = {"generator": os.path.basename(path), "generator_sha256": file_sha256(Path(path))}
        _GENERATORS[path] = (network, identity)
    return _GENERATORS[path]


_GENERATOR_FLOPS: dict[tuple[str, float], float] = {}


def _prior_step_flops(config, layer_id: str) -> float:
    """The classifier's step plus the synthesis network's forward pass and gradient with respect to w."""
    from visualizer.prior.weights import read_generator_config

    path = str(config.resolve_path(config.render.prior.generator))
    key = (path, os.path.getmtime(path))
    if key not in _GENERATOR_FLOPS:
        _GENERATOR_FLOPS[key] = 2.0 * read_generator_config(path).synthesis_flops()
    return classifier_step_flops(config, layer_id) + _GENERATOR_FLOPS[key]


@register_method(
    "stylegan2",
    settings=_prior_settings,
    step_flops=_prior_step_flops,
    order=30,
    check=_check_prior,
    description=(
        "The paper's generative prior: gradient ascent in StyleGAN2's latent space, so the image stays "
        "on the generator's manifold (the paper's figure 1 pairs)."
    ),
)
def stylegan2(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    generator: str,
    size: int,
    steps: int,
    seed: int,
    lam: float,
    learning_rate: float,
    randomize_noise: bool = True,
    center: str = "sampled",
) -> MethodResult:
    """The paper's generative prior: gradient ascent in StyleGAN2's W space (`render_with_prior`).

    Images have the generator's resolution; the classifier sees them at `size`.
    The generator is recorded by file name and SHA-256, not by its path.
    """
    from visualizer.prior.generative import render_with_prior

    network, identity = _generator(generator)
    rendering = render_with_prior(
        model,
        layer,
        list(channels),
        network,
        size=size,
        steps=steps,
        lam=lam,
        learning_rate=learning_rate,
        seed=seed,
        randomize_noise=randomize_noise,
        center=center,
        progress=False,
    )
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(rendering.failed),
        recorded=identity,
    )
