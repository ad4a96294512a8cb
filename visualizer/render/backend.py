"""The only backend-specific code: one optimization step, differentiated and compiled.

A step takes ``(params, m, v, t, targets, dynamic, static)``, evaluates
``loss_fn(params, targets, dynamic, static)`` (per-image objective values,
written in `keras.ops`), differentiates minus their sum with respect to
`params`, applies the optimizer and returns ``(params, m, v, values)``.
``static`` holds the draws that decide tensor shapes (a hashable tuple):
compilers that need static shapes specialize on it.

- TensorFlow: ``tf.GradientTape`` in a ``tf.function``, without XLA by
  default (on CPU plain graphs are fastest); ``compile="xla"`` asks for XLA.
  Graphs handle the changing image sizes without re-tracing, so no draw
  needs to be static.
- JAX: ``jax.value_and_grad`` under ``jax.jit``, one compilation per static
  tuple (the 11 scale sizes of Lucid's transforms).
- PyTorch: autograd, eager.

TensorFlow, JAX and PyTorch are imported only inside their own branch, so a
JAX-only machine never imports TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import keras

from visualizer.render.optimizer import Adam

__all__ = [
    "COMPILE_MODES",
    "backend_name",
    "kernel_library",
    "make_step",
    "native_irfft2",
    "needs_static_shapes",
    "reads_live_weights",
]

Tensor = Any
LossFn = Callable[[Tensor, Tensor, tuple, tuple], Tensor]
Step = Callable[..., tuple[Tensor, Tensor, Tensor, Tensor]]

COMPILE_MODES = (True, False, "xla")


def backend_name() -> str:
    """The active Keras backend (``tensorflow``, ``jax`` or ``torch``)."""
    return keras.config.backend()


def kernel_library() -> str:
    """Which kernels compute the renders: the backend, its version and, for TensorFlow, whether oneDNN is on.

    Renders from different kernel libraries differ by float rounding (and a
    flipped ReLU can take one channel to a nearby optimum), so renders record
    this next to the backend. TensorFlow leaves oneDNN off on CPUs without
    AVX-512 unless ``TF_ENABLE_ONEDNN_OPTS=1`` (``import visualizer`` sets it).

    Returns:
        For example ``"tensorflow 2.21.0, oneDNN on"`` or ``"jax 0.7.1"``.
    """
    name = backend_name()
    library = f"{name} {getattr(importlib.import_module(name), '__version__', '?')}"
    if name == "tensorflow":
        try:
            from tensorflow.python.util import _pywrap_util_port

            library += f", oneDNN {'on' if _pywrap_util_port.IsMklEnabled() else 'off'}"
        except (ImportError, AttributeError):  # a private API: say nothing rather than guess
            pass
    return library


def reads_live_weights(compile: bool | str = True) -> bool:
    """Whether a compiled step reads the model's variables when it runs.

    True for TensorFlow graphs (variables are captured by reference) and for
    eager PyTorch, so assigning new weights reuses the compiled step; False
    for ``jax.jit``, which bakes the weights in at trace time.
    """
    return backend_name() in ("tensorflow", "torch") or not compile


def needs_static_shapes(compile: bool | str = True) -> bool:
    """Whether shape-deciding draws must be static (compile-time) arguments."""
    name = backend_name()
    if name == "tensorflow":
        return False
    if name == "jax":
        return bool(compile)
    return True


def native_irfft2() -> Callable[[Tensor, Tensor, int], Tensor] | None:
    """The backend's own inverse 2-D real FFT where it beats the `keras.ops` composition, else None.

    TensorFlow: ``tf.signal.irfft2d`` (the op Lucid uses), bit-identical to
    `visualizer.render.param.irfft2` and half its time forwards and backwards
    (no transposes). Other backends use the `keras.ops` composition.

    Returns:
        ``irfft2(real, imag, width) -> [..., H, width]`` or None.
    """
    if backend_name() != "tensorflow":
        return None
    import tensorflow as tf

    def irfft2(real: Tensor, imag: Tensor, width: int) -> Tensor:
        return tf.signal.irfft2d(tf.complex(real, imag), fft_length=[real.shape[-2], width])

    return irfft2


def native_resize_bilinear_legacy() -> Callable[[Tensor, Any, Any], Tensor] | None:
    """The backend's own TF1-style bilinear resize where it exists, else None.

    TensorFlow: the ``ResizeBilinear`` op with ``align_corners=False,
    half_pixel_centers=False`` (TF1's ``resize_bilinear``, the op behind
    Lucid's ``random_scale``): the same sampling as
    `visualizer.render.transforms.resize_bilinear_legacy` (values agree to
    float rounding, about 1e-7), with an exact gradient, 2.4x as fast forwards
    and backwards for 8 images of 236 px. Other backends use the gathers.

    Returns:
        ``resize(images, height, width) -> [B, height, width, C]`` or None.
    """
    if backend_name() != "tensorflow":
        return None
    import tensorflow as tf

    def resize(images: Tensor, height: Any, width: Any) -> Tensor:
        size = tf.cast(tf.stack([height, width]), tf.int32)
        return tf.raw_ops.ResizeBilinear(
            images=images, size=size, align_corners=False, half_pixel_centers=False
        )

    return resize


def make_step(loss_fn: LossFn, optimizer: Adam, compile: bool | str = True) -> Step:
    """Build the optimization step for the active backend.

    Args:
        loss_fn: ``(params, targets, dynamic, static) -> values [batch]``, to maximize.
        optimizer: the update rule.
        compile: True (the backend's graph compiler: ``tf.function`` without
            XLA, ``jax.jit``), ``"xla"`` (TensorFlow with XLA; the same as
            True on JAX), or False (eager).

    Returns:
        ``step(params, m, v, t, targets, dynamic, static) -> (params, m, v, values)``.
    """
    if compile not in COMPILE_MODES:
        raise ValueError(f"Unknown compile setting {compile!r}; valid: True, False, 'xla'.")
    name = backend_name()
    if name == "tensorflow":
        return _tensorflow_step(loss_fn, optimizer, compile)
    if name == "jax":
        return _jax_step(loss_fn, optimizer, compile)
    if name == "torch":
        return _torch_step(loss_fn, optimizer)
    raise ValueError(f"Unsupported Keras backend {name!r}; valid: tensorflow, jax, torch.")


def _tensorflow_step(loss_fn: LossFn, optimizer: Adam, compile: bool | str) -> Step:
    import tensorflow as tf

    def step(params, m, v, t, targets, dynamic, static):
        with tf.GradientTape() as tape:
            tape.watch(params)
            values = loss_fn(params, targets, dynamic, static)
            loss = -tf.reduce_sum(values)
        grad = tape.gradient(loss, params)
        params, m, v = optimizer.update(params, grad, m, v, t)
        return params, m, v, values

    if not compile:
        return step
    return tf.function(step, jit_compile=compile == "xla", reduce_retracing=True, autograph=False)


def _jax_step(loss_fn: LossFn, optimizer: Adam, compile: bool | str) -> Step:
    import jax
    import jax.numpy as jnp

    def loss(params, targets, dynamic, static):
        values = loss_fn(params, targets, dynamic, static)
        return -jnp.sum(values), values

    value_and_grad = jax.value_and_grad(loss, has_aux=True)

    def step(params, m, v, t, targets, dynamic, static):
        (_, values), grad = value_and_grad(params, targets, dynamic, static)
        params, m, v = optimizer.update(params, grad, m, v, t)
        return params, m, v, values

    if not compile:
        return step
    return jax.jit(step, static_argnums=(6,))


def _torch_step(loss_fn: LossFn, optimizer: Adam) -> Step:
    import torch

    def step(params, m, v, t, targets, dynamic, static):
        params = params.detach().requires_grad_(True)
        values = loss_fn(params, targets, dynamic, static)
        (grad,) = torch.autograd.grad(-values.sum(), [params])
        with torch.no_grad():
            params, m, v = optimizer.update(params.detach(), grad, m, v, t)
        return params, m, v, values.detach()

    return step
