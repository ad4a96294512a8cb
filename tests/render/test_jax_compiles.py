"""JAX compiles a layer's render step once: fixed canvas, switched warm-up, weights as arguments, disk cache.

The counting runs under JAX in processes of their own (the backend is fixed
when Keras is imported), through ``tests/helpers/backend_smoke.py compiles``;
the parts it rests on (the switched ReLU, the precision setting, the network
signature, the fast max pool) are checked here, under TensorFlow.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tests.render.conftest import tiny_model

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "tests" / "helpers" / "backend_smoke.py"
MAX_LUCID_COMPILES = 11  # one per scale of Lucid's transforms

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="JAX is not installed")


def compile_report(*options: str) -> dict:
    """``backend_smoke.py compiles`` under KERAS_BACKEND=jax on the CPU: its JSON report."""
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    env.pop("VTL_JAX_CACHE", None)
    done = subprocess.run(
        [sys.executable, str(SMOKE), "compiles", *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def check_counts(report: dict) -> None:
    assert report["backend"] == "jax" and report["finite"]
    assert report["fixed_first"] + report["fixed_first_cache_hits"] == 1, "the fixed canvas compiles once"
    assert report["fixed_second"] == report["fixed_second_cache_hits"] == 0, "a second model shares the step"
    lucid = report["lucid"] + report["lucid_cache_hits"]
    assert 2 <= lucid <= MAX_LUCID_COMPILES, "Lucid's canvas: one step per scale, the warm-up in the same"
    # The jitted steps' own caches agree: one shared step per canvas, as many entries as compilations.
    assert report["jit_cache_sizes"] == sorted([1, lucid])


@needs_jax
def test_one_compilation_per_layer_and_none_for_a_second_model():
    """64 steps (17 warm-up): 1 compilation on the fixed canvas, 0 for a second model, <= 11 on Lucid's."""
    check_counts(compile_report())


@needs_jax
@pytest.mark.slow
def test_inception_layer_compiles_once_and_the_disk_cache_serves_a_second_process(tmp_path):
    """InceptionV1 (width 0.25), Conv2d_2c_3x3, 64 px: as above; a second process reads them from disk."""
    first = compile_report("--network", "inception", "--cache", str(tmp_path))
    check_counts(first)
    assert first["lucid"] + first["lucid_cache_hits"] == MAX_LUCID_COMPILES  # 64 px: 11 distinct sizes
    again = compile_report("--network", "inception", "--cache", str(tmp_path))
    check_counts(again)
    assert again["fixed_first"] == again["lucid"] == 0, "every step comes from the persistent cache"
    assert again["fixed_first_cache_hits"] == 1 and again["lucid_cache_hits"] == MAX_LUCID_COMPILES


# -- the parts, under TensorFlow ------------------------------------------------------------------


def _input_gradient(fn, x: np.ndarray, upstream: np.ndarray) -> np.ndarray:
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(fn(x) * upstream)
    return tape.gradient(total, x).numpy()


def test_switched_relu_gives_the_redirected_gradient_when_warm_and_the_plain_one_when_not():
    from visualizer.render.relu import redirected_relu
    from visualizer.render.warmup import switched_relu, warmup_switch

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 4, 4, 2)).astype("float32")
    x[1] = -np.abs(x[1])  # a dead image: only the redirected gradient moves it
    upstream = rng.normal(size=x.shape).astype("float32")

    def switched(warm: bool):
        def fn(tensor):
            with warmup_switch(tf.constant(warm)):
                return switched_relu(tensor)

        return fn

    np.testing.assert_array_equal(switched(True)(x).numpy(), np.maximum(x, 0))
    warm = _input_gradient(switched(True), x, upstream)
    np.testing.assert_array_equal(warm, _input_gradient(redirected_relu, x, upstream))
    assert np.abs(warm[1]).max() > 0
    plain = _input_gradient(switched(False), x, upstream)
    np.testing.assert_array_equal(plain, _input_gradient(tf.nn.relu, x, upstream))
    assert np.abs(plain[1]).max() == 0


def test_switched_copy_shares_every_weight_and_leaves_frozen_graphs_alone():
    from visualizer.render.warmup import SwitchedActivation, SwitchedReLU, switch_relu_gradients

    model = tiny_model()
    switched = switch_relu_gradients(model)
    assert isinstance(switched.get_layer("relu2"), SwitchedReLU)
    assert isinstance(switched.get_layer("conv1"), SwitchedActivation)
    assert {id(v) for v in switched.variables} == {id(v) for v in model.variables}
    images = np.random.default_rng(0).random((1, 12, 12, 3)).astype("float32")
    np.testing.assert_allclose(switched(images).numpy(), model(images).numpy(), atol=1e-6)

    class FrozenLike(keras.layers.Layer):
        def call(self, inputs):
            return inputs

        def with_redirected_relu(self):
            return self

    inputs = keras.Input((None, None, 3))
    assert switch_relu_gradients(keras.Model(inputs, FrozenLike()(inputs))) is None


def test_bf16_precision_rounds_the_convolutions_only():
    from visualizer.render.fused import conv_same
    from visualizer.render.precision import compute_precision
    from visualizer.render.render import ComputeSettings

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 9, 9, 8)).astype("float32")
    kernel = rng.normal(size=(3, 3, 8, 4)).astype("float32")
    full = conv_same(x, kernel).numpy()
    with compute_precision("bf16"):
        low = conv_same(x, kernel)
    assert low.dtype == tf.float32
    gap = np.abs(low.numpy() - full).max() / np.abs(full).max()
    assert 1e-4 < gap < 2e-2, gap  # bfloat16's 8-bit mantissa, not float32's
    with pytest.raises(ValueError, match="valid: float32, bf16"):
        ComputeSettings(precision="fp8")
    with pytest.raises(ValueError, match="needs fuse=True"):
        ComputeSettings(precision="bf16", fuse=False)


def test_network_signature_names_the_architecture_not_the_weights():
    from tests.helpers.frozen_models import build_model
    from visualizer.models.graph import truncate
    from visualizer.render.signature import network_signature

    layer = "Mixed_3b_Branch_1_b_3x3"
    first, second = (truncate(build_model(0.0625, seed), layer) for seed in (0, 1))
    assert not np.array_equal(first.variables[0].numpy(), second.variables[0].numpy())
    assert network_signature(first) == network_signature(second) is not None
    assert network_signature(truncate(build_model(0.125, 0), layer)) != network_signature(first)
    assert network_signature(truncate(build_model(0.0625, 0), "Conv2d_2c_3x3")) != network_signature(first)

    class Custom(keras.layers.Layer):
        def call(self, inputs):
            return inputs * 2.0

    inputs = keras.Input((None, None, 3))
    assert network_signature(keras.Model(inputs, Custom()(inputs))) is None


@pytest.mark.parametrize(("shape", "pool", "stride"), [((2, 11, 13, 3), 3, 2), ((2, 10, 9, 4), 3, 1)])
def test_fast_max_pool_has_max_pools_values_and_gradient(shape, pool, stride):
    """Exact, ties included: a window of equal values sends its gradient to its first position."""
    from visualizer.render.pooling import max_pool_same

    rng = np.random.default_rng(2)
    x = rng.normal(size=shape).astype("float32")
    x[0, :5, :5, 0] = 0.0  # ties, as a ReLU's zeros make them
    fast = lambda t: max_pool_same(t, (pool, pool), (stride, stride), "same")  # noqa: E731
    plain = lambda t: ops.max_pool(t, pool, stride, "same")  # noqa: E731
    np.testing.assert_array_equal(fast(x).numpy(), plain(x).numpy())
    upstream = rng.normal(size=fast(x).shape).astype("float32")
    np.testing.assert_allclose(
        _input_gradient(fast, x, upstream), _input_gradient(plain, x, upstream), atol=1e-6
    )


def test_scale_canvas_setting():
    """``auto`` is Lucid's canvas on TensorFlow; an unknown canvas is refused with the choices."""
    from visualizer.render.render import ChannelRenderer, TransformSettings

    assert TransformSettings().canvas(True) == "lucid"
    with pytest.raises(ValueError, match="valid: auto, lucid, fixed"):
        TransformSettings(scale_canvas="big")
    renderer = ChannelRenderer.from_keywords(tiny_model(), "relu2", size=20, scale_canvas="fixed")
    result = renderer.render([0, 3], steps=3, progress=False)
    assert result.settings["scale_canvas"] == "fixed" and np.isfinite(result.objectives).all()
