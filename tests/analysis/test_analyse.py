"""`vtl analyse` end to end on a small atlas: entries, storage, reuse, bad input, the catalog commands."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tests.analysis import planted_models as planted
from visualizer import cli
from visualizer.analysis.observations import OBSERVATION_IDS
from visualizer.analysis.pipeline import Settings, analyse
from visualizer.analysis.runs import ModelMismatchError
from visualizer.analysis.store import load_results, subject_id
from visualizer.models.layers import LAYERS

LAYERS_USED = {  # layer: channels rendered (of 8, 24 and 16 at width 0.125)
    "Conv2d_2b_1x1": 6,
    "Mixed_4b_Branch_0_a_1x1": 6,
    "Mixed_5b_Branch_3_b_1x1": 6,
}
SNAPSHOTS = (("iter_000000", 0), ("iter_000010", 10), ("iter_000030", 30), ("final", 100))


def _texture(seed: int, size: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:size, :size] / size
    angle, cycles = rng.uniform(0, np.pi), rng.integers(2, 8)
    wave = np.sin(2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle)))
    return np.clip(
        0.5 + 0.35 * wave[..., None] * rng.uniform(-1, 1, 3) + rng.normal(0, 0.05, (size, size, 3)), 0, 1
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Runs (calibrated width-0.125 networks) and an atlas of synthetic images: (root, atlas, runs)."""
    root = tmp_path_factory.mktemp("project")
    images = planted.world_images(32, size=32)
    up_to = [layer.id for layer in LAYERS][
        : [layer.id for layer in LAYERS].index("Mixed_5b_Branch_3_b_1x1") + 1
    ]
    import keras

    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    parent = planted.calibrate(
        inception_v1.build(width=planted.WIDTH, head="single_dense", num_classes=4), images, up_to
    )
    runs = root / "runs"
    planted.save_snapshot(runs, parent, "imagenet")
    for seed, name in enumerate(("celeba", "flowers17"), start=1):
        child = planted.clone(parent)
        for layer in LAYERS_USED:
            planted.reinitialize(child, layer, [1, 3], images, seed=seed)
        planted.save_snapshot(runs, child, name)
    for snapshot, iteration in SNAPSHOTS:
        planted.save_snapshot(runs, parent, "celeba_temporal", snapshot, iteration)
    pictures, channels, iterations = {}, {}, {}
    for index, name in enumerate(("imagenet", "celeba", "flowers17")):
        for layer, count in LAYERS_USED.items():
            channels[(name, layer)] = int(parent.get_layer(layer).output.shape[-1])
            for channel in range(count):
                pictures[(name, "final", layer, channel)] = _texture(1000 * index + 10 * channel + len(layer))
    for k, (snapshot, iteration) in enumerate(SNAPSHOTS):
        iterations[("celeba_temporal", snapshot)] = iteration
        for layer, count in LAYERS_USED.items():
            channels[("celeba_temporal", layer)] = channels[("imagenet", layer)]
            for channel in range(count):
                pictures[("celeba_temporal", snapshot, layer, channel)] = _texture(
                    50_000 + 7 * channel + min(k, 1)
                )
    parents = {"celeba": "imagenet", "flowers17": "imagenet", "celeba_temporal": "imagenet"}
    atlas = planted.write_atlas(root / "atlas", pictures, channels, iterations, parents)
    return root, atlas, runs


@pytest.fixture
def atlas(project, tmp_path):
    """A fresh copy of the project's atlas for one test."""
    _, source, runs = project
    shutil.copytree(source, tmp_path / "atlas")
    return tmp_path / "atlas", runs


def test_every_observation_has_an_entry_with_its_fields(atlas, capsys):
    path, runs = atlas
    status = cli.main(
        [
            "analyse",
            "--atlas",
            str(path),
            "--runs",
            str(runs),
            "--before",
            "imagenet",
            "--after",
            "celeba",
            "--json",
        ]
    )
    assert status == 0
    data = json.loads(capsys.readouterr().out)
    assert [entry["id"] for entry in data["observations"]] == list(OBSERVATION_IDS)
    for entry in data["observations"]:
        assert set(entry) >= {"id", "statement", "metric", "value", "ci", "null", "holds", "n", "reason"}
        if entry["holds"] is None:
            assert entry["reason"], entry
        else:
            assert entry["ci"][0] <= entry["value"] <= entry["ci"][1] or entry["id"] == "stable_scale"
    by_id = {entry["id"]: entry for entry in data["observations"]}
    assert (
        by_id["small_data_redundancy"]["holds"] is None
        and "--config" in by_id["small_data_redundancy"]["reason"]
    )
    early = by_id["early_adaptation"]
    assert early["n"] == 18 and early["holds"] is True  # the run's images change at its first step
    assert by_id["stable_scale"]["n"] > 0 and by_id["stable_scale"]["holds"] is not None
    channels = {(row["layer"], row["channel"]): row for row in data["channel_metrics"]}
    assert len(channels) == 18
    row = channels[("Mixed_4b_Branch_0_a_1x1", 1)]
    for name in (
        "visual_change",
        "pixel_change",
        "colour_change",
        "structure_change",
        "cross_activation",
        "cross_activation_reverse",
        "weight_change",
        "period_before",
        "period_after",
    ):
        assert name in row, name
    assert channels[("Mixed_4b_Branch_0_a_1x1", 0)]["weight_change"] == pytest.approx(0.0, abs=1e-9)
    assert row["weight_change"] > 0.1  # re-initialized
    assert {"Conv2d_2b_1x1", "Mixed_4b_Branch_0_a_1x1"} <= {row["layer"] for row in data["circuits"]}
    assert [row["layer"] for row in data["layers"]] == list(LAYERS_USED)  # the spatial-scale table stays


def test_held_out_images_give_cka_and_the_redundancy_test(atlas):
    path, runs = atlas
    images = planted.world_images(40, size=32, world="faces")
    result = analyse(
        path,
        "imagenet",
        "celeba",
        runs_dir=runs,
        held_out=(images, "faces"),
        dataset_sizes={"celeba": 20_000, "flowers17": 1_360},
        settings=Settings(held_out=40, cka_batch=8),
    )
    entry = {e.id: e for e in result.observations}["small_data_redundancy"]
    assert entry.holds is not None and entry.details["small_model"] == "flowers17" and entry.n > 5
    layers = {row["layer"]: row for row in result.layers}
    assert len(layers) == 57  # CKA by depth on every layer
    conv = layers["Conv2d_1a_7x7"]
    assert conv["cka"] == pytest.approx(1.0, abs=1e-6)  # the first layer was not touched
    assert layers["Mixed_4b_Branch_0_a_1x1"]["cka"] < 1.0
    assert conv["cka_images"] == 40
    assert "data_duplicate_groups_small" in layers["Mixed_4b_Branch_0_a_1x1"]


def test_a_second_run_reuses_what_has_not_changed(atlas):
    path, runs = atlas
    first = analyse(path, "imagenet", "celeba", runs_dir=runs)
    again = analyse(path, "imagenet", "celeba", runs_dir=runs)
    assert first.computed > 0 and again.computed == 0 and again.reused >= first.computed
    assert [e.as_dict() for e in again.observations] == [e.as_dict() for e in first.observations]
    # A changed image: its layer is measured again, the others are not.
    from visualizer.pngio import read_png, write_png_atomic

    image = path / "images/celeba/final/lucid/Conv2d_2b_1x1/0002.png"
    pixels, text = read_png(image)
    write_png_atomic(image, 255 - pixels, text)
    from visualizer.atlas.catalog import sync

    sync(path)
    third = analyse(path, "imagenet", "celeba", runs_dir=runs)
    assert third.computed == 1


def test_results_are_stored_and_read_back_without_keras(atlas):
    path, runs = atlas
    result = analyse(path, "imagenet", "celeba", runs_dir=runs)
    stored = load_results(path)
    subject = subject_id("imagenet", "final", "celeba", "final")
    assert [s.id for s in stored.pairs()] == [subject]
    assert [e.as_dict() for e in stored.observations[subject]] == [e.as_dict() for e in result.observations]
    assert stored.channel(subject, "Conv2d_2b_1x1", 3)["weight_change"] > 0
    assert len(stored.channel_table(subject)) == 18
    edges = stored.circuits[(subject, "Mixed_4b_Branch_0_a_1x1", 1)]
    assert edges and {edge.rank_before for edge in edges} >= {1, 2}
    assert stored.snapshots and {row.snapshot for row in stored.snapshots} == {s for s, _ in SNAPSHOTS}


def test_without_models_the_model_tests_say_why(atlas):
    path, _ = atlas
    result = analyse(path, "imagenet", "celeba", runs_dir=path / "no-runs")
    by_id = {e.id: e for e in result.observations}
    assert by_id["middle_reuse"].holds is None and "model" in by_id["middle_reuse"].reason
    assert by_id["early_adaptation"].holds is None and by_id["early_adaptation"].reason
    assert by_id["stable_scale"].n > 0  # needs only the images
    assert any("no model file" in note for note in result.notes)


def test_a_model_file_that_does_not_match_the_atlas_is_refused_by_name(atlas, tmp_path, capsys):
    path, runs = atlas
    from visualizer.models import inception_v1

    other = tmp_path / "runs"
    shutil.copytree(runs, other)
    shutil.rmtree(other / "celeba")
    wider = inception_v1.build(width=0.25, head="single_dense", num_classes=4)
    file = planted.save_snapshot(other, wider, "celeba")
    with pytest.raises(ModelMismatchError, match="Conv2d_2b_1x1.*16 channels in the model file and 8"):
        analyse(path, "imagenet", "celeba", runs_dir=other)
    assert cli.main(["analyse", "--atlas", str(path), "--runs", str(other), "--quiet"]) == 2
    line = capsys.readouterr().err.strip()
    assert line.startswith("vtl analyse:") and str(file) in line and "\n" not in line


def test_a_pair_without_shared_images_is_an_error_naming_the_models(atlas):
    path, runs = atlas
    with pytest.raises(ValueError, match="models in the atlas: celeba, celeba_temporal, flowers17, imagenet"):
        analyse(path, "imagenet", "animals", runs_dir=runs)


def test_catalog_check_and_rebuild_with_the_analysis_tables(atlas, capsys):
    path, runs = atlas
    analyse(path, "imagenet", "celeba", runs_dir=runs)
    assert cli.main(["catalog", "check", "--atlas", str(path)]) == 0
    assert load_results(path).observations
    assert cli.main(["catalog", "rebuild", "--atlas", str(path)]) == 0
    assert not load_results(path).observations  # the tables are derived: the next `vtl analyse` writes them
    assert cli.main(["catalog", "check", "--atlas", str(path)]) == 0
    analyse(path, "imagenet", "celeba", runs_dir=runs)
    assert load_results(path).observations


def test_no_write_leaves_the_catalog_as_it_was(atlas):
    path, runs = atlas
    before = (path / "catalog.sqlite").read_bytes()
    analyse(path, "imagenet", "celeba", runs_dir=runs, write=False)
    assert not load_results(path).subjects
    assert (path / "catalog.sqlite").read_bytes() == before
