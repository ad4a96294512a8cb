"""`vtl analyse` on a network other than InceptionV1: graph order, graph-depth stages, generic weights."""

from __future__ import annotations

import json
import shutil
import sqlite3

import keras
import numpy as np
import pytest

from tests.analysis import planted_models as planted
from visualizer import cli
from visualizer.analysis.pipeline import analyse
from visualizer.analysis.store import load_results
from visualizer.atlas.networks import layer_facts
from visualizer.models.catalogue import discover_layers

SIZE = 32
RENDERED = 6  # channels rendered per layer
GRAPH_ORDER = ["zeta_act", "beta_act", "alpha_act"]  # alphabetical order is the reverse


def _network() -> keras.Model:
    """Conv-BN-ReLU ``zeta``, depthwise ``beta``, their sum ``mix_add``, pointwise ``alpha``: 3 layers."""
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="zeta")(inputs)
    x = keras.layers.BatchNormalization(name="zeta_bn")(x)
    first = keras.layers.ReLU(name="zeta_act")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="beta")(first)
    x = keras.layers.BatchNormalization(name="beta_bn")(x)
    second = keras.layers.ReLU(6.0, name="beta_act")(x)
    x = keras.layers.Add(name="mix_add")([first, second])
    x = keras.layers.Conv2D(12, 1, name="alpha")(x)
    x = keras.layers.BatchNormalization(name="alpha_bn")(x)
    x = keras.layers.ReLU(name="alpha_act")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="tiny_graph")


def _calibrate(model: keras.Model, images: np.ndarray) -> keras.Model:
    """Batch-norm statistics from `images`, so that every channel responds."""
    for conv in ("zeta", "beta", "alpha"):
        outputs = keras.Model(model.input, model.get_layer(conv).output)(images, training=False)
        outputs = np.asarray(outputs, dtype="float64")
        norm = model.get_layer(f"{conv}_bn")
        gamma, beta = norm.get_weights()[:2]
        norm.set_weights([gamma, beta, outputs.mean(axis=(0, 1, 2)), outputs.var(axis=(0, 1, 2)) + 1e-6])
    return model


def _texture(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:SIZE, :SIZE] / SIZE
    angle, cycles = rng.uniform(0, np.pi), rng.integers(2, 8)
    wave = np.sin(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)))
    return np.clip(0.5 + 0.35 * wave[..., None] * rng.uniform(-1, 1, 3), 0, 1)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Runs of a base network and two transfers (one changes ``alpha`` channels 1 and 3), and an atlas."""
    root = tmp_path_factory.mktemp("other_network")
    images = planted.world_images(24, size=SIZE)
    base = _calibrate(_network(), images)
    runs = root / "runs"
    planted.save_snapshot(runs, base, "base")
    for seed, name in enumerate(("child", "child2"), start=1):
        child = planted.clone(base)
        conv = child.get_layer("alpha")
        kernel, *rest = conv.get_weights()
        kernel[..., [1, 3]] = np.random.default_rng(seed).normal(0, 0.5, kernel[..., [1, 3]].shape)
        conv.set_weights([kernel, *rest])
        planted.save_snapshot(runs, child, name)
    facts = {info.id: layer_facts(info) for info in discover_layers(base)}
    assert list(facts) == GRAPH_ORDER
    pictures, channels, infos = {}, {}, {}
    for index, name in enumerate(("base", "child", "child2")):
        for layer in GRAPH_ORDER:
            channels[(name, layer)] = facts[layer]["channels"]
            infos[(name, layer)] = {
                "network": "tiny_graph",
                "network_label": "a tiny graph",
                "network_layers": len(facts),
                "layer": facts[layer],
            }
            for channel in range(RENDERED):
                pictures[(name, "final", layer, channel)] = _texture(1000 * index + 10 * channel + len(layer))
    parents = {"child": "base", "child2": "base"}
    atlas = planted.write_atlas(root / "atlas", pictures, channels, parents=parents, infos=infos)
    return atlas, runs, images


@pytest.fixture
def atlas(project, tmp_path):
    """A fresh copy of the atlas for one test: (atlas, runs, held-out images)."""
    source, runs, images = project
    shutil.copytree(source, tmp_path / "atlas")
    return tmp_path / "atlas", runs, images


def test_analyse_writes_channel_and_layer_rows_in_graph_order(atlas):
    path, runs, images = atlas
    analysis = analyse(
        path,
        "base",
        "child",
        runs_dir=runs,
        held_out=(images, "source world"),
        dataset_sizes={"child": 10, "child2": 100},
    )
    layers = list(dict.fromkeys(row["layer"] for row in analysis.channels))
    assert layers == GRAPH_ORDER
    assert len(analysis.channels) == 3 * RENDERED
    assert [row["layer"] for row in analysis.layers] == GRAPH_ORDER
    assert [row["graph_index"] for row in analysis.layers] == [0, 1, 2]
    assert [row["stage"] for row in analysis.layers] == ["lower", "middle", "top"]
    assert all(row["paper_index"] is None for row in analysis.layers)
    assert all(row.get("cka") is not None for row in analysis.layers)
    rows = {(row["layer"], row["channel"]): row for row in analysis.channels}
    assert rows[("alpha_act", 0)]["weight_change"] == pytest.approx(0.0, abs=1e-9)
    assert rows[("alpha_act", 1)]["weight_change"] > 0.1
    assert rows[("zeta_act", 2)]["weight_change"] == pytest.approx(0.0, abs=1e-9)
    assert rows[("beta_act", 0)]["weight_change"] == pytest.approx(0.0, abs=1e-9)  # depthwise, folded
    for row in analysis.channels:
        assert row["visual_change"] is not None and row["cross_activation"] is not None
    # Circuits: the pointwise layer reads the residual sum; the first conv the image; the depthwise none.
    sources = {(row["layer"], row["source_layer"]) for row in analysis.circuits}
    assert sources == {("zeta_act", "image"), ("alpha_act", "mix_add")}
    assert any("beta_act" in note and "depthwise" in note for note in analysis.notes)
    assert any("visual_change is measured in" in note for note in analysis.notes)
    by_id = {entry.id: entry for entry in analysis.observations}
    for key in ("middle_reuse", "low_layers_colour", "image_scale_structure", "small_data_redundancy"):
        assert by_id[key].n >= 5, (key, by_id[key].reason)
    assert {ref.layer for ref in by_id["low_layers_colour"].best} == {"zeta_act"}
    assert {ref.layer for ref in by_id["image_scale_structure"].best} == {"alpha_act"}
    assert by_id["early_adaptation"].holds is None and by_id["early_adaptation"].reason


def test_stored_layers_read_back_in_graph_order_with_their_stage(atlas, capsys):
    path, runs, _ = atlas
    status = cli.main(
        [
            "analyse",
            "--atlas",
            str(path),
            "--runs",
            str(runs),
            "--before",
            "base",
            "--after",
            "child",
            "--json",
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert [row["layer"] for row in data["layers"]] == GRAPH_ORDER  # the spatial-scale table
    assert [row["paper_index"] for row in data["layers"]] == [0, 1, 2]
    results = load_results(path)
    (subject,) = results.pairs()
    table = results.layer_table(subject.id)
    assert [(row.layer, row.graph_index, row.stage) for row in table] == [
        ("zeta_act", 0, "lower"),
        ("beta_act", 1, "middle"),
        ("alpha_act", 2, "top"),
    ]
    assert [row.layer for row in results.channel_table(subject.id)][::RENDERED] == GRAPH_ORDER
    assert results.stage(subject.id, "alpha_act") == "top"


def test_a_pair_across_networks_is_refused_by_name(atlas):
    path, runs, _ = atlas
    with sqlite3.connect(path / "catalog.sqlite") as db:
        db.execute("UPDATE models SET network = 'another_net' WHERE name = 'child2'")
    with pytest.raises(ValueError, match="another_net"):
        analyse(path, "base", "child2", runs_dir=runs, write=False)


OWN_PLAN = """\
[[render.plan]]
models = ["base", "child"]
layers = "all"
channels = "first:6"
snapshots = "all"
methods = ["lucid"]
"""


@pytest.mark.slow
def test_vtl_analyse_on_a_trained_and_rendered_network_of_our_own(tmp_path, monkeypatch, capsys):
    from tests.helpers.own_network import write_own_config

    config = write_own_config(tmp_path, plan=OWN_PLAN)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--config", str(config)]) == 0
    assert cli.main(["render", "--config", str(config), "--workers", "1"]) == 0
    capsys.readouterr()
    atlas = tmp_path / "atlas"
    args = ["analyse", "--config", str(config), "--atlas", str(atlas), "--before", "base", "--after", "child"]
    assert cli.main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    order = ["c1_relu", "dw_relu", "pw_relu"]
    assert list(dict.fromkeys(row["layer"] for row in data["channel_metrics"])) == order
    assert len(data["channel_metrics"]) == 3 * RENDERED
    assert [(r["layer"], r["graph_index"], r["stage"]) for r in data["layer_metrics"]] == [
        ("c1_relu", 0, "lower"),
        ("dw_relu", 1, "middle"),
        ("pw_relu", 2, "top"),
    ]
    assert all(row["cka"] is not None for row in data["layer_metrics"])
    assert all(row["weight_change"] is not None for row in data["channel_metrics"])
    assert {row["layer"] for row in data["circuits"]} == {"c1_relu", "pw_relu"}
    by_id = {entry["id"]: entry for entry in data["observations"]}
    assert by_id["early_adaptation"]["n"] > 0  # the child's snapshots 0 and 2 and its final
    assert by_id["low_layers_colour"]["n"] == RENDERED and by_id["image_scale_structure"]["n"] == RENDERED
    results = load_results(atlas)
    (subject,) = results.pairs()
    assert [row.layer for row in results.layer_table(subject.id)] == order
