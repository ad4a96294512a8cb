"""Make Lucid 0.3.10 (TF1 code) importable on TensorFlow 2.x, in its own process only.

Import this module, then call `install()` before the first ``import lucid``.
It rewires the interpreter for the rest of the process: ``tensorflow``
becomes ``tensorflow.compat.v1`` with v2 behaviour disabled (graph mode,
sessions), so never import it in the pytest process or next to Keras; run
Lucid in a subprocess (see ``lucid_oracle.py``).

What Lucid needs that TF 2.x or this virtualenv no longer provides:

- ``tensorflow`` itself: Lucid calls ``tf.Session``, ``tf.placeholder``,
  ``tf.random_crop``, ``tf.image.resize_bilinear``, ``tf.train.AdamOptimizer``,
  graph gradient overrides... all of which live in ``tf.compat.v1``.
- ``tf.contrib``: gone in TF 2. ``transform.random_rotate`` calls
  ``tf.contrib.image.rotate``, replaced here by `rotate` (nearest neighbour,
  zero fill, counter-clockwise, on ``ImageProjectiveTransformV3``), and
  ``param/cppn.py`` does ``from tensorflow.contrib import slim`` at import
  time, so ``slim`` is a placeholder that raises if anything uses it (only
  CPPN parameterizations would).
- Lucid's undeclared-at-runtime dependencies, installed neither by
  ``pip install --no-deps lucid`` nor by this project: ``decorator`` (used by
  ``objectives.wrap_objective``; a small equivalent is provided unless the
  real package is installed), ``future`` (``render.py`` calls
  ``future.standard_library.install_aliases()``, a no-op on Python 3),
  ``filelock`` (``misc/io/reading.py`` locks its download cache; the oracle
  never downloads, so a no-op lock) and ``IPython.display`` (imported by
  ``misc/io/showing.py``; only used when ``render_vis(verbose=True)``, which
  the oracle never passes, so its functions raise) and ``cachetools``
  (``modelzoo/aligned_activations.py`` imports ``cachetools.func.lru_cache``
  at import time; the standard library's ``functools.lru_cache`` does).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

__all__ = ["install", "rotate"]

_INSTALLED = False


def rotate(images: Any, angles: Any, interpolation: str = "NEAREST", name: str | None = None) -> Any:
    """Rotate NHWC (or HWC) images counter-clockwise by `angles` radians about their centre.

    Stands in for TF 1.x ``tf.contrib.image.rotate``: same output size,
    pixels that come from outside the image are 0, nearest-neighbour
    sampling by default.

    Args:
        images: a float tensor ``[B, H, W, C]`` or ``[H, W, C]``; H and W may be dynamic.
        angles: a scalar (one angle for the whole batch) or a ``[B]`` vector, in radians.
        interpolation: ``"NEAREST"`` or ``"BILINEAR"``.
        name: an optional name scope.

    Returns:
        The rotated images, same shape and dtype as `images`.
    """
    import tensorflow.compat.v1 as tf

    with tf.name_scope(name or "rotate"):
        images = tf.convert_to_tensor(images)
        rank3 = images.shape.ndims == 3
        if rank3:
            images = images[None]
        batch = tf.shape(images)[0]
        height = tf.cast(tf.shape(images)[1], tf.float32)
        width = tf.cast(tf.shape(images)[2], tf.float32)
        angles = tf.cast(tf.convert_to_tensor(angles), tf.float32)
        angles = tf.broadcast_to(tf.reshape(angles, [-1]), [batch])
        cos, sin = tf.cos(angles), tf.sin(angles)
        # The op maps each output pixel (x, y) to the input pixel
        # (a0 x + a1 y + a2, b0 x + b1 y + b2). Sampling the input at the output
        # point rotated by -angle about the centre ((W-1)/2, (H-1)/2) turns the
        # picture counter-clockwise on screen (y grows downwards).
        cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
        a2 = cx - (cos * cx - sin * cy)
        b2 = cy - (sin * cx + cos * cy)
        zeros = tf.zeros_like(angles)
        transforms = tf.stack([cos, -sin, a2, sin, cos, b2, zeros, zeros], axis=1)
        rotated = tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=tf.shape(images)[1:3],
            fill_value=tf.constant(0.0, tf.float32),
            interpolation=interpolation.upper(),
            fill_mode="CONSTANT",
        )
        rotated.set_shape(images.shape)
        return rotated[0] if rank3 else rotated


def _module(name: str, **attributes: Any) -> types.ModuleType:
    """Create a module `name` with `attributes` and register it in ``sys.modules``."""
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    sys.modules[name] = module
    return module


def _unavailable(what: str) -> Callable[..., Any]:
    """Return a function that raises, for stubbed features the oracle must not use."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{what} is stubbed out by tests/helpers/lucid_shim.py.")

    return fail


class _Unavailable(types.ModuleType):
    """A module every attribute of which raises when used (``tf.contrib.slim``)."""

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        return _unavailable(f"{self.__name__}.{attribute}")


def _decorator(caller: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The subset of ``decorator.decorator`` Lucid uses: ``caller(f, *args, **kwargs)`` wraps ``f``."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            return caller(function, *args, **kwargs)

        return wrapped

    return decorate


class _NoLock:
    """Stands in for ``filelock.FileLock``: a context manager that locks nothing."""

    def __init__(self, path: str, *args: Any, **kwargs: Any) -> None:
        self.path = path

    def __enter__(self) -> _NoLock:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None


def _missing(name: str) -> bool:
    return name not in sys.modules and importlib.util.find_spec(name) is None


def install() -> None:
    """Map ``tensorflow`` to ``tensorflow.compat.v1`` (graph mode) and stub what Lucid lacks.

    Idempotent. Must run before ``import lucid`` and before anything else in
    the process imports ``tensorflow`` expecting TF 2 behaviour.
    """
    global _INSTALLED
    if _INSTALLED:
        return
    import tensorflow.compat.v1 as tf1

    tf1.disable_v2_behavior()
    tf1.logging.set_verbosity(tf1.logging.ERROR)

    contrib = _module("tensorflow.contrib")
    contrib.image = _module("tensorflow.contrib.image", rotate=rotate)
    contrib.slim = _Unavailable("tensorflow.contrib.slim")
    sys.modules["tensorflow.contrib.slim"] = contrib.slim
    tf1.contrib = contrib
    sys.modules["tensorflow"] = tf1

    if _missing("decorator"):
        _module("decorator", decorator=_decorator)
    if _missing("future"):
        future = _module("future")
        future.standard_library = _module("future.standard_library", install_aliases=lambda: None)
    if _missing("filelock"):
        _module("filelock", FileLock=_NoLock)
    if _missing("cachetools"):
        cachetools = _module("cachetools")
        cachetools.func = _module("cachetools.func", lru_cache=functools.lru_cache)
    if _missing("IPython"):
        ipython = _module("IPython")
        ipython.display = _module(
            "IPython.display",
            display=_unavailable("IPython.display.display"),
            HTML=_unavailable("IPython.display.HTML"),
            Image=_unavailable("IPython.display.Image"),
            Javascript=_unavailable("IPython.display.Javascript"),
        )
    _INSTALLED = True
