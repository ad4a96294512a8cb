"""A tiny network of our own (not InceptionV1) and configs that use it, for the own-network tests."""

from __future__ import annotations

from pathlib import Path


def tiny_keras_model(size: int = 32):
    """Conv-BN-ReLU, a depthwise ReLU6, a pointwise Conv-BN-ReLU, pool, dense: 3 catalogued layers."""
    import keras

    keras.utils.set_random_seed(1)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="c1_bn")(x)
    x = keras.layers.ReLU(name="c1_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = keras.layers.ReLU(6.0, name="dw_relu")(x)
    x = keras.layers.Conv2D(12, 1, name="pw")(x)
    x = keras.layers.BatchNormalization(name="pw_bn")(x)
    x = keras.layers.ReLU(name="pw_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny")


def save_tiny_keras(path: Path) -> Path:
    """Build `tiny_keras_model` and save it at `path` (``.keras``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tiny_keras_model().save(path)
    return path


def save_tiny_frozen_graph(keras_file: Path, path: Path) -> Path:
    """Freeze the tiny model of `keras_file` up to ``pw_relu`` into a Lucid-style ``.pb``."""
    from visualizer.models.frozen_graph import export_frozen_graph
    from visualizer.models.own import load_keras_source

    export_frozen_graph(load_keras_source(keras_file), "pw_relu", path)
    return path


FROZEN_GRAPH_MODEL = """\
[[models]]
name = "graph"
source = "frozen_graph"
path = "tiny.pb"
input = "input"
image_shape = [32, 32, 3]
image_value_range = [0, 1]
"""
"""``[[models]]`` entry ``graph``: the frozen graph `save_tiny_frozen_graph` writes beside the config."""

KERAS_AND_TRANSFER = """\
[project]
name = "own"
seed = 0
runs_dir = "runs"
atlas_dir = "atlas"

[network]
image_size = 32

[[models]]
name = "base"
source = "keras"
path = "tiny.keras"
input_range = [-1, 1]

[[models]]
name = "child"
source = "transfer"
parent = "base"
dataset = {{ kind = "world", world = "flowers", train_size = 64, validation_size = 16 }}
head = "single_dense"
steps = 4
batch_size = 8
snapshots = [0, 2]
{extra_child}
{extra_models}
[render]
size = 32
steps = 2
{plan}
"""


def write_own_config(root: Path, plan: str = "", extra_child: str = "", extra_models: str = "") -> Path:
    """``<root>/configs/own.toml``: the tiny keras model beside it and a transfer of it."""
    folder = root / "configs"
    if not (folder / "tiny.keras").exists():
        save_tiny_keras(folder / "tiny.keras")
    path = folder / "own.toml"
    path.write_text(KERAS_AND_TRANSFER.format(plan=plan, extra_child=extra_child, extra_models=extra_models))
    return path
