"""The ``stylegan2`` method in the atlas: config, render, catalog."""

from __future__ import annotations

import hashlib

import pytest

from tests.helpers.fake_runs import other_methods_section, write_tiny_experiment
from tests.prior.conftest import TINY, randomized
from visualizer.atlas import catalog
from visualizer.atlas.job import plan_summary, render_atlas
from visualizer.atlas.methods import method_settings
from visualizer.atlas.plan import make_plan
from visualizer.config import ConfigError, load_config
from visualizer.models.flops import render_step_flops
from visualizer.prior.weights import save_npz

PRIOR_PLAN = """
[[render.plan]]
models = ["celeba"]
layers = ["Mixed_3b_Branch_3_b_1x1"]
channels = "first:2"
methods = ["stylegan2"]

[render.prior]
generator = "tiny.npz"
steps = 3
lam = 0.5
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("prior-atlas")
    config_path = write_tiny_experiment(root, channels=1, extra=PRIOR_PLAN)
    save_npz(randomized(seed=2), root / "tiny.npz")
    return config_path


def test_the_atlas_renders_both_methods(experiment):
    config = load_config(experiment)
    assert method_settings("stylegan2", config)["generator"] == str(experiment.parent.parent / "tiny.npz")
    summary = render_atlas(config, progress=False)
    atlas = config.resolve_path(config.project.atlas_dir)
    report = catalog.check(atlas)
    assert report.ok and summary.rendered == report.images == 2 * 4 * 1 + 2
    prior_paths = [path for path in catalog.iter_image_files(atlas) if "/stylegan2/" in path]
    assert len(prior_paths) == 2
    record = catalog.record_from_png(atlas, prior_paths[0])
    assert record.settings["size"] == 16  # the generator's resolution, not render.size
    assert (record.settings["steps"], record.settings["lam"]) == (3, 0.5)
    # The generator is named by its file and digest, not by a path on the rendering machine.
    weights = experiment.parent.parent / "tiny.npz"
    assert record.settings["generator"] == "tiny.npz"
    assert record.settings["generator_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    lucid = next(path for path in catalog.iter_image_files(atlas) if "/lucid/" in path)
    assert catalog.record_from_png(atlas, lucid).settings["size"] == 32


def test_the_plan_counts_the_prior_s_steps_and_generator(experiment):
    config = load_config(experiment, {"project.atlas_dir": str(experiment.parent / "empty-atlas")})
    plan = make_plan(config)
    prior = [batch for batch in plan.batches if batch.method == "stylegan2"]
    lucid = [batch for batch in plan.batches if batch.method == "lucid"]
    assert [batch.steps for batch in prior] == [3] and {batch.steps for batch in lucid} == {
        config.render.steps
    }
    classifier = render_step_flops("Mixed_3b_Branch_3_b_1x1", config.render.size, config.network.width)
    generator = 2 * TINY.synthesis_flops()  # forward and gradient with respect to w
    assert prior[0].cost == pytest.approx((classifier + generator) * 2 * 3)
    summary = plan_summary(config, plan, seconds_per_tflop=0.0, seconds_per_step=1.0)
    assert summary["remaining_steps"] == 3 + len(lucid) * config.render.steps


def test_a_prior_plan_without_a_generator_is_refused(experiment):
    text = experiment.read_text().replace('generator = "tiny.npz"', 'generator = ""')
    broken = experiment.parent / "broken.toml"
    broken.write_text(text)
    with pytest.raises(
        ConfigError, match="render.prior.generator: the stylegan2 method needs StyleGAN2 weights"
    ):
        load_config(broken)
    broken.write_text(text.replace('generator = ""', 'generator = "missing.pkl"'))
    with pytest.raises(ConfigError, match="render.prior.generator: no file at .*missing.pkl"):
        load_config(broken)


def test_the_gallery_shows_the_prior_beside_lucid(experiment, tmp_path):
    section = other_methods_section(experiment, tmp_path / "dist")
    assert "view/celeba/final/lucid/" in section and "view/celeba/final/stylegan2/" in section
