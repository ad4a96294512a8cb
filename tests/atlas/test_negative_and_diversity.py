"""The ``negative`` and ``diversity`` methods in the atlas: config, plan, render, catalog, gallery."""

from __future__ import annotations

import pytest

from tests.helpers.fake_runs import other_methods_section, write_tiny_experiment
from visualizer.atlas import catalog
from visualizer.atlas.job import render_atlas
from visualizer.atlas.plan import make_plan
from visualizer.config import load_config
from visualizer.models.flops import render_step_flops

PLAN = """
[[render.plan]]
models = ["celeba"]
layers = ["Mixed_3b_Branch_3_b_1x1"]
channels = "first:2"
methods = ["negative", "diversity"]

[render.diversity]
images = 4
weight = 50.0
batch_size = 1
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    return write_tiny_experiment(tmp_path_factory.mktemp("more-methods"), size=16, channels=1, extra=PLAN)


def test_the_plan_counts_every_image_of_a_diversity_sheet(experiment):
    config = load_config(experiment, {"project.atlas_dir": str(experiment.parent / "empty-atlas")})
    batches = [batch for batch in make_plan(config).batches if batch.method != "lucid"]
    negative = [batch for batch in batches if batch.method == "negative"]
    diverse = [batch for batch in batches if batch.method == "diversity"]
    step = render_step_flops("Mixed_3b_Branch_3_b_1x1", 16, 0.125)
    assert [len(batch.channels) for batch in negative] == [2]  # the atlas batch: the whole selection
    assert negative[0].cost == pytest.approx(step * 2 * config.render.steps)
    # One plan batch per optimization: [render.diversity] batch_size = 1 channel, four images.
    assert [batch.channels for batch in diverse] == [(0,), (1,)]
    assert all(batch.cost == pytest.approx(4 * step * config.render.steps) for batch in diverse)


def test_the_atlas_records_what_each_method_did(experiment):
    config = load_config(experiment)
    render_atlas(config, progress=False)
    atlas = config.resolve_path(config.project.atlas_dir)
    assert catalog.check(atlas).ok
    paths = {
        method: sorted(p for p in catalog.iter_image_files(atlas) if f"/celeba/final/{method}/" in p)
        for method in ("negative", "diversity")
    }
    assert [len(found) for found in paths.values()] == [2, 2]
    negative = catalog.record_from_png(atlas, paths["negative"][0]).settings
    assert negative["objective"] == "negative" and negative["pre_relu_layer"] == "Mixed_3b_Branch_3_b_1x1_bn"
    assert negative["size"] == 16
    diverse = catalog.record_from_png(atlas, paths["diversity"][0]).settings
    assert (diverse["images"], diverse["weight"], diverse["size"]) == (4, 50.0, 2 * 16 + 2)


def test_the_gallery_keeps_lucid_in_the_grids_and_shows_both_beside_it(experiment, tmp_path):
    section = other_methods_section(experiment, tmp_path / "dist")
    assert "view/celeba/final/negative/" in section and "view/celeba/final/diversity/" in section
    # Feature visualizations before contact sheets, whatever the alphabet says.
    assert section.index("view/celeba/final/negative/") < section.index("view/celeba/final/diversity/")
    layer_page = (tmp_path / "dist" / "layer" / "Mixed_3b_Branch_3_b_1x1" / "index.html").read_text()
    assert "/lucid/" in layer_page and "/diversity/" not in layer_page and "/negative/" not in layer_page
