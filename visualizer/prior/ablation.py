"""Weight ablation of one channel: negate its k largest filter weights, see what it becomes.

The paper's figure 5 ("a crude preliminary approximation of circuit
editing"): the filter weights of one channel of the top convolutional layer
are ranked by magnitude, the first k are negated, and the ablated channel is
visualized, for k = 0..39.

`ablate` renders every k in one optimization. A channel's output depends on
its own filter only, so the ablated variants are built as extra channels of
a single convolution (one per k, each with the channel's batch-norm
statistics) on top of the unchanged network below it; batch slot i renders
variant i. The images are those of separate ablated networks, at the cost of
one render. `ablated_copy` gives a whole network with one variant, for
measuring what the ablation does to accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from visualizer.models.graph import resolve_model_layer

__all__ = ["Ablation", "ablate", "ablated_copy", "ablation_variants", "negate_top_weights", "weight_order"]

PAPER_KS = tuple(range(40))


@dataclass
class Ablation:
    """The result of `ablate`.

    Attributes:
        layer: the Keras layer name of the ablated channel.
        channel: its index.
        ks: how many weights each image had negated, in image order.
        images: ``[len(ks), H, W, 3]`` in [0, 1].
        objectives: each variant's final objective on its own image.
        order: flat indices of the channel's filter weights (``[kh, kw, in]``
            raveled), largest magnitude first; the first k are negated.
        rendering: the renderer's full result (settings, history, failures).
    """

    layer: str
    channel: int
    ks: list[int]
    images: np.ndarray
    objectives: np.ndarray
    order: np.ndarray
    rendering: Any


def weight_order(filter_weights: np.ndarray) -> np.ndarray:
    """Flat indices of `filter_weights`, largest magnitude first (ties: lower index first)."""
    return np.argsort(-np.abs(np.ravel(filter_weights)), kind="stable")


def negate_top_weights(filter_weights: np.ndarray, k: int) -> np.ndarray:
    """A copy of one channel's filter with its `k` largest-magnitude weights negated.

    Args:
        filter_weights: the channel's kernel slice, e.g. ``[kh, kw, in]``.
        k: how many weights to negate, 0 to the filter's size.
    """
    size = np.size(filter_weights)
    if not 0 <= k <= size:
        raise ValueError(f"k must lie in 0..{size} (the filter's weights); received {k!r}.")
    flat = np.array(filter_weights, dtype="float32").ravel()
    chosen = weight_order(filter_weights)[:k]
    flat[chosen] = -flat[chosen]
    return flat.reshape(np.shape(filter_weights))


@dataclass
class _Parts:
    """The layers that make a channel: its convolution, and the batch norm and activation after it."""

    conv: keras.layers.Conv2D
    batch_norm: keras.layers.BatchNormalization | None
    activation: keras.layers.Layer | None


def _parts(model: keras.Model, name: str) -> _Parts:
    layer = model.get_layer(name)
    if isinstance(layer, keras.layers.Conv2D):
        return _Parts(layer, None, None)
    names = {each.name for each in model.layers}
    conv_name, bn_name = f"{name}_conv", f"{name}_bn"
    if conv_name in names and isinstance(model.get_layer(conv_name), keras.layers.Conv2D):
        batch_norm = model.get_layer(bn_name) if bn_name in names else None
        return _Parts(model.get_layer(conv_name), batch_norm, layer)
    raise ValueError(
        f"Layer {name!r} is neither a Conv2D nor an activation over '<name>_conv' (InceptionV1's layout); "
        "weight ablation needs the channel's convolution."
    )


def _check(parts: _Parts, layer: str, channel: int, ks: Sequence[int]) -> list[int]:
    kernel = parts.conv.kernel
    count, size = int(kernel.shape[-1]), int(np.prod(kernel.shape[:-1]))
    if not 0 <= channel < count:
        raise ValueError(
            f"Channel {channel} out of range for layer {layer!r}, which has channels 0..{count - 1}."
        )
    ks = [int(k) for k in ks]
    bad = [k for k in ks if not 0 <= k <= size]
    if not ks or bad:
        raise ValueError(
            f"ks must be a non-empty list in 0..{size} (the filter's weights); received {bad or ks}."
        )
    return ks


def ablation_variants(
    model: keras.Model, layer: str, channel: int, ks: Sequence[int]
) -> tuple[keras.Model, str]:
    """A network whose last layer holds one copy of `channel` per k, the k-th with k weights negated.

    Args:
        model: a Keras functional model; `layer` must be a Conv2D or, as in
            InceptionV1 here, the activation over ``<layer>_conv`` and ``<layer>_bn``.
        layer: a catalogue alias or Keras layer name.
        channel: the channel to ablate.
        ks: how many weights to negate in each variant.

    Returns:
        ``(variants, name)``: the network from `model`'s input to a layer
        `name` with ``len(ks)`` channels; channel i is the ablated channel with
        ``ks[i]`` weights negated.
    """
    name = resolve_model_layer(model, layer)
    parts = _parts(model, name)
    ks = _check(parts, name, channel, ks)
    kernel = keras.ops.convert_to_numpy(parts.conv.kernel)[..., channel]
    variants = np.stack([negate_top_weights(kernel, k) for k in ks], axis=-1)

    conv_config = parts.conv.get_config() | {"filters": len(ks), "name": f"{name}_ablated_conv"}
    conv = keras.layers.Conv2D.from_config(conv_config)
    x = conv(parts.conv.input)
    weights = [variants]
    if parts.conv.use_bias:
        weights.append(np.full(len(ks), keras.ops.convert_to_numpy(parts.conv.bias)[channel]))
    conv.set_weights(weights)
    if parts.batch_norm is not None:
        batch_norm = keras.layers.BatchNormalization.from_config(
            parts.batch_norm.get_config() | {"name": f"{name}_ablated_bn"}
        )
        x = batch_norm(x)
        batch_norm.set_weights(
            [np.full(len(ks), keras.ops.convert_to_numpy(w)[channel]) for w in parts.batch_norm.weights]
        )
    out_name = f"{name}_ablated"
    if parts.activation is not None:
        x = parts.activation.__class__.from_config(parts.activation.get_config() | {"name": out_name})(x)
    else:
        x = keras.layers.Identity(name=out_name)(x)
    return keras.Model(model.inputs[0], x, name=f"{model.name}_{out_name}"), out_name


def ablated_copy(model: keras.Model, layer: str, channel: int, k: int) -> keras.Model:
    """A copy of the whole `model` with `channel` of `layer` ablated (its k largest weights negated)."""
    name = resolve_model_layer(model, layer)
    _check(_parts(model, name), name, channel, [k])
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    conv = _parts(copy, name).conv
    kernel = keras.ops.convert_to_numpy(conv.kernel).copy()
    kernel[..., channel] = negate_top_weights(kernel[..., channel], k)
    conv.kernel.assign(kernel)
    return copy


def ablate(
    model: keras.Model,
    layer: str,
    channel: int,
    ks: Sequence[int] = PAPER_KS,
    generator: Any = None,
    **settings: Any,
) -> Ablation:
    """Visualize `channel` of `layer` with its k largest filter weights negated, for each k.

    Args:
        model: a Keras functional model taking images in [0, 1].
        layer: the layer, as `ablation_variants` takes it.
        channel: the channel to ablate.
        ks: the k of each image (the paper's figure 5: 0..39).
        generator: a `StyleGAN2` to render through the generative prior (as
            the paper did), or None for Lucid's method (`render_channels`).
        **settings: passed to `render_with_prior` or `render_channels`
            (steps, seed, size, ...). With the prior, ``randomize_noise``
            defaults to False here, so the images differ only by the weights.

    Returns:
        An `Ablation`.
    """
    variants, name = ablation_variants(model, layer, channel, ks)
    indices = list(range(len(ks)))
    if generator is not None:
        from visualizer.prior.generative import render_with_prior

        settings.setdefault("randomize_noise", False)
        rendering = render_with_prior(variants, name, indices, generator, **settings)
    else:
        from visualizer.render.render import render_channels

        rendering = render_channels(variants, name, indices, **settings)
    parts = _parts(model, resolve_model_layer(model, layer))
    order = weight_order(keras.ops.convert_to_numpy(parts.conv.kernel)[..., channel])
    return Ablation(
        layer=resolve_model_layer(model, layer),
        channel=channel,
        ks=[int(k) for k in ks],
        images=np.asarray(rendering.images),
        objectives=np.asarray(rendering.objectives),
        order=order,
        rendering=rendering,
    )
