"""The runs directory: the snapshot schedule, complete metas, loading."""

import json

import numpy as np
import pytest

from visualizer.models.layers import LAYERS
from visualizer.train import list_snapshots, load_snapshot
from visualizer.train.heads import base_layer_names
from visualizer.train.snapshots import META_KEYS, snapshot_name


def test_snapshots_follow_the_schedule(trained):
    metas = list_snapshots(trained / "runs", "child")
    assert [m["snapshot"] for m in metas] == ["iter_000000", "iter_000002", "iter_000004", "final"]
    assert [m["iteration"] for m in metas] == [0, 2, 4, 6]
    assert [m["is_final"] for m in metas] == [False, False, False, True]
    assert [m["snapshot"] for m in list_snapshots(trained / "runs", "parent")] == ["final"]
    assert list_snapshots(trained / "runs", "nobody") == []


def test_meta_is_complete(trained):
    for meta in list_snapshots(trained / "runs", "child"):
        assert list(meta) == list(META_KEYS)
        assert meta["model"] == "child" and meta["parent"] == "parent"
        assert meta["dataset"] == "flowers world" and meta["dataset_kind"] == "world"
        assert meta["num_classes"] == 17 == len(meta["class_names"])
        assert meta["head"] == "dense" and meta["multi_label"] is False
        assert meta["width"] == 0.125 and meta["image_size"] == 32
        assert meta["metric_name"] == "accuracy" and 0.0 <= meta["metric"] <= 1.0
        assert (meta["loss"] is None) == (meta["iteration"] == 0)
        assert len(meta["config_hash"]) == 12 and meta["created"].endswith("+00:00")
    assert not (trained / "runs" / "child" / "_resume").exists()


def test_load_snapshot_returns_model_and_meta(trained):
    model, meta = load_snapshot(trained / "runs", "child", "iter_000002")
    assert meta["iteration"] == 2
    images = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    outputs = np.asarray(model(images, training=False))
    assert outputs.shape == (2, 17) and np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5)
    assert model(np.zeros((1, 48, 48, 3), "float32")).shape == (1, 17)  # any input size


def test_missing_snapshot_lists_the_complete_ones(trained):
    with pytest.raises(FileNotFoundError, match="iter_000000, iter_000002, iter_000004, final"):
        load_snapshot(trained / "runs", "child", snapshot_name(3))


def test_transfer_keeps_base_layer_names_and_weights(trained):
    parent, _ = load_snapshot(trained / "runs", "parent", "final")
    start, _ = load_snapshot(trained / "runs", "child", "iter_000000")
    names = {layer.name for layer in start.layers}
    assert {layer.id for layer in LAYERS} <= names
    assert set(base_layer_names()) <= names
    for name in base_layer_names():
        for a, b in zip(parent.get_layer(name).get_weights(), start.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    assert "dense_hidden" in names and start.get_layer("predictions").units == 17


def test_meta_json_is_plain_json(trained):
    text = (trained / "runs" / "child" / "final" / "meta.json").read_text()
    assert json.loads(text)["snapshot"] == "final"
