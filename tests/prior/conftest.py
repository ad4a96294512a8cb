"""Tiny StyleGAN2 generators and a hand-built colour classifier for the prior tests."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visualizer.prior.stylegan2 import StyleGAN2, StyleGAN2Config

TINY = StyleGAN2Config(
    resolution=16,
    latent_size=8,
    dlatent_size=8,
    mapping_layers=2,
    mapping_fmaps=12,
    fmap_base=64,
    fmap_max=16,
)


def randomized(config: StyleGAN2Config = TINY, seed: int = 0) -> StyleGAN2:
    """A generator whose every weight (biases, noise strengths, dlatent_avg too) is random."""
    rng = np.random.default_rng(seed)
    variables = {
        name: rng.standard_normal(shape).astype("float32")
        * (0.3 if name.endswith(("bias", "strength")) else 1.0)
        for name, shape in config.variable_shapes().items()
    }
    return StyleGAN2(config, variables)


@pytest.fixture(scope="session")
def generator() -> StyleGAN2:
    """A tiny generator with random weights and noise strength 0.2."""
    return StyleGAN2.random(TINY, seed=3, noise_strength=0.2)


def colour_classifier(size: int = 16) -> keras.Model:
    """Layer ``colours``: channel 0 is red minus blue, 1 blue minus red, 2 green minus the mean of both."""
    inputs = keras.Input((size, size, 3), name="images")
    conv = keras.layers.Conv2D(3, 1, use_bias=False, name="colours")
    outputs = conv(inputs)
    kernel = np.array([[1.0, -1.0, -0.5], [0.0, 0.0, 1.0], [-1.0, 1.0, -0.5]], dtype="float32")
    conv.set_weights([kernel[None, None]])
    return keras.Model(inputs, outputs, name="colours")
