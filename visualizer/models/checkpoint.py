"""Load a TF1 slim checkpoint into a Keras InceptionV1 from `inception_v1.build`.

Reads the ``inception_v1_2016_08_28`` release (``inception_v1.ckpt``) or any
checkpoint with the same variable names, such as snapshots written by TF1
training code. All variables are read and checked first; the model is only
changed when every one is present with the right shape, so a bad checkpoint
never leaves a half-loaded model.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from visualizer.models.layers import LAYERS

__all__ = ["CheckpointMismatchError", "load_slim_checkpoint", "slim_variable_map"]

LOGITS_SCOPE = "InceptionV1/Logits/Conv2d_0c_1x1"


class CheckpointMismatchError(ValueError):
    """A checkpoint lacks a variable the model needs, or has it in another shape."""


def slim_variable_map(model: keras.Model) -> dict[str, keras.Variable]:
    """Map checkpoint keys to the model variables they fill.

    Returns:
        ``{"InceptionV1/Conv2d_1a_7x7/weights": <kernel variable>, ...}`` for
        the 57 conv layers (weights, beta, moving mean and variance) and, when
        the model has slim's logits head, the logits weights and biases.
    """
    mapping: dict[str, keras.Variable] = {}
    for layer in LAYERS:
        conv = model.get_layer(f"{layer.id}_conv")
        batch_norm = model.get_layer(f"{layer.id}_bn")
        mapping[f"{layer.slim_scope}/weights"] = conv.kernel
        mapping[f"{layer.slim_scope}/BatchNorm/beta"] = batch_norm.beta
        mapping[f"{layer.slim_scope}/BatchNorm/moving_mean"] = batch_norm.moving_mean
        mapping[f"{layer.slim_scope}/BatchNorm/moving_variance"] = batch_norm.moving_variance
    names = {layer.name for layer in model.layers}
    if "Logits" in names:
        logits = model.get_layer("Logits")
        mapping[f"{LOGITS_SCOPE}/weights"] = logits.kernel
        mapping[f"{LOGITS_SCOPE}/biases"] = logits.bias
    return mapping


def _read_checkpoint(path: str) -> tuple[dict[str, tuple[int, ...]], object]:
    import tensorflow as tf  # TF1 checkpoints need TensorFlow, whatever the Keras backend.

    prefix = str(path)
    if os.path.isdir(prefix):
        latest = tf.train.latest_checkpoint(prefix)
        if latest is None:
            raise FileNotFoundError(f"No TF checkpoint found in directory {prefix!r}.")
        prefix = latest
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as error:
        raise FileNotFoundError(
            f"Cannot read a TF1 checkpoint at {prefix!r} (expected an index file "
            f"{prefix}.index with its data shards): {error}"
        ) from error
    shapes = {name: tuple(shape) for name, shape in reader.get_variable_to_shape_map().items()}
    return shapes, reader


def load_slim_checkpoint(model: keras.Model, path: str | os.PathLike, include_head: bool = True) -> list[str]:
    """Load slim InceptionV1 variables from a TF1 checkpoint into `model`.

    Args:
        model: a model from `inception_v1.build` (any head; the logits head is
            loaded too when the model has it and `include_head` is true).
        path: checkpoint prefix (``.../inception_v1.ckpt``) or a directory
            holding a ``checkpoint`` file.
        include_head: also load the logits conv when the model has one.

    Returns:
        The checkpoint keys that were loaded.

    Raises:
        CheckpointMismatchError: naming each missing variable, or each
            variable whose shape differs (expected and actual); nothing is
            loaded in that case.
        FileNotFoundError: when no checkpoint is at `path`.
    """
    shapes, reader = _read_checkpoint(os.fspath(path))
    mapping = slim_variable_map(model)
    if not include_head:
        mapping = {key: var for key, var in mapping.items() if not key.startswith(LOGITS_SCOPE)}

    problems: list[str] = []
    for key, variable in mapping.items():
        expected = tuple(int(d) for d in variable.shape)
        if key not in shapes:
            problems.append(f"missing variable {key} (expected shape {list(expected)})")
        elif shapes[key] != expected:
            problems.append(f"variable {key} has shape {list(shapes[key])}, expected {list(expected)}")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        raise CheckpointMismatchError(
            f"Checkpoint {os.fspath(path)!r} does not fit model {model.name!r} "
            f"({len(problems)} problem(s)); nothing was loaded:\n  {shown}{more}"
        )

    values = {key: np.asarray(reader.get_tensor(key), dtype="float32") for key in mapping}
    for key, variable in mapping.items():
        variable.assign(values[key])
    return list(mapping)
