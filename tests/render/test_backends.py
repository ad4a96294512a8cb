"""The renderer on the other Keras backends, each in its own process (the backend is fixed at import)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
import json, keras, numpy as np
from keras import ops
from visualizer.render import render_channels
from visualizer.render.fused import conv_strided_same
keras.utils.set_random_seed(0)
inputs = keras.Input((None, None, 3))
x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="strided")(inputs)
x = keras.layers.Conv2D(4, 3, activation="relu", bias_initializer="ones", name="conv1")(x)
x = keras.layers.ReLU(name="relu2")(keras.layers.Conv2D(3, 3, name="conv2")(x))
model = keras.Model(inputs, x)
kwargs = dict(size=24, steps=4, progress=False, thresholds=[4])
first = render_channels(model, "relu2", [0, 2], seed=1, **kwargs)
again = render_channels(model, "relu2", [0, 2], seed=1, per_image_transforms=True, **kwargs)

def input_gradient(conv, images, weights):
    # The gradient of sum(conv(images) * weights) with respect to images, by this backend's autodiff.
    if keras.config.backend() == "jax":
        import jax
        return np.asarray(jax.grad(lambda x: ops.sum(conv(x) * weights))(images))
    import torch
    images = torch.tensor(images, requires_grad=True)
    ops.sum(conv(images) * torch.tensor(weights)).backward()
    return images.grad.numpy()


rng = np.random.default_rng(0)
images = rng.normal(size=(2, 11, 14, 3)).astype("float32")
kernel = rng.normal(size=(7, 7, 3, 5)).astype("float32")
weights = rng.normal(size=(2, 6, 7, 5)).astype("float32")
plain = input_gradient(lambda x: ops.conv(x, kernel, strides=2, padding="same"), images, weights)
phased = input_gradient(lambda x: conv_strided_same(x, kernel, (2, 2)), images, weights)
print(json.dumps({
    "phased_gradient_gap": float(np.abs(phased - plain).max() / np.abs(plain).max()),
    "backend": keras.config.backend(),
    "shape": list(first.images.shape),
    "finite": bool(np.isfinite(first.objectives).all() and np.isfinite(again.objectives).all()),
    "range": [float(first.images.min()), float(first.images.max())],
    "failed": first.failed,
}))
"""


def run_backend(name: str) -> dict:
    """Run the smoke script under KERAS_BACKEND=name and return its JSON report."""
    env = {**os.environ, "KERAS_BACKEND": name, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_smoke_render_on_backend(name):
    """A small render runs and returns finite images in [0, 1] under JAX and PyTorch; gradients agree."""
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"the {name} backend is not installed (pip install {name}) in this environment")
    report = run_backend(name)
    assert report["backend"] == name
    assert report["shape"] == [2, 24, 24, 3] and report["finite"] and report["failed"] == []
    assert 0.0 <= report["range"][0] <= report["range"][1] <= 1.0
    # The strided convolution's phased input gradient (visualizer.render.fused) on this backend's autodiff.
    assert report["phased_gradient_gap"] < 1e-5
