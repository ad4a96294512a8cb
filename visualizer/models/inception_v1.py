"""The batch-normalized TF-slim InceptionV1 as a Keras 3 functional model.

The network of the paper (architectures.md, part A): 57 conv layers, 7,280
channels; each conv has no bias and is followed by batch normalization with
beta only (no gamma, epsilon 0.001) and a ReLU; TF ``same`` padding; 3x3
convs in Branch_2 (the release's choice, not the paper's 5x5).

Every conv layer's ReLU output is a Keras layer named by its canonical id
(`layers.Layer.id`), so ``model.get_layer("Mixed_4c_Branch_2_b_3x3")`` is the
post-ReLU activation the paper visualizes. The conv and batch norm are named
``<id>_conv`` and ``<id>_bn``; block outputs are named ``Mixed_4c`` etc.

Models take images in [0, 1] of any size (H and W are left undefined, as
Lucid's ``forget_xy`` does) and map them to slim's [-1, 1] themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import keras
import numpy as np
from keras import layers as kl
from keras import ops

from visualizer.models.checkpoint import load_slim_checkpoint
from visualizer.models.layers import BLOCKS, LAYERS, Block, Layer, resolve

__all__ = [
    "BLOCKS",
    "HEADS",
    "LAYERS",
    "activations",
    "base_layer_names",
    "base_weight_count",
    "build",
    "channel_count",
    "copy_base_weights",
    "has_base_network",
    "keras_layer_name",
    "scaled_channels",
    "load_slim_checkpoint",
]

HEADS = ("logits", "dense", "single_dense")
"""Model tops: slim's logits conv; the paper's dense(1024, relu) + dense(n);
the single dense layer of the paper's temporal runs."""

BN_EPSILON = 0.001
BN_MOMENTUM = 0.9997  # slim's batch_norm_decay
DROPOUT_RATE = 0.2  # slim's dropout_keep_prob=0.8
DENSE_HEAD_UNITS = 1024


@keras.saving.register_keras_serializable(package="visualizer")
class SpatialSqueeze(kl.Layer):
    """Drops the 1x1 spatial axes of the logits, as slim's SpatialSqueeze."""

    def call(self, inputs):
        return ops.squeeze(inputs, axis=(1, 2))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[3])


def scaled_channels(channels: int, width: float) -> int:
    """Channels of a conv with `channels` full-width outputs in a network of `width`."""
    return max(1, int(round(channels * width)))


def build(
    num_classes: int = 1001,
    head: str = "logits",
    width: float = 1.0,
    output_activation: str | None = None,
    input_size: int | None = None,
    name: str = "InceptionV1",
) -> keras.Model:
    """Build the slim InceptionV1 with one of the paper's tops.

    Args:
        num_classes: outputs of the top (1001 for the ImageNet release:
            class 0 is "background").
        head: ``"logits"`` (slim: 7x7 valid average pool, dropout 0.2, 1x1
            conv with bias, squeezed; raw logits), ``"dense"`` (the paper's
            transfer head: global average pool, dense(1024, relu),
            dense(num_classes)) or ``"single_dense"`` (global average pool,
            dense(num_classes), the top of the temporal runs).
        width: multiplies every conv's channel count (rounded, at least 1),
            for small demo models with the same 57 layer ids.
        output_activation: activation of the dense heads' last layer,
            ``"softmax"`` (default) or ``"sigmoid"`` (multi-label, CelebA);
            must be None for the logits head.
        input_size: fix the input to ``input_size x input_size``; by default
            H and W are undefined so that any image size flows in.
        name: the Keras model name.

    Returns:
        A `keras.Model` from images in [0, 1], NHWC float32, to the top.
    """
    if head not in HEADS:
        raise ValueError(f"Unknown head {head!r}; valid heads: {', '.join(HEADS)}.")
    if not width > 0:
        raise ValueError(f"width must be positive, received width={width!r}.")
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, received num_classes={num_classes!r}.")
    if head == "logits" and output_activation is not None:
        raise ValueError("The logits head returns raw logits; output_activation must be None.")
    if output_activation not in (None, "softmax", "sigmoid"):
        raise ValueError(f"Unknown output_activation {output_activation!r}; valid: 'softmax', 'sigmoid'.")

    by_id = {layer.id: layer for layer in LAYERS}

    def conv(x, layer_id: str):
        layer = by_id[layer_id]
        x = kl.Conv2D(
            scaled_channels(layer.channels, width),
            layer.kernel,
            strides=layer.stride,
            padding="same",
            use_bias=False,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.01),
            name=f"{layer_id}_conv",
        )(x)
        x = kl.BatchNormalization(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, center=True, scale=False, name=f"{layer_id}_bn"
        )(x)
        return kl.ReLU(name=layer_id)(x)

    size = (input_size, input_size) if input_size else (None, None)
    inputs = keras.Input(shape=(*size, 3), name="images")
    x = kl.Rescaling(2.0, offset=-1.0, name="to_slim_range")(inputs)
    x = conv(x, "Conv2d_1a_7x7")
    x = kl.MaxPooling2D(3, strides=2, padding="same", name="MaxPool_2a_3x3")(x)
    x = conv(x, "Conv2d_2b_1x1")
    x = conv(x, "Conv2d_2c_3x3")
    x = kl.MaxPooling2D(3, strides=2, padding="same", name="MaxPool_3a_3x3")(x)
    for block in BLOCKS:
        if block.id == "Mixed_4b":
            x = kl.MaxPooling2D(3, strides=2, padding="same", name="MaxPool_4a_3x3")(x)
        if block.id == "Mixed_5b":
            x = kl.MaxPooling2D(2, strides=2, padding="same", name="MaxPool_5a_2x2")(x)
        prefix = f"{block.id}_Branch_"
        branch_0 = conv(x, prefix + "0_a_1x1")
        branch_1 = conv(conv(x, prefix + "1_a_1x1"), prefix + "1_b_3x3")
        branch_2 = conv(conv(x, prefix + "2_a_1x1"), prefix + "2_b_3x3")
        pooled = kl.MaxPooling2D(3, strides=1, padding="same", name=prefix + "3_pool")(x)
        branch_3 = conv(pooled, prefix + "3_b_1x1")
        x = kl.Concatenate(axis=-1, name=block.id)([branch_0, branch_1, branch_2, branch_3])

    if head == "logits":
        x = kl.AveragePooling2D(7, strides=1, padding="valid", name="AvgPool_0a_7x7")(x)
        x = kl.Dropout(DROPOUT_RATE, name="Dropout_0b")(x)
        x = kl.Conv2D(num_classes, 1, use_bias=True, name="Logits")(x)
        outputs = SpatialSqueeze(name="SpatialSqueeze")(x)
    else:
        x = kl.GlobalAveragePooling2D(name="global_pool")(x)
        if head == "dense":
            x = kl.Dense(DENSE_HEAD_UNITS, activation="relu", name="dense_hidden")(x)
        outputs = kl.Dense(num_classes, activation=output_activation or "softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=name)


def base_layer_names() -> list[str]:
    """Keras names of the base network's layers that hold weights (conv and batch norm)."""
    return [f"{layer.id}{suffix}" for layer in LAYERS for suffix in ("_conv", "_bn")]


def has_base_network(model: keras.Model) -> bool:
    """Whether `model` has every base layer of a network from `build` (any head, any width)."""
    names = {layer.name for layer in model.layers}
    return all(name in names for name in base_layer_names())


def copy_base_weights(source: keras.Model, target: keras.Model) -> None:
    """Copy the base network's weights (and batch-norm statistics) by layer name.

    Raises:
        ValueError: a layer is missing or has another shape (e.g. another width).
    """
    for name in base_layer_names():
        try:
            values = source.get_layer(name).get_weights()
            target.get_layer(name).set_weights(values)
        except ValueError as error:
            raise ValueError(f"Cannot copy layer {name!r} from {source.name!r}: {error}") from error


def keras_layer_name(name: str) -> str:
    """Map any layer or block alias to its Keras layer name in built models."""
    return resolve(name).id


def channel_count(model: keras.Model, name: str) -> int:
    """Return the number of channels of layer `name` (any alias) in `model`."""
    return int(model.get_layer(keras_layer_name(name)).output.shape[-1])


def base_weight_count(model: keras.Model) -> int:
    """Count the base network's variables: conv kernels, beta, moving mean and variance.

    For the full-width network this is 5,607,184, the number slim's own test asserts.
    """
    total = 0
    for layer in LAYERS:
        for suffix in ("_conv", "_bn"):
            total += sum(int(np.prod(w.shape)) for w in model.get_layer(layer.id + suffix).weights)
    return total


def activations(
    model: keras.Model,
    images: np.ndarray,
    layer_ids: Iterable[str],
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Compute post-ReLU activations (or block outputs) of `model` on `images`.

    Args:
        model: a model from `build` (or any model whose layers carry these names).
        images: float array ``[N, H, W, 3]`` in [0, 1].
        layer_ids: layer or block names under any alias (``Mixed_4c_Branch_2_b_3x3``,
            ``4c_2_b_3x3``, ``InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3``, ``mixed4b``...).
        batch_size: images per forward pass.

    Returns:
        A dict from each requested name, as given, to a float32 array
        ``[N, h, w, channels]``.
    """
    requested: Sequence[str] = list(layer_ids)
    entries: list[Layer | Block] = [resolve(name) for name in requested]
    unique = list(dict.fromkeys(entry.id for entry in entries))
    probe = keras.Model(model.input, [model.get_layer(name).output for name in unique])
    images = np.asarray(images, dtype="float32")
    chunks: list[list[np.ndarray]] = [[] for _ in unique]
    for start in range(0, len(images), batch_size):
        outputs = probe(images[start : start + batch_size], training=False)
        if len(unique) == 1:
            outputs = [outputs]
        for chunk, output in zip(chunks, outputs):
            chunk.append(ops.convert_to_numpy(output))
    stacked = {name: np.concatenate(chunk, axis=0) for name, chunk in zip(unique, chunks)}
    return {name: stacked[entry.id] for name, entry in zip(requested, entries)}
