"""Parity with tf_slim's own InceptionV1 through a real TF1 checkpoint, and bad checkpoints."""

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import HELPERS
from visualizer.models import inception_v1
from visualizer.models.checkpoint import CheckpointMismatchError
from visualizer.models.layers import BLOCKS, LAYERS

RELATIVE_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """Run tf_slim's network in a TF1 graph in its own process; returns (dir, arrays)."""
    out = tmp_path_factory.mktemp("slim")
    subprocess.run(
        [sys.executable, str(HELPERS / "slim_reference.py"), str(out), "--seed", "3"],
        check=True,
        capture_output=True,
    )
    with np.load(out / "reference.npz") as data:
        arrays = {key: data[key] for key in data.files}
    return out, arrays


@pytest.fixture(scope="module")
def loaded(reference):
    out, _ = reference
    model = inception_v1.build()
    inception_v1.load_slim_checkpoint(model, out / "model.ckpt")
    return model


def _relative_error(got, want):
    return float(np.abs(got - want).max() / max(np.abs(want).max(), 1e-12))


def test_checkpoint_has_the_release_layout(reference):
    """57 x (weights, beta, mean, variance) + logits weights and biases = 230 variables."""
    _, arrays = reference
    assert int(arrays["variable_count"]) == 230


def test_every_layer_matches_slim(reference, loaded):
    _, arrays = reference
    names = [layer.slim_scope for layer in LAYERS] + [block.id for block in BLOCKS]
    acts = inception_v1.activations(loaded, arrays["images"], names)
    errors = {
        layer.id: _relative_error(acts[layer.slim_scope], arrays["relu/" + layer.slim_scope])
        for layer in LAYERS
    }
    errors.update({b.id: _relative_error(acts[b.id], arrays["block/" + b.id]) for b in BLOCKS})
    worst = max(errors, key=errors.get)
    assert errors[worst] < RELATIVE_TOLERANCE, f"{worst}: relative error {errors[worst]:.2e}"
    # The check is not vacuous: the activations are far from zero everywhere.
    assert all(np.abs(arrays["relu/" + layer.slim_scope]).max() > 1e-3 for layer in LAYERS)


def test_logits_match_slim(reference, loaded):
    _, arrays = reference
    logits = np.asarray(loaded(arrays["images"], training=False))
    assert _relative_error(logits, arrays["logits"]) < RELATIVE_TOLERANCE


def _rewrite_checkpoint(source, target, drop=None, reshape=None):
    """Copy a TF1 checkpoint, dropping one variable or replacing one with another shape."""
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(source))
    names, tensors = [], []
    for name in sorted(reader.get_variable_to_shape_map()):
        if name == drop:
            continue
        value = reader.get_tensor(name)
        if name == reshape:
            value = np.zeros(value.shape[:-1] + (value.shape[-1] + 1,), value.dtype)
        names.append(name)
        tensors.append(tf.constant(value))
    tf.raw_ops.SaveV2(
        prefix=str(target), tensor_names=names, shape_and_slices=[""] * len(names), tensors=tensors
    )


def _snapshot(model):
    return [np.array(w) for w in model.weights]


def test_missing_variable_names_it_and_loads_nothing(reference, tmp_path):
    out, _ = reference
    key = "InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3/BatchNorm/moving_mean"
    _rewrite_checkpoint(out / "model.ckpt", tmp_path / "bad.ckpt", drop=key)
    model = inception_v1.build()
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError) as error:
        inception_v1.load_slim_checkpoint(model, tmp_path / "bad.ckpt")
    assert f"missing variable {key} (expected shape [64])" in str(error.value)
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.weights))


def test_wrong_shape_names_expected_and_actual(reference, tmp_path):
    out, _ = reference
    key = "InceptionV1/Conv2d_2c_3x3/weights"
    _rewrite_checkpoint(out / "model.ckpt", tmp_path / "bad.ckpt", reshape=key)
    model = inception_v1.build()
    before = _snapshot(model)
    with pytest.raises(CheckpointMismatchError) as error:
        inception_v1.load_slim_checkpoint(model, tmp_path / "bad.ckpt")
    assert f"variable {key} has shape [3, 3, 64, 193], expected [3, 3, 64, 192]" in str(error.value)
    assert all(np.array_equal(a, np.array(b)) for a, b in zip(before, model.weights))


def test_width_reduced_model_refuses_the_full_checkpoint(reference):
    out, _ = reference
    with pytest.raises(CheckpointMismatchError, match="expected \\[7, 7, 3, 32\\]"):
        inception_v1.load_slim_checkpoint(inception_v1.build(width=0.5), out / "model.ckpt")


def test_missing_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.ckpt"):
        inception_v1.load_slim_checkpoint(inception_v1.build(width=0.125), tmp_path / "nothing.ckpt")
