"""The one Adam: Keras's own, with TF1's settings, performs the update of TF1's ApplyAdam kernel (Lucid's).

Lucid optimizes with ``tf.train.AdamOptimizer``, whose kernel computes
``m += (g - m)(1 - b1)``, ``v += (g^2 - v)(1 - b2)``,
``x -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``. Keras 3's Adam
does the same arithmetic; only its default epsilon (1e-7) differs, so
`lucid_adam` passes 1e-8. These tests drive `visualizer.render.backend`'s
compiled steps with a fixed gradient sequence and compare them with the TF1
kernel itself (TensorFlow) and with a float64 statement of it (JAX, in a
process of its own). Both float32 computations round differently from the
kernel, by up to about 1e-5 of the parameters' scale after 40 updates, as the
renderer's earlier hand-written Adam did.
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

from visualizer.render.backend import make_stepper
from visualizer.render.optimizer import describe, lucid_adam

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (3, 5)
STEPS = 40


def gradients(scale: float = 1.0) -> np.ndarray:
    """A fixed sequence of gradients ``[STEPS, *SHAPE]`` spanning several orders of magnitude."""
    rng = np.random.default_rng(0)
    magnitudes = 10.0 ** rng.uniform(-3, 1, size=(STEPS, 1, 1))
    return (rng.standard_normal((STEPS, *SHAPE)) * magnitudes * scale).astype("float32")


def linear_loss(params, targets, dynamic, static):
    """Per-slot values ``sum(params * g)``: the step's gradient of minus their sum is ``-g``."""
    (g,) = dynamic
    return keras.ops.sum(params * g, axis=1)


def stepper_params(optimizer, grads: np.ndarray, compile) -> np.ndarray:
    """The parameters after one update per gradient, through the backend's step (from zeros)."""
    stepper = make_stepper(optimizer, compile)
    stepper.start(np.zeros(SHAPE, "float32"))
    for g in grads:
        stepper.step(linear_loss, None, (keras.ops.convert_to_tensor(-g),), ())
    return keras.ops.convert_to_numpy(stepper.params)


def tf1_apply_adam(grads: np.ndarray, epsilon: float = 1e-8, learning_rate: float = 0.05) -> np.ndarray:
    """The same updates through TF1's own ``ResourceApplyAdam`` kernel, beta powers kept as TF1 keeps them."""
    var, m, v = (tf.Variable(tf.zeros(SHAPE)) for _ in range(3))
    beta1_power, beta2_power = tf.Variable(0.9), tf.Variable(0.999)
    for g in grads:
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=m.handle,
            v=v.handle,
            beta1_power=beta1_power,
            beta2_power=beta2_power,
            lr=learning_rate,
            beta1=0.9,
            beta2=0.999,
            epsilon=epsilon,
            grad=tf.constant(g),
        )
        beta1_power.assign(beta1_power * 0.9)
        beta2_power.assign(beta2_power * 0.999)
    return var.numpy()


@pytest.mark.parametrize("compile", [False, True, "xla"])
def test_keras_adam_in_the_compiled_step_is_tf1_s_apply_adam(compile):
    """Keras's Adam with epsilon 1e-8, applied in the renderer's step, is the kernel Lucid runs."""
    grads = gradients()
    expected = tf1_apply_adam(grads)
    got = stepper_params(lucid_adam(), grads, compile)
    assert np.abs(expected).max() > 0.3  # the parameters moved
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


def test_keras_default_epsilon_is_not_lucid_s():
    """With gradients near epsilon, Keras's default 1e-7 moves the parameters visibly less than TF1's 1e-8."""
    grads = gradients(scale=1e-7)
    expected = tf1_apply_adam(grads)
    np.testing.assert_allclose(stepper_params(lucid_adam(), grads, True), expected, atol=1e-5)
    default = stepper_params(keras.optimizers.Adam(0.05), grads, True)
    assert np.abs(default - expected).max() > 0.1 * np.abs(expected).max()


def test_each_start_is_a_fresh_optimizer_and_the_template_stays_unbuilt():
    """A stepper restarts the moments and the step count; the optimizer passed in is only a template."""
    template = lucid_adam()
    stepper = make_stepper(template, True)
    grads = gradients()
    for _ in range(2):
        stepper.start(np.zeros(SHAPE, "float32"))
        for g in grads:
            stepper.step(linear_loss, None, (tf.constant(-g),), ())
        np.testing.assert_allclose(stepper.params.numpy(), tf1_apply_adam(grads), atol=1e-5)
    assert not template.built
    assert describe(template) == "Adam(learning_rate=0.05, beta_1=0.9, beta_2=0.999, epsilon=1e-08)"


JAX_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, {root!r})
from tests.render.test_optimizer import gradients, stepper_params
from visualizer.render.optimizer import lucid_adam
print(json.dumps({{str(c): stepper_params(lucid_adam(), gradients(), c).tolist() for c in (False, True)}}))
"""


def numpy_tf1_adam(grads: np.ndarray, learning_rate: float = 0.05, epsilon: float = 1e-8) -> np.ndarray:
    """TF1's ApplyAdam arithmetic in float64."""
    x = m = v = np.zeros(SHAPE)
    for t, g in enumerate(grads.astype("float64"), 1):
        alpha = learning_rate * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        m = m + (g - m) * (1 - 0.9)
        v = v + (g * g - v) * (1 - 0.999)
        x = x - alpha * m / (np.sqrt(v) + epsilon)
    return x


@pytest.mark.slow
def test_the_same_adam_serves_the_jax_step():
    """Under JAX (``jax.jit`` and eager) Keras's Adam runs by ``stateless_apply``, with the same result."""
    if importlib.util.find_spec("jax") is None:
        pytest.skip("the jax backend is not installed")
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", JAX_SCRIPT.format(root=str(ROOT))],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    expected = numpy_tf1_adam(gradients())
    np.testing.assert_allclose(numpy_tf1_adam(gradients()), tf1_apply_adam(gradients()), atol=1e-5)
    for compiled, params in results.items():
        np.testing.assert_allclose(np.asarray(params), expected, atol=1e-5, err_msg=f"compile={compiled}")
