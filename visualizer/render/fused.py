"""A rendering copy of a network: the same function, cheaper to differentiate.

Rendering differentiates the network with respect to its input only, over and
over, with fixed weights. `fuse_for_rendering` copies a functional Keras model
with exact rewrites that exploit this (their costs are measured in
BENCHMARKS.md):

- a batch norm that only reads a convolution's output is folded into that
  convolution's kernel and bias (inference statistics, as the renderer always
  calls the network with ``training=False``), which removes its elementwise
  passes forwards and backwards;
- the input gradient of a stride-1, ``"same"``-padded convolution with an
  odd kernel is computed as a forward convolution with the kernel flipped in
  space and transposed in channels, which TensorFlow's CPU kernels run
  faster than their dedicated backward-data convolution;
- the input gradient of a strided ``"same"`` convolution (InceptionV1's
  Conv2d_1a_7x7, stride 2) is computed as one stride-1 forward convolution
  that produces every stride phase of the input at once (``stride**2 x in``
  channels), then interleaved; at batch 1 TensorFlow's backward-data
  convolution is the cheaper one and stays.

A third rewrite needs the channels: `select_target_channels` makes the
target convolution of a render compute only the channel each image renders
(``[batch, h, w, 1]`` instead of all its channels), for objectives that read
one channel per image. Lucid's graph computes the whole layer; for an early
layer such as Conv2d_2c_3x3 that convolution is most of the step.

Max pooling is left alone on TensorFlow: exact replacements (comparisons
per window offset, with or without XLA; separable 1x3 and 3x1 pools, exact
ties included) were no faster in the step than TensorFlow's own gradient
with oneDNN's CPU kernels (BENCHMARKS.md). Under JAX, whose compiler gives
max pooling a slow gradient on CPUs (XLA's ``select_and_scatter``), the
copy computes it by comparisons (`visualizer.render.pooling`).

The folded kernels, their adjoints and biases are cached in variables of the
copy: after assigning new weights to the original model, call
`refresh_fused` (``ChannelRenderer.render`` does before every render), and a
compiled TensorFlow step follows (see
`visualizer.render.backend.reads_live_weights`). Gradients with respect to
the weights are not defined (rendering never asks for them).

The copy is the same function with the same input gradient: in float64 the
two agree to about 1e-15 (tests/render/test_fused.py). In float32 the values
agree to float rounding, but the fold's different rounding can flip the few
ReLUs and max-pool ties that sit exactly at a boundary, as any 1e-6 change of
the input does, so gradients are compared in float64.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import layers as kl
from keras import ops

from visualizer.models.graph import calls_in_model, producer, producer_inputs
from visualizer.render import backend
from visualizer.render.pooling import FastMaxPool2D, fast_pool_applies
from visualizer.render.precision import convolve, current_precision

__all__ = [
    "ChannelSelectedConv2D",
    "FAST_GRADIENT_MIN_BATCH",
    "FusedConv2D",
    "Passthrough",
    "adjoint_gradient_applies",
    "adjoint_kernel",
    "conv_same",
    "conv_strided_same",
    "fuse_for_rendering",
    "phased_gradient_applies",
    "refresh_fused",
    "select_target_channels",
    "strided_input_gradient",
]

FAST_GRADIENT_MIN_BATCH = 2

Tensor = Any


def adjoint_gradient_applies(kernel_shape: tuple, strides: Any, padding: str, dilation: Any) -> bool:
    """Whether a convolution's input gradient is a forward convolution with its adjoint kernel (`conv_same`).

    Args:
        kernel_shape: ``(kh, kw, in, out)``; strides, padding, dilation: as in ``keras.layers.Conv2D``.

    Returns:
        True for stride-1, undilated ``"same"`` convolutions with odd kernels.
    """
    ones = (1, 1)
    odd = all(size % 2 == 1 for size in kernel_shape[:2])
    return padding == "same" and tuple(strides) == ones and tuple(dilation) == ones and odd


def phased_gradient_applies(strides: Any, padding: str, dilation: Any) -> bool:
    """Whether a convolution's input gradient is one convolution over its stride phases (`conv_strided_same`).

    Args:
        strides, padding, dilation: as in ``keras.layers.Conv2D``.

    Returns:
        True for strided, undilated ``"same"`` convolutions.
    """
    ones = (1, 1)
    return padding == "same" and tuple(strides) != ones and tuple(dilation) == ones


def adjoint_kernel(kernel: Tensor) -> Tensor:
    """The kernel whose "same" correlation is the input gradient of a centred one.

    Args:
        kernel: ``[kh, kw, in, out]``, odd ``kh`` and ``kw``.

    Returns:
        ``[kh, kw, out, in]``: rotated by 180 degrees, channel axes swapped.
    """
    return ops.transpose(ops.flip(ops.flip(kernel, 0), 1), (0, 1, 3, 2))


def conv_same(x: Tensor, kernel: Tensor, adjoint: Tensor | None = None) -> Tensor:
    """Stride-1 ``"same"`` 2-D convolution (NHWC, odd kernel) with a forward-convolution input gradient.

    Args:
        x: inputs ``[batch, height, width, in]``.
        kernel: ``[kh, kw, in, out]`` with odd ``kh`` and ``kw``; it gets no gradient.
        adjoint: ``adjoint_kernel(kernel)`` if already computed (it is then
            not recomputed at every gradient evaluation).

    Returns:
        ``[batch, height, width, out]``, the same as ``keras.ops.conv(x, kernel, padding="same")``.
    """
    # Copies, so that no variable is read inside the custom-gradient function
    # (TensorFlow would then ask its gradient for the variable too).
    kernel = ops.copy(kernel)
    adjoint = adjoint_kernel(kernel) if adjoint is None else ops.copy(adjoint)
    precision = current_precision()  # the gradient runs outside the caller's precision block

    @ops.custom_gradient
    def forward(x: Tensor) -> tuple[Tensor, Any]:
        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args
            return convolve(ops.conv, upstream, adjoint, precision, strides=1, padding="same")

        return convolve(ops.conv, x, kernel, precision, strides=1, padding="same"), grad

    return forward(x)


def _phase_taps(kernel: int, stride: int) -> np.ndarray:
    """Along one axis, which kernel tap carries the gradient of a full transposed convolution to each phase.

    The full transposed convolution (no padding, no cropping) of a
    stride-`stride` convolution puts upstream ``g[o]`` times tap ``t`` at
    ``u = stride * o + t``. Writing ``u = stride * i + r``, phase ``r`` of it
    is a stride-1 correlation of ``g`` (padded by ``len(taps) - 1`` on both
    sides) with taps ``t = stride * (len(taps) - 1 - a) + r`` at offset ``a``.

    Args:
        kernel: kernel length; stride: the stride.

    Returns:
        ``taps[a, r]``: the kernel tap at offset ``a`` for phase ``r``, -1 where there is none.
    """
    length = -(-kernel // stride)
    taps = np.full((length, stride), -1, dtype=np.int64)
    for a in range(length):
        for r in range(stride):
            tap = stride * (length - 1 - a) + r
            if tap < kernel:
                taps[a, r] = tap
    return taps


def _same_padding_before(size: Any, kernel: int, stride: int) -> Any:
    """The padding TensorFlow's "same" puts before an axis of `size` (an int or an int tensor)."""
    outputs = (size + stride - 1) // stride
    total = (outputs - 1) * stride + kernel - size
    return (max(total, 0) if isinstance(total, int) else ops.maximum(total, 0)) // 2


def strided_input_gradient(
    upstream: Tensor, kernel: Tensor, inputs: Tensor, strides: tuple, precision: str | None = None
) -> Tensor:
    """The input gradient of a strided "same" convolution, as one stride-1 convolution over the phases.

    It computes the full transposed convolution, every phase at once, then
    crops the input's window from it (the "same" padding decides where, and
    on TensorFlow the input's size is known only when the step runs).

    Args:
        upstream: the gradient of the convolution's output ``[batch, out_h, out_w, out]``.
        kernel: ``[kh, kw, in, out]``.
        inputs: the convolution's input (only its shape is read).
        strides: ``(sh, sw)``.
        precision: the convolution's precision (`visualizer.render.precision`; default: the current one).

    Returns:
        The gradient with respect to `inputs`, their shape.
    """
    kh, kw, channels, _ = tuple(kernel.shape)
    rows, cols = _phase_taps(kh, strides[0]), _phase_taps(kw, strides[1])
    # index[a, b, r, q]: the flat tap (row * kw + col) for offsets (a, b) and phases (r, q); kh * kw: none.
    valid = (rows[:, None, :, None] >= 0) & (cols[None, :, None, :] >= 0)
    index = np.where(valid, rows[:, None, :, None] * kw + cols[None, :, None, :], kh * kw)
    flat = ops.reshape(kernel, (kh * kw, channels, -1))
    flat = ops.concatenate([flat, ops.zeros_like(flat[:1])], axis=0)
    taps = ops.take(flat, ops.convert_to_tensor(index.reshape(-1)), axis=0)
    a, b, r, q = index.shape
    taps = ops.reshape(taps, (a, b, r, q, channels, -1))
    taps = ops.reshape(ops.transpose(taps, (0, 1, 5, 2, 3, 4)), (a, b, -1, r * q * channels))
    padded = ops.pad(upstream, ((0, 0), (a - 1, a - 1), (b - 1, b - 1), (0, 0)))
    # [batch, out_h + a - 1, out_w + b - 1, r * q * in]: every phase of the full transposed convolution.
    phases = convolve(ops.conv, padded, taps, precision, strides=1, padding="valid")
    batch, rows_out, cols_out = (ops.shape(phases)[i] for i in range(3))
    phases = ops.reshape(phases, (batch, rows_out, cols_out, r, q, channels))
    full = ops.reshape(
        ops.transpose(phases, (0, 1, 3, 2, 4, 5)), (batch, rows_out * r, cols_out * q, channels)
    )
    height, width = ops.shape(inputs)[1], ops.shape(inputs)[2]
    top, left = _same_padding_before(height, kh, strides[0]), _same_padding_before(width, kw, strides[1])
    return ops.slice(full, (0, top, left, 0), (batch, height, width, channels))


def conv_strided_same(x: Tensor, kernel: Tensor, strides: tuple[int, int]) -> Tensor:
    """Strided ``"same"`` 2-D convolution (NHWC) whose input gradient is one forward convolution.

    The input gradient of a strided convolution falls into ``sh * sw``
    interleaved phases, each a stride-1 correlation of the upstream gradient
    with a subset of the taps; one convolution with ``sh * sw * in`` output
    channels computes them all, and a reshape interleaves them.

    Args:
        x: inputs ``[batch, height, width, in]``.
        kernel: ``[kh, kw, in, out]``; it gets no gradient.
        strides: ``(sh, sw)``.

    Returns:
        ``[batch, ceil(height / sh), ceil(width / sw), out]``, the same as
        ``keras.ops.conv(x, kernel, strides, padding="same")``.
    """
    kernel = ops.copy(kernel)  # no variable read inside the custom-gradient function (see conv_same)
    strides = tuple(strides)
    precision = current_precision()

    @ops.custom_gradient
    def forward(x: Tensor) -> tuple[Tensor, Any]:
        def grad(*args: Tensor, upstream: Tensor | None = None) -> Tensor:
            if upstream is None:
                (upstream,) = args
            return strided_input_gradient(upstream, kernel, x, strides, precision)

        return convolve(ops.conv, x, kernel, precision, strides=strides, padding="same"), grad

    return forward(x)


class FusedConv2D(kl.Layer):
    """A Keras ``Conv2D`` (and optionally the batch norm after it) as one convolution.

    The folded kernel, its adjoint and the bias are cached in non-trainable
    variables, so that a step does not recompute them; `refresh` recomputes
    them from the wrapped layers' weights (`fuse_for_rendering` does at once,
    the renderer before every render).

    Args:
        conv: a built ``keras.layers.Conv2D`` (channels last, one group).
        norm: a built ``BatchNormalization`` on its output (last axis), or None.
        **kwargs: `keras.layers.Layer` arguments (name).
    """

    caches_adjoint = True  # whether the adjoint of the whole kernel is cached (used by call)

    def __init__(self, conv: kl.Conv2D, norm: kl.BatchNormalization | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.conv = conv
        self.norm = norm
        # Read by RedirectedActivation when the convolution has activation="relu".
        self.activation = conv.activation
        shape = tuple(conv.kernel.shape)
        self.fast_gradient = adjoint_gradient_applies(shape, conv.strides, conv.padding, conv.dilation_rate)
        self.phased_gradient = phased_gradient_applies(conv.strides, conv.padding, conv.dilation_rate)
        dtype = conv.kernel.dtype

        def cache(name: str, cache_shape: tuple) -> Any:
            return self.add_weight(
                shape=cache_shape, initializer="zeros", dtype=dtype, trainable=False, name=name
            )

        self.cached_kernel = cache("fused_kernel", shape)
        self.cached_adjoint = (
            cache("adjoint_kernel", (*shape[:2], shape[3], shape[2]))
            if self.fast_gradient and self.caches_adjoint
            else None
        )
        has_bias = norm is not None or conv.bias is not None
        self.cached_bias = cache("fused_bias", (shape[3],)) if has_bias else None
        self.refresh()

    def folded(self) -> tuple[Tensor, Tensor | None]:
        """The kernel and bias of the convolution with the batch norm folded in, from the live weights."""
        kernel = ops.convert_to_tensor(self.conv.kernel)
        bias = None if self.conv.bias is None else ops.convert_to_tensor(self.conv.bias)
        if self.norm is None:
            return kernel, bias
        norm = self.norm
        scale = ops.rsqrt(ops.convert_to_tensor(norm.moving_variance) + norm.epsilon)
        if norm.gamma is not None:
            scale = scale * ops.convert_to_tensor(norm.gamma)
        shift = -ops.convert_to_tensor(norm.moving_mean) * scale
        if bias is not None:
            shift = shift + bias * scale
        if norm.beta is not None:
            shift = shift + ops.convert_to_tensor(norm.beta)
        return kernel * scale, shift

    def refresh(self) -> None:
        """Recompute the cached kernel, adjoint and bias from the wrapped layers' weights."""
        kernel, bias = self.folded()
        self.cached_kernel.assign(kernel)
        if self.cached_adjoint is not None:
            self.cached_adjoint.assign(adjoint_kernel(kernel))
        if self.cached_bias is not None:
            self.cached_bias.assign(bias)

    def _convolve(self, inputs: Tensor, kernel: Tensor, adjoint: Tensor | None) -> Tensor:
        batch = inputs.shape[0]
        # At batch 1 TensorFlow's own backward convolution is the faster one (BENCHMARKS.md).
        batched = batch is None or batch >= FAST_GRADIENT_MIN_BATCH
        if self.fast_gradient and batched:
            return conv_same(inputs, kernel, adjoint)
        conv = self.conv
        if self.phased_gradient and batched:
            return conv_strided_same(inputs, kernel, conv.strides)
        return convolve(
            ops.conv,
            inputs,
            kernel,
            strides=conv.strides,
            padding=conv.padding,
            dilation_rate=conv.dilation_rate,
        )

    def call(self, inputs: Tensor) -> Tensor:
        outputs = self._convolve(inputs, self.cached_kernel, self.cached_adjoint)
        if self.cached_bias is not None:
            outputs = outputs + self.cached_bias
        return self.activation(outputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.conv.compute_output_shape(input_shape)


class ChannelSelectedConv2D(FusedConv2D):
    """A `FusedConv2D` that computes, for each image, only the one channel it is asked for.

    Called on ``[inputs, ids]`` with ``ids`` an int32 ``[batch]``: image ``b``
    gets output channel ``ids[b]``, shape ``[batch, h, w, 1]``, the same
    values (to float rounding) as ``FusedConv2D(...)(inputs)[b, :, :, ids[b]]``.
    It convolves the batch with the ``batch`` kernels asked for and keeps the
    diagonal, so it costs ``batch / out_channels`` of the full convolution.

    Args:
        conv, norm, **kwargs: as for `FusedConv2D`.
    """

    caches_adjoint = False  # the adjoint of the few kernels asked for is computed in the step

    def call(self, inputs: list[Tensor]) -> Tensor:
        images, ids = inputs
        ids = ops.cast(ids, "int32")
        kernel = ops.take(self.cached_kernel, ids, axis=3)
        outputs = self._convolve(images, kernel, None)  # [batch, h, w, batch]
        outputs = ops.sum(outputs * ops.eye(ops.shape(outputs)[0], dtype=outputs.dtype)[:, None, None, :], -1)
        outputs = outputs[..., None]
        if self.cached_bias is not None:
            outputs = outputs + ops.take(self.cached_bias, ids)[:, None, None, None]
        return self.activation(outputs)

    def compute_output_shape(self, input_shape: list[tuple]) -> tuple:
        return (*self.conv.compute_output_shape(input_shape[0])[:-1], 1)


class Passthrough(kl.Layer):
    """Returns its input: stands in for a batch norm folded into the convolution before it."""

    def call(self, inputs: Tensor, training: bool | None = None, mask: Tensor | None = None) -> Tensor:
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


def _graph_edges(model: keras.Model) -> tuple[dict[int, list[kl.Layer]], dict[int, int]]:
    """The consumers of each layer of `model`, and how often each layer is called, within `model`.

    Layers can be shared with other models (a truncated model shares its
    layers with the full one), so only the calls of this graph count
    (`visualizer.models.graph.calls_in_model`).
    """
    consumers: dict[int, list[kl.Layer]] = {}
    calls: dict[int, int] = {}
    for layer, inputs in calls_in_model(model):
        calls[id(layer)] = calls.get(id(layer), 0) + 1
        for tensor in inputs:
            consumers.setdefault(id(producer(tensor)), []).append(layer)
    return consumers, calls


def _foldable(norm: kl.Layer) -> bool:
    return isinstance(norm, kl.BatchNormalization) and norm.axis in (-1, 3) and not norm.synchronized


def _plain_conv(layer: kl.Layer) -> bool:
    return (
        type(layer) is kl.Conv2D
        and layer.data_format == "channels_last"
        and layer.groups == 1
        and not getattr(layer, "lora_enabled", False)
    )


def fuse_for_rendering(model: keras.Model) -> keras.Model:
    """Copy a functional model with the rendering rewrites of this module.

    Args:
        model: a functional Keras model; layers the rewrites do not cover are
            reused as they are (weights shared, nothing copied).

    Returns:
        A model with the same inputs, outputs and values (to float rounding)
        whose input gradient is cheaper; it must be called with ``training=False``.
    """
    consumers, calls = _graph_edges(model)
    outputs = {id(producer(tensor)) for tensor in model.outputs}
    norm_of: dict[int, kl.Layer] = {}  # conv id -> the batch norm folded into it
    for layer in model.operations:
        users = consumers.get(id(layer), [])
        if (
            _plain_conv(layer)
            and calls.get(id(layer)) == 1
            and id(layer) not in outputs
            and len(users) == 1
            and _foldable(users[0])
            and calls.get(id(users[0])) == 1
            and layer.activation is keras.activations.linear
        ):
            norm_of[id(layer)] = users[0]
    folded_norms = {id(norm) for norm in norm_of.values()}
    fast_pools = backend.backend_name() == "jax"

    def swap(layer: kl.Layer) -> kl.Layer:
        if id(layer) in folded_norms:
            return Passthrough(name=layer.name)
        if _plain_conv(layer):
            return FusedConv2D(layer, norm_of.get(id(layer)), name=layer.name)
        if fast_pools and fast_pool_applies(layer):
            return FastMaxPool2D(layer, name=layer.name)
        return layer

    return keras.models.clone_model(model, clone_function=swap)


_ELEMENTWISE_ACTIVATIONS = frozenset(
    {"linear", "relu", "relu6", "sigmoid", "tanh", "elu", "selu", "gelu", "silu", "swish"}
)


def _elementwise(activation: Any) -> bool:
    name = activation if isinstance(activation, str) else getattr(activation, "__name__", None)
    return name in _ELEMENTWISE_ACTIVATIONS


def _channelwise(layer: kl.Layer) -> bool:
    """Whether `layer` maps each channel on its own and keeps the shape (so it commutes with selection)."""
    if isinstance(layer, Passthrough):
        return True
    if type(layer) is kl.ReLU:
        return True
    return type(layer) is kl.Activation and _elementwise(layer.activation)


def _producer(tensor: Any) -> tuple[kl.Layer, list[Any]]:
    return producer(tensor), producer_inputs(tensor)


def select_target_channels(model: keras.Model) -> keras.Model | None:
    """Rewire a fused model so that its target convolution computes one channel per image.

    The model's single output must be a `FusedConv2D` followed only by
    channelwise layers (ReLU, elementwise ``Activation``, `Passthrough`);
    otherwise (a concatenation, a pooling, a plain ``Conv2D``) there is
    nothing to select and the result is None.

    Args:
        model: a model from `fuse_for_rendering` with one image input and one output.

    Returns:
        A model taking ``[images, ids]`` (ids: int32 ``[batch]``) to the
        target layer's channel ``ids[b]`` for image ``b``, ``[batch, h, w, 1]``,
        sharing every weight with `model`; or None.
    """
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return None
    tail = []
    layer, inputs = _producer(model.outputs[0])
    while _channelwise(layer) and len(inputs) == 1:
        tail.append(layer)
        layer, inputs = _producer(inputs[0])
    if type(layer) is not FusedConv2D or len(inputs) != 1 or not _elementwise(layer.activation):
        return None
    ids = keras.Input(batch_shape=(None,), dtype="int32", name="channel_ids")
    outputs = ChannelSelectedConv2D(layer.conv, layer.norm, name=layer.name)([inputs[0], ids])
    for channelwise in reversed(tail):  # stateless: fresh copies keep the original graph untouched
        outputs = type(channelwise).from_config(channelwise.get_config())(outputs)
    return keras.Model([model.inputs[0], ids], outputs, name=f"{model.name}_selected")


def refresh_fused(model: keras.Model) -> None:
    """Recompute every `FusedConv2D` cache of `model` from the weights it wraps.

    Args:
        model: a model from `fuse_for_rendering` (other layers are ignored).
    """
    for layer in model.layers:
        if isinstance(layer, FusedConv2D):
            layer.refresh()
