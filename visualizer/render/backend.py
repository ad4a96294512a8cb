"""The only backend-specific code: gradient steps with a Keras optimizer, differentiated and compiled.

A `Stepper` runs one optimization at a time: `Stepper.start` sets the
parameters, a fresh optimizer state and the network weights the loss reads,
and each `Stepper.step` evaluates ``loss_fn(params, targets, dynamic,
static)`` (per-image values to maximize, written in `keras.ops`),
differentiates minus their sum with respect to the parameters and applies
one update of the Keras optimizer it was given
(`visualizer.render.optimizer`). ``static`` holds the draws that decide
tensor shapes (a hashable tuple): compilers that need static shapes
specialize on it. A step is compiled once per loss function and parameter
shape, and kept for every later optimization of that shape.

- TensorFlow: the parameters are a variable, and ``tf.GradientTape`` and the
  optimizer's ``apply`` run in a ``tf.function``, without XLA by default (on
  CPU plain graphs are fastest); ``compile="xla"`` asks for XLA. Graphs
  handle the changing image sizes without re-tracing, so no draw needs to be
  static, and they read the network's variables when they run.
- JAX: ``jax.value_and_grad`` and the optimizer's ``stateless_apply`` under
  ``jax.jit``, one compilation per static tuple (one, or the 11 scale sizes
  of Lucid's transforms: `visualizer.render.canvas`). The network's weights
  are arguments of the step (read when an optimization starts), not
  constants baked into it, so one compiled step serves every model of an
  architecture: a step given a *share key* (`Stepper.step`) is kept for the
  whole process under that key, and any renderer with the same key (the
  same architecture and settings, `visualizer.render.signature`) reuses it.
  Its compilations are counted by `visualizer.render.compile_stats` under the
  name ``vtl_render_step``.
- PyTorch: autograd and the optimizer's ``apply`` on a variable, eager.

TensorFlow, JAX and PyTorch are imported only inside their own branch, so a
JAX-only machine never imports TensorFlow.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
from keras import ops

from visualizer.render.optimizer import clone

__all__ = [
    "COMPILE_MODES",
    "backend_name",
    "compiles_per_shape",
    "Stepper",
    "kernel_library",
    "make_stepper",
    "native_irfft2",
    "needs_static_shapes",
    "reads_live_weights",
    "shared_step_count",
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
    """Whether a compiled render step follows weights assigned to the model after it was compiled.

    True on every backend: TensorFlow graphs capture variables by reference,
    eager PyTorch reads them, and the JAX step takes the weights of the
    variables its renderer names (`Stepper.start`) as arguments. So
    assigning new weights reuses the compiled step.
    """
    return True


def compiles_per_shape(compile: bool | str = True) -> bool:
    """Whether the step is compiled once per shape and function (``jax.jit``), so both should stay fixed."""
    return backend_name() == "jax" and bool(compile)


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
    transposes); JAX: ``jnp.fft.irfft2``, the same values, half the time.
    PyTorch uses the `keras.ops` composition.

    Returns:
        ``irfft2(real, imag, width) -> [..., H, width]`` or None.
    """
    if backend_name() == "jax":
        import jax
        import jax.numpy as jnp

        def jax_irfft2(real: Tensor, imag: Tensor, width: int) -> Tensor:
            return jnp.fft.irfft2(jax.lax.complex(real, imag), s=(real.shape[-2], width))

        return jax_irfft2
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
        self._variables: tuple[keras.Variable, ...] = ()

    def start(self, params: np.ndarray, weights: Sequence[keras.Variable] = ()) -> None:
        """Begin an optimization from `params` with a fresh optimizer state.

        Args:
            params: the starting parameters.
            weights: the variables the loss reads (the network's). A JAX step
                takes their values, read now, as arguments; elsewhere the
                step reads them as it runs. Variables not named here are
                constants of a JAX step.
        """
        shape = tuple(params.shape)
        if shape not in self._slots:
            variable = keras.Variable(np.zeros(shape, params.dtype), trainable=True, name="params")
            optimizer = clone(self.optimizer)
            optimizer.build([variable])
            initial = [ops.convert_to_numpy(v.value).copy() for v in optimizer.variables]
            self._slots[shape] = _Slot(variable, optimizer, initial)
        self._slot = self._slots[shape]
        self._variables = tuple(weights)
        self._begin(self._slot, params)

    def step(
        self, loss_fn: LossFn, targets: Any, dynamic: tuple, static: tuple, share: Hashable | None = None
    ) -> Tensor:
        """One update that raises ``loss_fn``'s values; returns the values before the update.

        Args:
            loss_fn: ``(params, targets, dynamic, static) -> values [batch]``, to maximize.
            targets: what the loss reads besides the parameters (tensors), e.g. channel ids.
            dynamic: per-step inputs (tensors or None; nested tuples allowed).
            static: per-step Python values that decide shapes (hashable).
            share: a key that names the loss's computation given its weights
                (`visualizer.render.signature`): a JAX step compiled for one
                loss serves every loss with the same key, in the whole
                process. None: the step belongs to this stepper and loss.
        """
        if self._slot is None:
            raise RuntimeError("Call start(params) before step().")
        key = (loss_fn, tuple(self._slot.variable.shape))
        if key not in self._steps:
            self._steps[key] = self._compile(loss_fn, self._slot, share)
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

    def _compile(self, loss_fn: LossFn, slot: _Slot, share: Hashable | None) -> Callable:
        raise NotImplementedError


class _TensorFlowStepper(Stepper):
    def _compile(self, loss_fn: LossFn, slot: _Slot, share: Hashable | None) -> Callable:
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
    def _compile(self, loss_fn: LossFn, slot: _Slot, share: Hashable | None) -> Callable:
        import torch

        variable, optimizer = slot.variable, slot.optimizer

        def step(targets, dynamic, static):
            values = loss_fn(variable.value, targets, dynamic, static)
            (grad,) = torch.autograd.grad(-values.sum(), [variable.value])
            with torch.no_grad():
                optimizer.apply([grad], [variable])
            return values.detach()

        return step


class _JaxStep:
    """One JAX step, jitted; when traced it reads its caller's loss, weight variables and optimizer.

    A caller sets them (`__call__`) for the duration of its call only, so a
    step kept for the whole process holds no network alive between calls.
    """

    def __init__(self, compile: bool | str):
        import jax
        import jax.numpy as jnp

        from visualizer.render.compile_stats import STEP_NAME

        self._current: tuple | None = None

        def step(params, variables, weights, targets, dynamic, static):
            loss_fn, weight_variables, optimizer = self._current

            def loss(params):
                with keras.StatelessScope(state_mapping=list(zip(weight_variables, weights))):
                    values = loss_fn(params, targets, dynamic, static)
                return -jnp.sum(values), values

            (_, values), grad = jax.value_and_grad(loss, has_aux=True)(params)
            (params,), variables = optimizer.stateless_apply(variables, [grad], [params])
            return params, variables, values

        step.__name__ = step.__qualname__ = STEP_NAME  # how compile_stats recognizes it
        self.fn = jax.jit(step, static_argnums=(5,)) if compile else step

    def __call__(self, loss_fn: LossFn, weight_variables: tuple, optimizer: Any, *args: Any) -> tuple:
        self._current = (loss_fn, weight_variables, optimizer)
        try:
            return self.fn(*args)
        finally:
            self._current = None


_SHARED_STEPS: dict[tuple, _JaxStep] = {}


def shared_step_count() -> int:
    """How many JAX steps this process keeps under share keys (one per architecture, layer and settings)."""
    return len(_SHARED_STEPS)


def _optimizer_key(optimizer: keras.optimizers.Optimizer) -> str:
    """The optimizer's settings, without its name (Keras numbers the names of later instances)."""
    config = {key: value for key, value in optimizer.get_config().items() if key != "name"}
    return json.dumps([type(optimizer).__qualname__, config], sort_keys=True, default=str)


class _JaxStepper(Stepper):
    """JAX: the parameters, the optimizer's variables and the network's weights pass through a pure step."""

    def _begin(self, slot: _Slot, params: np.ndarray) -> None:
        self._state = (ops.convert_to_tensor(params), [ops.convert_to_tensor(v) for v in slot.initial])
        self._weights = [variable.value for variable in self._variables]

    def _run(self, step: Callable, targets: Any, dynamic: tuple, static: tuple) -> Tensor:
        params, variables, values = step(*self._state, self._weights, targets, dynamic, static)
        self._state = (params, variables)
        return values

    @property
    def params(self) -> Tensor:
        return self._state[0]

    def _compile(self, loss_fn: LossFn, slot: _Slot, share: Hashable | None) -> Callable:
        if share is None:
            jax_step = _JaxStep(self.compile)
        else:
            shape = tuple(slot.variable.shape)
            key = (share, shape, str(slot.variable.dtype), _optimizer_key(self.optimizer), bool(self.compile))
            jax_step = _SHARED_STEPS.get(key)
            if jax_step is None:
                jax_step = _SHARED_STEPS[key] = _JaxStep(self.compile)
        optimizer = slot.optimizer

        def run(*args: Any) -> tuple:
            return jax_step(loss_fn, self._variables, optimizer, *args)

        return run


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
