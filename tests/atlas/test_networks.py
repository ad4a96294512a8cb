"""Network identity: which models share a layer catalogue, and the catalog's layers keyed by (network, id)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.own_network import save_tiny_keras, write_own_config
from visualizer.atlas.catalog import CATALOG_NAME, Catalog, ImageRecord, file_sha256, rebuild
from visualizer.atlas.job import with_networks
from visualizer.atlas.keys import ImageKey
from visualizer.atlas.networks import INCEPTION_V1, network_info, slug
from visualizer.atlas.plan import make_plan
from visualizer.atlas.sources import network_identity
from visualizer.config import load_config
from visualizer.models.layers import LAYERS
from visualizer.pngio import write_png_atomic

OTHER_MODELS = """
[[models]]
name = "Other-Net"
source = "keras"
path = "other.keras"

[[models]]
name = "other_child"
source = "transfer"
parent = "Other-Net"
base_layer = "dw_relu"
dataset = { kind = "world", world = "flowers", train_size = 64, validation_size = 16 }
steps = 4

[[models]]
name = "scratch"
source = "pretrain"
dataset = { kind = "world", world = "flowers", train_size = 64, validation_size = 16 }
steps = 4
"""

PLAN = (
    '[[render.plan]]\nmodels = ["base", "child", "Other-Net", "other_child"]\nlayers = "all"\n'
    'channels = "first:1"\n'
)


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    root = tmp_path_factory.mktemp("networks")
    save_tiny_keras(root / "configs" / "other.keras")
    return load_config(write_own_config(root, PLAN, extra_models=OTHER_MODELS))


def test_every_model_has_its_root_models_network(config):
    base = network_identity(config, "base")
    assert base == ("base", "tiny (tiny.keras)")  # the Keras model's name and its file
    assert network_identity(config, "child") == base  # a transfer keeps its parent's layer names
    other = network_identity(config, "Other-Net")
    assert other == ("other_net", "tiny (other.keras)")
    assert network_identity(config, "other_child") == other  # also when cut at a base_layer
    assert network_identity(config, "scratch") == (INCEPTION_V1, "InceptionV1")


def test_a_model_named_like_inception_does_not_take_its_network():
    assert slug("inception_v1") != INCEPTION_V1
    assert slug("My Net-2") == "my_net_2"


def test_render_metas_carry_each_models_network_and_its_layers_facts(config):
    plan = make_plan(config, with_costs=False)
    metas = with_networks(config, plan, {(b.model, b.snapshot): {"dataset": "x"} for b in plan.batches})
    base, cut = metas[("base", "final")], metas[("other_child", "final")]
    assert (base["network"], base["network_layers"], base["dataset"]) == ("base", 3, "x")
    assert set(base["layer_facts"]) == {"c1_relu", "dw_relu", "pw_relu"}
    assert cut["network"] == "other_net" and set(cut["layer_facts"]) == {"c1_relu", "dw_relu"}
    facts = network_info(base, "dw_relu")["layer"]
    assert (facts["id"], facts["kind"], facts["kernel"], facts["stride"]) == (
        "dw_relu",
        "depthwise",
        [3, 3],
        [2, 2],
    )
    assert "dw" in facts["aliases"]
    assert network_info({"network": INCEPTION_V1, "network_label": "InceptionV1"}, "Conv2d_1a_7x7") == {}


def test_an_inception_image_is_known_by_its_width_and_keeps_its_png_text(tmp_path):
    atlas = tmp_path / "atlas"
    record = _write(atlas, "imagenet", None, "Conv2d_1a_7x7")
    record.model_info["width"] = 0.25
    assert "network" not in record.png_text()["vtl:model"]
    with Catalog(atlas) as catalog:
        catalog.add_images([record])
    assert _tables(atlas)["models"][0][7:] == (INCEPTION_V1, "a width-reduced InceptionV1 (width 0.25)", 57)


def _facts(layer: str, index: int) -> dict:
    return {
        "id": layer,
        "aliases": [layer, f"{layer}_conv"],
        "kind": "conv",
        "channels": 4,
        "kernel": [3, 3],
        "stride": [1, 1],
        "receptive_field": 3,
        "grid_stride": 1,
        "graph_index": index,
        "conv": f"{layer}_conv",
    }


def _write(
    atlas: Path, model: str, network: str | None, layer: str, parent: str | None = None
) -> ImageRecord:
    key = ImageKey(model, "final", "lucid", layer, 0)
    meta = {"network": network, "network_label": network and network.upper(), "network_layers": 2}
    meta["layer_facts"] = {layer: _facts(layer, 1)} if network else {}
    info = {"dataset": "d", "parent": parent, "channels": 4, **network_info(meta, layer)}
    record = ImageRecord(key, 1.0, {"size": 8}, info)
    path = atlas / key.relpath
    record.bytes = write_png_atomic(path, np.zeros((8, 8, 3), np.uint8), record.png_text())
    record.sha256 = file_sha256(path)
    return record


def _tables(atlas: Path) -> dict[str, list]:
    db = sqlite3.connect(atlas / CATALOG_NAME)
    try:
        return {
            "models": db.execute("SELECT * FROM models ORDER BY name").fetchall(),
            "layers": db.execute("SELECT * FROM layers ORDER BY network, id").fetchall(),
            "model_layers": db.execute("SELECT * FROM model_layers ORDER BY model, layer").fetchall(),
        }
    finally:
        db.close()


def test_two_networks_keep_their_own_rows_of_one_layer_id_and_a_rebuild_recovers_them(tmp_path):
    atlas = tmp_path / "atlas"
    records = [
        _write(atlas, "a", "net_a", "conv2d"),
        _write(atlas, "a_child", "net_a", "conv2d", parent="a"),
        _write(atlas, "b", "net_b", "conv2d"),
    ]
    with Catalog(atlas) as catalog:
        catalog.add_images(records)
    tables = _tables(atlas)
    rows = {(row[0], row[1]): row for row in tables["layers"]}
    assert ("net_a", "conv2d") in rows and ("net_b", "conv2d") in rows
    assert json.loads(rows[("net_a", "conv2d")][11]) == ["conv2d_conv"]
    assert sum(network == INCEPTION_V1 for network, _ in rows) == len(LAYERS)
    assert {row[0]: row[7] for row in tables["models"]} == {"a": "net_a", "a_child": "net_a", "b": "net_b"}
    rebuild(atlas)
    assert _tables(atlas) == tables


def test_an_older_image_does_not_erase_a_recorded_network(tmp_path):
    atlas = tmp_path / "atlas"
    newer = _write(atlas, "a", "net_a", "conv2d")
    older = _write(atlas, "a", None, "other")
    with Catalog(atlas) as catalog:
        catalog.add_images([newer])
        catalog.add_images([older])
        catalog.set_networks({"b": {"network": "net_b"}})  # no row: nothing to change
    assert [row[:1] + row[7:9] for row in _tables(atlas)["models"]] == [("a", "net_a", "NET_A")]


def test_a_format_1_catalog_is_migrated_when_opened(tmp_path):
    atlas = tmp_path / "atlas"
    atlas.mkdir()
    db = sqlite3.connect(atlas / CATALOG_NAME)
    db.executescript(
        "CREATE TABLE models(name TEXT PRIMARY KEY, dataset TEXT, dataset_kind TEXT, parent TEXT,"
        " description TEXT, num_classes INTEGER, width REAL);"
        "CREATE TABLE layers(id TEXT PRIMARY KEY, slim_scope TEXT, short_id TEXT, graph_op TEXT, block TEXT,"
        " channels INTEGER, kernel INTEGER, graph_index INTEGER, paper_index INTEGER);"
        "INSERT INTO models VALUES ('imagenet', 'ImageNet', 'real', NULL, '', 1000, 1.0);"
        "INSERT INTO layers VALUES ('Conv2d_1a_7x7', '', '', '', 'stem', 64, 7, 0, 0);"
    )
    db.commit()
    db.close()
    with Catalog(atlas):
        pass
    tables = _tables(atlas)
    assert tables["models"] == [("imagenet", "ImageNet", "real", None, "", 1000, 1.0, None, None, None)]
    assert {row[0] for row in tables["layers"]} == {INCEPTION_V1}
    assert len(tables["layers"]) == len(LAYERS)
