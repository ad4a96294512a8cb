"""Forward passes for the analysis: channel means of layers, pooled reference features, Gram matrices.

Every pass is batched, and compiled once per model and set of outputs
(`tf.function` on TensorFlow; eager on other backends). A probe computes
only the part of the network its outputs need.

- `ChannelProbe`: for images ``[N, S, S, 3]``, the spatial mean of every
  channel of some layers (Lucid's channel objective), and optionally the
  spatially averaged activations of a reference layer (the feature space
  where `visual_change` is measured);
- `data_statistics`: on held-out images, each layer's Gram matrix per
  minibatch (for minibatch CKA) and its activations area-pooled to a
  4 x 4 grid (for redundancy).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

__all__ = ["ChannelProbe", "DataStatistics", "data_statistics", "probe_for"]

BATCH_PIXELS = 1 << 20  # pixels per forward pass: 64 images of 128 px, 20 of 224 px
POOLED_GRID = 4  # data_statistics pools each layer's map to this many cells a side


def _compile(function: Callable) -> Callable:
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        # One function per probe, each traced once per image size: TensorFlow's warning about
        # functions traced in a loop does not apply.
        tf.get_logger().setLevel("ERROR")
        return tf.function(function, reduce_retracing=True)
    return function


def _batch(images: np.ndarray, batch_size: int | None) -> int:
    return batch_size or max(1, BATCH_PIXELS // max(1, images.shape[1] * images.shape[2]))


class ChannelProbe:
    """Channel means of `layers` and pooled features of `reference` for one model, in one compiled pass.

    Args:
        model: a functional model taking images in [0, 1] whose layers carry the catalogue ids.
        layers: Keras layer names whose channel means to return.
        reference: a Keras layer name whose spatially averaged activations to return, or None.
    """

    def __init__(self, model: keras.Model, layers: Sequence[str], reference: str | None = None):
        self.layers = list(dict.fromkeys(layers))
        self.reference = reference
        names = self.layers + ([reference] if reference else [])
        probe = keras.Model(model.input, [model.get_layer(name).output for name in names])

        def run(images):
            outputs = probe(images, training=False)
            if len(names) == 1:
                outputs = [outputs]
            return [ops.mean(output, axis=(1, 2)) for output in outputs]

        self._run = _compile(run)

    def __call__(
        self, images: np.ndarray, batch_size: int | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        """({layer: channel means ``[N, C]``}, reference features ``[N, C_ref]`` or None), float64."""
        images = np.asarray(images, dtype="float32")
        step = _batch(images, batch_size)
        chunks: list[list[np.ndarray]] = [[] for _ in range(len(self.layers) + bool(self.reference))]
        for start in range(0, len(images), step):
            for chunk, output in zip(chunks, self._run(images[start : start + step])):
                chunk.append(np.asarray(ops.convert_to_numpy(output), dtype="float64"))
        joined = [np.concatenate(chunk) if chunk else np.zeros((0, 0)) for chunk in chunks]
        means = dict(zip(self.layers, joined))
        return means, (joined[-1] if self.reference else None)


_PROBES: dict[tuple[int, tuple[str, ...], str | None], ChannelProbe] = {}


def probe_for(model: keras.Model, layers: Sequence[str], reference: str | None = None) -> ChannelProbe:
    """A `ChannelProbe`, kept for the model's lifetime in this process (compiled once)."""
    key = (id(model), tuple(dict.fromkeys(layers)), reference)
    if key not in _PROBES:
        if len(_PROBES) > 64:
            _PROBES.clear()
        _PROBES[key] = ChannelProbe(model, layers, reference)
    return _PROBES[key]


@dataclass
class DataStatistics:
    """What `data_statistics` returns for one model.

    Attributes:
        grams: {layer: [one ``[b, b]`` Gram matrix of the flattened activations per minibatch]}.
        pooled: {layer: ``[N, 4, 4, C]`` the activations area-resized to `POOLED_GRID` cells a side}.
    """

    grams: dict[str, list[np.ndarray]] = field(default_factory=dict)
    pooled: dict[str, np.ndarray] = field(default_factory=dict)


def data_statistics(
    model: keras.Model, images: np.ndarray, layers: Sequence[str], batch_size: int = 32
) -> DataStatistics:
    """Gram matrices per minibatch and pooled activations of `layers` on held-out `images` ``[N, S, S, 3]``.

    A trailing minibatch under 4 images is left out of the Gram matrices (minibatch CKA's
    unbiased HSIC needs 4), not of the pooled activations.
    """
    layers = list(dict.fromkeys(layers))
    probe = keras.Model(model.input, [model.get_layer(name).output for name in layers])

    def run(batch):
        outputs = probe(batch, training=False)
        if len(layers) == 1:
            outputs = [outputs]
        grams, pooled = [], []
        for output in outputs:
            flat = ops.reshape(output, (ops.shape(output)[0], -1))
            grams.append(ops.matmul(flat, ops.transpose(flat)))
            pooled.append(ops.image.resize(output, (POOLED_GRID, POOLED_GRID), interpolation="area"))
        return grams, pooled

    compiled = _compile(run)
    result = DataStatistics({name: [] for name in layers}, {})
    chunks: dict[str, list[np.ndarray]] = {name: [] for name in layers}
    images = np.asarray(images, dtype="float32")
    for start in range(0, len(images), batch_size):
        grams, pooled = compiled(images[start : start + batch_size])
        for name, gram, cells in zip(layers, grams, pooled):
            if len(images[start : start + batch_size]) >= 4:
                result.grams[name].append(np.asarray(ops.convert_to_numpy(gram), dtype="float64"))
            chunks[name].append(np.asarray(ops.convert_to_numpy(cells), dtype="float32"))
    result.pooled = {name: np.concatenate(chunk) for name, chunk in chunks.items() if chunk}
    return result
