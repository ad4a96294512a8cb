"""The arithmetic precision of a render's convolutions: float32, or bfloat16 with float32 parameters.

``precision="bf16"`` (`visualizer.render.render.ComputeSettings`) computes
the fused network's convolutions (`visualizer.render.fused`), forwards and
for the input gradient, in bfloat16: inputs and kernels are rounded to
bfloat16 and the results brought back to float32. Everything else (the
image parameters, the optimizer's state, the transforms, the other layers
and the objective) stays float32. On a GPU with bfloat16 tensor cores this
doubles the convolutions' peak against TF32; on a CPU it only serves to
measure what the rounding does to the images.

The setting is read when the network is called (traced), from a context
that the renderer's score sets around the call (`compute_precision`).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

from keras import ops

__all__ = ["PRECISIONS", "compute_precision", "convolve", "current_precision"]

Tensor = Any

PRECISIONS = ("float32", "bf16")
"""``float32``: every operation in float32 (the default); ``bf16``: convolutions in bfloat16."""

_STATE = threading.local()


def check_precision(precision: str) -> str:
    """Return `precision` when it is one of `PRECISIONS`, else raise ValueError naming the choices."""
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; valid: {', '.join(PRECISIONS)}.")
    return precision


@contextlib.contextmanager
def compute_precision(precision: str) -> Iterator[None]:
    """Within the block, fused convolutions compute in `precision` (one of `PRECISIONS`)."""
    check_precision(precision)
    previous = getattr(_STATE, "precision", "float32")
    _STATE.precision = precision
    try:
        yield
    finally:
        _STATE.precision = previous


def current_precision() -> str:
    """The precision of the innermost `compute_precision` block (float32 outside any)."""
    return getattr(_STATE, "precision", "float32")


def convolve(
    conv: Callable[..., Tensor], x: Tensor, kernel: Tensor, precision: str | None = None, **kwargs: Any
) -> Tensor:
    """``conv(x, kernel, **kwargs)`` in `precision` (default: the current one), the result in `x`'s dtype.

    A custom gradient runs after the forward pass has left the
    `compute_precision` block: it passes the precision its forward pass read.
    """
    if (precision or current_precision()) != "bf16":
        return conv(x, kernel, **kwargs)
    low = conv(ops.cast(x, "bfloat16"), ops.cast(kernel, "bfloat16"), **kwargs)
    return ops.cast(low, x.dtype)
