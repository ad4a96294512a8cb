"""The only backend-specific code: gradient steps with a Keras optimizer, differentiated and compiled.

A `Stepper` runs one optimization at a time: `Stepper.start` sets the
parameters and a fresh optimizer state, and each `Stepper.step` evaluates
``loss_fn(params, targets, dynamic, static)`` (per-image values to
maximize, written in `keras.ops`), differentiates minus their sum with
respect to the parameters and applies one update of the Keras optimizer it
was given (`visualizer.render.optimizer`). ``static`` holds the draws that
decide tensor shapes (a hashable tuple): compilers that need static shapes
specialize on it. A step is compiled once per loss function and parameter
shape, and kept for every later optimization of that shape.

- TensorFlow: the parameters are a variable, and ``tf.GradientTape`` and the
  optimizer's ``apply`` run in a ``tf.function``, without XLA by default (on
  CPU plain graphs are fastest); ``compile="xla"`` asks for XLA. Graphs
  handle the changing image sizes without re-tracing, so no draw needs to be
  static.
- JAX: ``jax.value_and_grad`` and the optimizer's ``stateless_apply`` under
  ``jax.jit``, one compilation per static tuple (the 11 scale sizes of
  Lucid's transforms).
- PyTorch: autograd and the optimizer's ``apply`` on a variable, eager.

TensorFlow, JAX and PyTorch are imported only inside their own branch, so a
JAX-only machine never imports TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from visualizer.render.optimizer import clone

__all__ = [
    "COMPILE_MODES",
    "backend_name",
    "Stepper",
    "kernel_library",
    "make_stepper",
    "native_irfft2",
    "needs_static_shapes",
    "reads_live_weights",
]

Tensor = Any
LossFn = Callable[[Tensor, Any, tuple, tuple], Tensor]

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
    `visualizer.render.param.irfft2` and cheaper forwards and backwards (no
    transposes). Other backends use the `keras.ops` composition.

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
    float rounding, about 1e-7), with an exact gradient and cheaper forwards
    and backwards. Other backends use the gathers.

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


@dataclass
class _Slot:
    """The parameters' variable and an optimizer built on it, for one parameter shape."""

    variable: keras.Variable
    optimizer: keras.optimizers.Optimizer
    initial: list[np.ndarray]  # the optimizer's variables as built: a fresh state

    def reset(self, params: np.ndarray) -> None:
        """Set the parameters to `params` and the optimizer to its fresh state."""
        self.variable.assign(params)
        for variable, value in zip(self.optimizer.variables, self.initial):
            variable.assign(value)


class Stepper:
    """Gradient-ascent steps with one Keras optimizer on the active backend; see the module docstring.

    Args:
        optimizer: the update rule, a template: each parameter shape gets a
            fresh copy of it (`visualizer.render.optimizer.clone`), so the
            template itself is never built.
        compile: True (the backend's graph compiler: ``tf.function`` without
            XLA, ``jax.jit``), ``"xla"`` (TensorFlow with XLA; the same as
            True on JAX), or False (eager).
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer, compile: bool | str = True):
        if compile not in COMPILE_MODES:
            raise ValueError(f"Unknown compile setting {compile!r}; valid: True, False, 'xla'.")
        self.optimizer = optimizer
        self.compile = compile
        self._slots: dict[tuple[int, ...], _Slot] = {}
        self._steps: dict[tuple[LossFn, tuple[int, ...]], Callable] = {}
        self._slot: _Slot | None = None

    def start(self, params: np.ndarray) -> None:
        """Begin an optimization from `params` with a fresh optimizer state."""
        shape = tuple(params.shape)
        if shape not in self._slots:
            variable = keras.Variable(np.zeros(shape, params.dtype), trainable=True, name="params")
            optimizer = clone(self.optimizer)
            optimizer.build([variable])
            initial = [ops.convert_to_numpy(v.value).copy() for v in optimizer.variables]
            self._slots[shape] = _Slot(variable, optimizer, initial)
        self._slot = self._slots[shape]
        self._begin(self._slot, params)

    def step(self, loss_fn: LossFn, targets: Any, dynamic: tuple, static: tuple) -> Tensor:
        """One update that raises ``loss_fn``'s values; returns the values before the update.

        Args:
            loss_fn: ``(params, targets, dynamic, static) -> values [batch]``, to maximize.
            targets: what the loss reads besides the parameters (tensors), e.g. channel ids.
            dynamic: per-step inputs (tensors or None; nested tuples allowed).
            static: per-step Python values that decide shapes (hashable).
        """
        if self._slot is None:
            raise RuntimeError("Call start(params) before step().")
        key = (loss_fn, tuple(self._slot.variable.shape))
        if key not in self._steps:
            self._steps[key] = self._compile(loss_fn, self._slot)
        return self._run(self._steps[key], targets, dynamic, static)

    @property
    def params(self) -> Tensor:
        """The current parameters (a tensor that later steps do not change)."""
        return ops.stop_gradient(ops.copy(self._slot.variable.value))

    # The stateful backends (TensorFlow, PyTorch): the slot's variables are the state.

    def _begin(self, slot: _Slot, params: np.ndarray) -> None:
        slot.reset(params)

    def _run(self, step: Callable, targets: Any, dynamic: tuple, static: tuple) -> Tensor:
        return step(targets, dynamic, static)

    def _compile(self, loss_fn: LossFn, slot: _Slot) -> Callable:
        raise NotImplementedError


class _TensorFlowStepper(Stepper):
    def _compile(self, loss_fn: LossFn, slot: _Slot) -> Callable:
        import tensorflow as tf

        variable, optimizer = slot.variable, slot.optimizer

        def step(targets, dynamic, static):
            with tf.GradientTape(watch_accessed_variables=False) as tape:
                tape.watch(variable.value)
                values = loss_fn(tf.convert_to_tensor(variable.value), targets, dynamic, static)
                loss = -tf.reduce_sum(values)
            optimizer.apply([tape.gradient(loss, variable.value)], [variable])
            return values

        if not self.compile:
            return step
        return tf.function(step, jit_compile=self.compile == "xla", reduce_retracing=True, autograph=False)


class _TorchStepper(Stepper):
    def _compile(self, loss_fn: LossFn, slot: _Slot) -> Callable:
        import torch

        variable, optimizer = slot.variable, slot.optimizer

        def step(targets, dynamic, static):
            values = loss_fn(variable.value, targets, dynamic, static)
            (grad,) = torch.autograd.grad(-values.sum(), [variable.value])
            with torch.no_grad():
                optimizer.apply([grad], [variable])
            return values.detach()

        return step


class _JaxStepper(Stepper):
    """JAX: the parameters and the optimizer's variables are passed through a pure step."""

    def _begin(self, slot: _Slot, params: np.ndarray) -> None:
        self._state = (ops.convert_to_tensor(params), [ops.convert_to_tensor(v) for v in slot.initial])

    def _run(self, step: Callable, targets: Any, dynamic: tuple, static: tuple) -> Tensor:
        params, variables, values = step(*self._state, targets, dynamic, static)
        self._state = (params, variables)
        return values

    @property
    def params(self) -> Tensor:
        return self._state[0]

    def _compile(self, loss_fn: LossFn, slot: _Slot) -> Callable:
        import jax
        import jax.numpy as jnp

        optimizer = slot.optimizer

        def loss(params, targets, dynamic, static):
            values = loss_fn(params, targets, dynamic, static)
            return -jnp.sum(values), values

        value_and_grad = jax.value_and_grad(loss, has_aux=True)

        def step(params, variables, targets, dynamic, static):
            (_, values), grad = value_and_grad(params, targets, dynamic, static)
            (params,), variables = optimizer.stateless_apply(variables, [grad], [params])
            return params, variables, values

        if not self.compile:
            return step
        return jax.jit(step, static_argnums=(4,))


def make_stepper(optimizer: keras.optimizers.Optimizer, compile: bool | str = True) -> Stepper:
    """The `Stepper` of the active backend.

    Args:
        optimizer: the update rule (a Keras optimizer, used as a template).
        compile: True, ``"xla"`` or False; see `Stepper`.

    Returns:
        A `Stepper`.

    Raises:
        ValueError: an unknown compile setting or an unsupported backend.
    """
    steppers = {"tensorflow": _TensorFlowStepper, "jax": _JaxStepper, "torch": _TorchStepper}
    name = backend_name()
    if name not in steppers:
        raise ValueError(f"Unsupported Keras backend {name!r}; valid: tensorflow, jax, torch.")
    return steppers[name](optimizer, compile)
