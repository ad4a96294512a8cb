"""Max pooling whose input gradient is elementwise work, for backends whose own is slow (XLA on CPU).

XLA computes a max pool's input gradient with ``select_and_scatter``, which
its CPU backend runs element by element: on InceptionV1's pools it takes
20-30 times TensorFlow's ``MaxPoolGrad`` (BENCHMARKS.md), and a JAX render
step on a CPU is mostly that. `max_pool_same` computes the same gradient
from one comparison per window offset: the upstream gradient goes to the
first position of each window, in row-major order, that holds the window's
maximum (what XLA's ``select_and_scatter`` with ``>=`` and TensorFlow's
``MaxPoolGrad`` do), placed back with the pool's stride by padding and
reshaping. Every operation is elementwise or a slice, so a compiler fuses
them.

`fuse_for_rendering` (`visualizer.render.fused`) swaps `FastMaxPool2D` in
for ``MaxPooling2D`` under JAX (TensorFlow's own gradient is fast already).
"""

from __future__ import annotations

from typing import Any

from keras import layers as kl
from keras import ops

__all__ = ["FastMaxPool2D", "fast_pool_applies", "max_pool_same"]

Tensor = Any


def fast_pool_applies(layer: Any) -> bool:
    """Whether `layer` is a channels-last ``MaxPooling2D`` that `FastMaxPool2D` computes."""
    return (
        type(layer) is kl.MaxPooling2D
        and layer.data_format == "channels_last"
        and layer.padding in ("same", "valid")
    )


def _before(size: int, window: int, stride: int, padding: str) -> tuple[int, int]:
    """The outputs along one axis and the padding before it (TensorFlow's rule)."""
    if padding == "valid":
        return (size - window) // stride + 1, 0
    outputs = -(-size // stride)
    return outputs, max((outputs - 1) * stride + window - size, 0) // 2


def max_pool_same(x: Tensor, pool: tuple[int, int], stride: tuple[int, int], padding: str) -> Tensor:
    """``keras.ops.max_pool`` (NHWC) with the input gradient computed by comparisons (module docstring).

    Args:
        x: ``[B, H, W, C]`` with static H and W.
        pool: the window ``(ph, pw)``.
        stride: ``(sh, sw)``.
        padding: ``"same"`` or ``"valid"``.

    Returns:
        The pooled ``[B, h, w, C]``; its gradient with respect to `x` is the exact one.
    """
    _, height, width, _ = x.shape
    (ph, pw), (sh, sw) = pool, stride
    out_h, top = _before(height, ph, sh, padding)
    out_w, left = _before(width, pw, sw, padding)
    # Pad with -inf (never a maximum) so that every window offset is a plain strided slice.
    span_h, span_w = (out_h - 1) * sh + ph, (out_w - 1) * sw + pw
    bottom, right = max(span_h - height - top, 0), max(span_w - width - left, 0)

    @ops.custom_gradient
    def forward(x: Tensor) -> tuple[Tensor, Any]:
        y = ops.max_pool(x, pool, stride, padding)

        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args
            padded = ops.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]], constant_values=-float("inf"))
            # Padded position p = i * stride + offset falls in phase p % stride at index p // stride: each
            # phase gathers its offsets' gradients at the output's resolution, then the phases interleave.
            rows, cols = out_h + (ph - 1) // sh, out_w + (pw - 1) // sw
            phases: dict[tuple[int, int], Tensor] = {}
            taken = ops.zeros_like(y, dtype="bool")
            for dy in range(ph):
                for dx in range(pw):
                    window = padded[
                        :, dy : dy + (out_h - 1) * sh + 1 : sh, dx : dx + (out_w - 1) * sw + 1 : sw
                    ]
                    first = ops.logical_and(ops.equal(window, y), ops.logical_not(taken))
                    taken = ops.logical_or(taken, first)
                    routed = ops.where(first, upstream, ops.zeros_like(upstream))
                    qy, qx = dy // sh, dx // sw
                    routed = ops.pad(
                        routed, [[0, 0], [qy, rows - out_h - qy], [qx, cols - out_w - qx], [0, 0]]
                    )
                    key = (dy % sh, dx % sw)
                    phases[key] = routed if key not in phases else phases[key] + routed
            zeros = ops.zeros_like(next(iter(phases.values())))
            grid = [[phases.get((ry, rx), zeros) for rx in range(sw)] for ry in range(sh)]
            full = ops.stack([ops.stack(row, axis=3) for row in grid], axis=2)  # [B, rows, sh, cols, sw, C]
            full = ops.reshape(full, (-1, rows * sh, cols * sw, full.shape[-1]))
            return full[:, top : top + height, left : left + width, :]

        return y, grad

    return forward(x)


class FastMaxPool2D(kl.Layer):
    """A ``MaxPooling2D`` (channels last) computed by `max_pool_same`; same values, same gradient.

    Args:
        pool: the wrapped ``MaxPooling2D``.
        **kwargs: `keras.layers.Layer` arguments (name).
    """

    def __init__(self, pool: kl.MaxPooling2D, **kwargs: Any):
        super().__init__(**kwargs)
        self.pool = pool

    def call(self, inputs: Tensor) -> Tensor:
        pool = self.pool
        return max_pool_same(inputs, tuple(pool.pool_size), tuple(pool.strides), pool.padding)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.pool.compute_output_shape(input_shape)
