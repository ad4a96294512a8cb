"""A small render on whichever Keras backend ``KERAS_BACKEND`` names; prints a JSON report.

Run it in a process of its own (the backend is fixed when Keras is first
imported), from the repository root:

    KERAS_BACKEND=jax python tests/helpers/backend_smoke.py
    KERAS_BACKEND=jax python tests/helpers/backend_smoke.py compiles [--network inception] [--cache DIR]

``tests/render/test_backends.py`` runs it on the CPU under JAX and PyTorch;
``benchmarks/device_check.sh`` runs it on a GPU. The report's last line is
JSON with:

- ``backend``, ``devices``: the Keras backend and the devices it computes on;
- ``shape``, ``finite``, ``range``, ``failed``: a 2-channel render of a small
  network with a strided convolution (shape, finite objectives, pixel range,
  channels that failed);
- ``same_seed_gap``: the largest pixel difference between that render and
  the same render again with the same seed (0 where the backend is
  deterministic);
- ``phased_gradient_gap``: the relative gap between the strided convolution's
  phased input gradient (`visualizer.render.fused.conv_strided_same`) and the
  backend's own autodiff of a plain strided convolution;
- ``scale_canvas``: the canvas the render used (``fixed`` under JAX).

``compiles`` (JAX) renders one layer for `STEPS` steps on the fixed canvas,
then a second model of the same architecture, then the first again on
Lucid's canvas, and reports the step compilations of each
(`visualizer.render.compile_stats`), persistent-cache reads, and the jitted
steps' own cache sizes; ``--network inception`` uses the width-0.25
InceptionV1 with NumPy-seeded weights (`tests.helpers.frozen_models`) on
Conv2d_2c_3x3 at 64 px, the default the small network at 24 px; ``--cache``
turns on the persistent compilation cache in DIR.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

from visualizer.render import render_channels  # noqa: E402
from visualizer.render.fused import conv_strided_same  # noqa: E402

STEPS = 64


def small_network(seed: int = 0) -> keras.Model:
    """Three convolutions, the first strided, with seeded random weights."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="strided")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu", bias_initializer="ones", name="conv1")(x)
    x = keras.layers.ReLU(name="relu2")(keras.layers.Conv2D(3, 3, name="conv2")(x))
    return keras.Model(inputs, x)


def input_gradient(conv, images: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The gradient of ``sum(conv(images) * weights)`` with respect to `images`, by the backend's autodiff."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda x: ops.sum(conv(x) * weights))(images))
    if backend == "torch":
        tensor = ops.convert_to_tensor(images).requires_grad_(True)  # on Keras' device
        ops.sum(conv(tensor) * ops.convert_to_tensor(weights)).backward()
        return tensor.grad.cpu().numpy()
    import tensorflow as tf

    tensor = tf.constant(images)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        total = ops.sum(conv(tensor) * weights)
    return tape.gradient(total, tensor).numpy()


def devices() -> list[str]:
    """The devices the backend computes on, as it names them."""
    backend = keras.config.backend()
    if backend == "jax":
        import jax

        return [f"{d.platform}:{d.device_kind}" for d in jax.devices()]
    if backend == "torch":
        import torch

        return [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else ["cpu"]
    import tensorflow as tf

    return [d.name for d in tf.config.list_logical_devices()]


def report() -> dict:
    """Render, re-render with the same seed, compare the phased gradient; see the module docstring."""
    model = small_network()
    kwargs = dict(size=24, steps=4, progress=False, thresholds=[4])
    first = render_channels(model, "relu2", [0, 2], seed=1, **kwargs)
    same = render_channels(model, "relu2", [0, 2], seed=1, **kwargs)
    per_image = render_channels(model, "relu2", [0, 2], seed=1, per_image_transforms=True, **kwargs)

    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 11, 14, 3)).astype("float32")
    kernel = rng.normal(size=(7, 7, 3, 5)).astype("float32")
    weights = rng.normal(size=(2, 6, 7, 5)).astype("float32")
    plain = input_gradient(lambda x: ops.conv(x, kernel, strides=2, padding="same"), images, weights)
    phased = input_gradient(lambda x: conv_strided_same(x, kernel, (2, 2)), images, weights)
    return {
        "backend": keras.config.backend(),
        "devices": devices(),
        "shape": list(first.images.shape),
        "finite": bool(np.isfinite(first.objectives).all() and np.isfinite(per_image.objectives).all()),
        "range": [float(first.images.min()), float(first.images.max())],
        "failed": first.failed,
        "same_seed_gap": float(np.abs(first.images - same.images).max()),
        "phased_gradient_gap": float(np.abs(phased - plain).max() / np.abs(plain).max()),
        "scale_canvas": first.settings["scale_canvas"],
    }


def compile_report(network: str = "small", cache: str | None = None) -> dict:
    """Step compilations of a render, a second model's and Lucid's canvas (see the module docstring)."""
    from visualizer.render import backend
    from visualizer.render.compile_stats import compile_log
    from visualizer.render.jax_cache import enable_persistent_cache

    enable_persistent_cache(cache)
    log = compile_log()
    if network == "inception":
        from tests.helpers.frozen_models import build_model

        models = [build_model(width=0.25, seed=seed) for seed in (0, 1)]
        layer, size = "Conv2d_2c_3x3", 64
    else:
        models, layer, size = [small_network(seed) for seed in (0, 1)], "relu2", 24
    report = {"backend": keras.config.backend(), "finite": True}
    runs = [
        ("fixed_first", models[0], "fixed"),
        ("fixed_second", models[1], "fixed"),
        ("lucid", models[0], "lucid"),
    ]
    for name, model, canvas in runs:
        before = log.snapshot()
        rendering = render_channels(
            model, layer, [0, 1, 2], size=size, steps=STEPS, progress=False, scale_canvas=canvas
        )
        stats = log.snapshot() - before
        report[name] = stats.steps
        report[f"{name}_cache_hits"] = stats.step_cache_hits
        report["finite"] = report["finite"] and bool(np.isfinite(rendering.objectives).all())
    report["jit_cache_sizes"] = sorted(step.fn._cache_size() for step in backend._SHARED_STEPS.values())
    return report


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", nargs="?", default="smoke", choices=("smoke", "compiles"))
    parser.add_argument("--network", default="small", choices=("small", "inception"))
    parser.add_argument("--cache")
    args = parser.parse_args()
    print(json.dumps(report() if args.mode == "smoke" else compile_report(args.network, args.cache)))
