"""Dataset examples from one shared dataset for every model (#24 item 7), so that the sheets before and
after transfer show the same images: the setting, what the atlas records, and what the channel page says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.fake_runs import write_tiny_experiment
from visualizer.analysis.examples import dataset_examples
from visualizer.atlas import catalog
from visualizer.atlas.job import render_atlas
from visualizer.atlas.methods import method_settings
from visualizer.config import load_config
from visualizer.data.worlds import open_world
from visualizer.pngio import read_png
from vtl_gallery.facts import examples_source

ROOT = Path(__file__).resolve().parents[2]
LAYER = "Mixed_3b_Branch_3_b_1x1"
SHARED_PLAN = f"""
[[render.plan]]
models = ["imagenet", "celeba"]
layers = ["{LAYER}"]
channels = "first:2"
methods = ["examples"]

[render.examples]
dataset = "imagenet"
images = 40
top = 4
"""


@pytest.fixture(scope="module")
def atlas(tmp_path_factory) -> tuple[Path, Path]:
    """The tiny experiment with every model's examples drawn from imagenet's dataset, rendered."""
    config_path = write_tiny_experiment(
        tmp_path_factory.mktemp("shared-examples"), channels=1, extra=SHARED_PLAN
    )
    config = load_config(config_path)
    summary = render_atlas(config, progress=False)
    assert summary.failed == 0
    return config_path, config.resolve_path(config.project.atlas_dir)


def _sheet(atlas: Path, model: str, channel: int = 0) -> str:
    return f"images/{model}/final/examples/{LAYER}/{channel:04d}.png"


@pytest.mark.slow  # renders the tiny experiment (shared by the module)
def test_every_model_s_sheet_records_the_shared_dataset(atlas):
    _, root = atlas
    recorded = [
        catalog.record_from_png(root, _sheet(root, m)).settings["images"] for m in ("imagenet", "celeba")
    ]
    assert recorded[0] == recorded[1]
    assert (
        recorded[0]["model"] == "imagenet"
        and "source" in recorded[0]["dataset"]
        and recorded[0]["scored"] == 40
    )


@pytest.mark.slow  # renders the tiny experiment (shared by the module)
def test_the_after_sheet_scores_the_before_model_s_images_with_the_after_model(atlas):
    config_path, root = atlas
    from visualizer.train.snapshots import load_snapshot

    config = load_config(config_path)
    model = load_snapshot(config.resolve_path(config.project.runs_dir), "celeba", "final")[0]
    source = open_world("source", 32, config.project.seed)  # imagenet's world, not celeba's faces
    pixels = np.concatenate([images for images, _ in source.validation_batches(64)])[:40]
    expected = dataset_examples(model, LAYER, [0], pixels, top=4).sheets[0]
    written = read_png(root / _sheet(root, "celeba"))[0].astype("float32") / 255
    np.testing.assert_allclose(written, expected, atol=1 / 255 + 1e-6)


@pytest.mark.slow  # renders the tiny experiment (shared by the module)
def test_the_channel_page_says_which_dataset_each_sheet_shows(atlas, tmp_path):
    from vtl_gallery.build import build_site

    _, root = atlas
    dist = tmp_path / "dist"
    build_site(root, dist, site_src=ROOT / "vtl_gallery" / "site_src", workers=1, log=lambda line: None)
    text = " ".join((dist / f"layer/{LAYER}/0/index.html").read_text().split())
    celeba = text.split('id="methods-celeba"')[1]
    imagenet = text.split('id="methods-imagenet"')[1].split('id="methods-celeba"')[0]
    assert "imagenet&#39;s dataset, not this model&#39;s own" in celeba
    assert "this model&#39;s own dataset" in imagenet and "not this model" not in imagenet
    assert "from 40 validation images of source world" in celeba and "of source world" in imagenet


def test_the_demo_draws_every_model_s_examples_from_one_dataset():
    config = load_config(ROOT / "configs" / "demo.toml")
    specs = {
        json.dumps(method_settings("examples", config, m.name)["images"], sort_keys=True)
        for m in config.models
    }
    assert len(specs) == 1
    own = load_config(ROOT / "configs" / "demo.toml", {"render.examples.dataset": "own"})
    assert len({method_settings("examples", own, m.name)["images"]["model"] for m in own.models}) == len(
        own.models
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"images": {"model": "imagenet", "dataset": "source world", "scored": 512}}, "imagenet's dataset"),
        (
            {"images": {"model": "celeba", "dataset": "faces world", "scored": 512}},
            "this model's own dataset",
        ),
        ({"images": 4, "weight": 100.0}, ""),  # the diversity method's settings: a count, not a dataset
        ({"size": 64}, ""),
    ],
)
def test_examples_source_reads_the_recorded_dataset(settings, expected):
    text = examples_source(json.dumps(settings), "celeba")
    assert (expected in text) if expected else text == ""
    assert ("not this model's own" in text) == (expected == "imagenet's dataset")


def test_examples_source_says_why_an_inactive_channels_sheet_is_grey():
    images = {"model": "imagenet", "dataset": "source world", "scored": 512}
    inactive = examples_source(json.dumps({"images": images, "inactive": True}), "celeba")
    active = examples_source(json.dumps({"images": images}), "celeba")
    assert inactive.startswith(active) and "none of them activates this channel" in inactive
    assert "activates" not in active


def test_examples_source_ignores_settings_that_are_not_json():
    assert examples_source("{not json", "celeba") == "" and examples_source("", "celeba") == ""
