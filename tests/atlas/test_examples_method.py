"""The ``examples`` method in the atlas: config, plan, render, catalog, gallery."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.fake_runs import other_methods_section, write_tiny_experiment
from visualizer.analysis.examples import dataset_examples
from visualizer.atlas import catalog
from visualizer.atlas.job import plan_summary, render_atlas
from visualizer.atlas.methods import method_settings
from visualizer.atlas.plan import make_plan
from visualizer.config import ConfigError, load_config
from visualizer.data.worlds import open_world
from visualizer.pngio import read_png

EXAMPLES_PLAN = """
[[render.plan]]
models = ["imagenet", "celeba"]
layers = ["Mixed_3b_Branch_3_b_1x1"]
channels = "first:2"
methods = ["examples"]

[render.examples]
images = 40
top = 4
"""


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("examples-atlas")
    config_path = write_tiny_experiment(root, channels=1, extra=EXAMPLES_PLAN)
    return config_path


def _examples_path(atlas, model: str) -> str:
    """Channel 0's contact sheet of `model`'s final snapshot."""
    return next(
        p
        for p in catalog.iter_image_files(atlas)
        if f"/{model}/final/examples/" in p and p.endswith("0000.png")
    )


def test_the_atlas_holds_each_model_s_examples_from_its_own_dataset(experiment):
    config = load_config(experiment)
    summary = render_atlas(config, progress=False)
    atlas = config.resolve_path(config.project.atlas_dir)
    report = catalog.check(atlas)
    assert report.ok and summary.rendered == report.images == 2 * 4 * 1 + 2 * 2
    for model, world in (("imagenet", "source"), ("celeba", "faces")):
        record = catalog.record_from_png(atlas, _examples_path(atlas, model))
        images = record.settings["images"]
        assert images["model"] == model and images["scored"] == 40 and world in images["dataset"]
        assert record.settings["crop"] == 32  # the receptive field (43 px) cut to the 32 px images
        assert record.settings["size"] == 2 * 32 + 2  # 2 x 2 crops and a gap
    # The sheet is what dataset_examples makes of the world's first 40 validation images.
    from visualizer.train.snapshots import load_snapshot

    model = load_snapshot(config.resolve_path(config.project.runs_dir), "celeba", "final")[0]
    world = open_world("faces", 32, config.project.seed)
    pixels = np.concatenate([images for images, _ in world.validation_batches(64)])[:40]
    expected = dataset_examples(model, "Mixed_3b_Branch_3_b_1x1", [0], pixels, top=4).sheets[0]
    written = read_png(atlas / _examples_path(atlas, "celeba"))[0].astype("float32") / 255
    np.testing.assert_allclose(written, expected, atol=1 / 255 + 1e-6)


def test_one_dataset_for_every_model(experiment):
    config = load_config(experiment, {"render.examples.dataset": "celeba"})
    for model in ("imagenet", "celeba"):
        spec = method_settings("examples", config, model)["images"]
        assert spec["model"] == "celeba" and spec["dataset"]["world"] == "faces"
    with pytest.raises(ValueError, match="depend on the model; pass model="):
        method_settings("examples", config)


def test_examples_take_no_optimization_steps_in_the_plan(experiment):
    """Examples cost one forward pass over the scored images per layer, in one batch per layer."""
    from visualizer.models.flops import render_step_flops

    overrides = {"project.atlas_dir": str(experiment.parent / "empty-atlas"), "render.batch_size": 1}
    config = load_config(experiment, overrides)
    plan = make_plan(config)
    examples = [batch for batch in plan.batches if batch.method == "examples"]
    lucid = [batch for batch in plan.batches if batch.method == "lucid"]
    assert len(examples) == 2 and all(batch.steps == 0 for batch in examples)
    assert all(len(batch.channels) == 1 for batch in lucid)  # render.batch_size splits optimizations only
    assert all(len(batch.channels) > 1 for batch in examples)
    for batch in examples:
        forward = render_step_flops(batch.layer, config.network.image_size, config.network.width) / 3
        assert batch.cost == pytest.approx(config.render.examples.images * forward)
    summary = plan_summary(config, plan, seconds_per_tflop=0.0, seconds_per_step=1.0)
    assert summary["remaining_steps"] == len(lucid) * config.render.steps


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("top = 5", "render.examples.top: must be a perfect square .* received 5"),
        ("images = 3", "render.examples.images: must be at least top = 4, received 3"),
        ('dataset = "cifar"', "render.examples.dataset: unknown value 'cifar'; valid: own, imagenet, celeba"),
    ],
)
def test_bad_settings_are_refused(experiment, setting, message):
    text = experiment.read_text().replace(
        "top = 4", f"top = 4\n{setting}" if "top" not in setting else setting
    )
    if "images" in setting:
        text = text.replace("images = 40\n", "")
    bad = experiment.parent / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(bad)


@pytest.mark.parametrize("method", ["examples", "negative_examples"])
def test_a_checkpoint_has_no_dataset_of_its_own(experiment, method):
    text = experiment.read_text().replace(
        'source = "pretrain"\ndataset = { kind = "world", world = "source" }',
        'source = "checkpoint"\ncheckpoint = "inception_v1.ckpt"',
    )
    text = text.replace('methods = ["examples"]', f'methods = ["{method}"]')
    bad = experiment.parent / f"checkpoint-{method}.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match="'imagenet' is a checkpoint without a dataset .* one of: celeba"):
        load_config(bad)
    bad.write_text(text.replace("top = 4", 'top = 4\ndataset = "celeba"'))
    assert load_config(bad).render.examples.dataset == "celeba"


def test_the_gallery_shows_the_examples_beside_lucid(experiment, tmp_path):
    section = other_methods_section(experiment, tmp_path / "dist")
    assert "view/celeba/final/examples/" in section and "view/imagenet/final/examples/" in section


def test_validation_images_keep_the_most_recently_used_datasets(experiment, monkeypatch):
    from visualizer.atlas.methods import dataset_examples as example_methods

    config = load_config(experiment)
    first, second = (method_settings("examples", config, m)["images"] for m in ("imagenet", "celeba"))
    monkeypatch.setattr(example_methods, "_IMAGES", {})
    pixels, _ = example_methods._validation_images(first, 16)
    monkeypatch.setattr(example_methods, "_IMAGES_BUDGET", 2 * pixels.nbytes + 1)
    example_methods._validation_images(second, 16)
    assert example_methods._validation_images(first, 16)[0] is pixels  # a hit, now the most recent
    example_methods._validation_images(second, 8)  # over the budget: the least recently used goes
    kept = [(spec["model"], count) for spec, count in map(__import__("json").loads, example_methods._IMAGES)]
    assert kept == [("imagenet", 16), ("celeba", 8)]


def test_too_few_or_no_validation_images_are_named(experiment, monkeypatch):
    from visualizer.atlas.methods import dataset_examples as example_methods
    from visualizer.data import loader

    config = load_config(experiment)
    spec = method_settings("examples", config, "celeba")["images"]
    spec["dataset"]["validation_size"] = 3
    with pytest.raises(
        ValueError, match="'faces world' of model 'celeba' has 3 validation images, fewer than render"
    ):
        example_methods.examples(None, "Mixed_3b_Branch_3_b_1x1", [0], seed=0, images=spec, count=40, top=4)

    class Empty:
        name = "empty"

        def validation_batches(self, batch_size):
            return iter(())

    monkeypatch.setattr(loader, "open_dataset", lambda *args: Empty())
    spec["dataset"]["validation_size"] = 2
    with pytest.raises(ValueError, match="'empty' of model 'celeba' has no validation images"):
        example_methods._validation_images(spec, 40)


def test_a_channel_with_the_same_peak_on_every_image_is_inactive_not_failed(experiment):
    """Constant channels (zero, or any constant) are inactive, a grey sheet with their constant value;
    varying ones have examples, even when always negative; none fails."""
    import keras

    from visualizer.atlas.methods import dataset_examples as example_methods

    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(4, 1, name="linear")
    x = conv(inputs)
    kernel = np.zeros((1, 1, 3, 4), "float32")
    kernel[0, 0, 0, 0] = 1.0  # red: varies
    kernel[0, 0, 1, 2] = -1.0  # minus green, minus 1: varies, always negative
    conv.set_weights([kernel, np.array([0.0, 0.0, -1.0, 2.0], "float32")])  # 1: always 0; 3: always 2
    model = keras.Model(inputs, x)
    spec = method_settings("examples", load_config(experiment), "celeba")["images"]
    result = example_methods.examples(model, "linear", [0, 1, 2, 3], seed=0, images=spec, count=16, top=4)
    assert result.inactive == [1, 3] and result.failed == [] and np.all(result.images[[1, 3]] == 0.5)
    np.testing.assert_allclose(result.objectives[[1, 3]], [0.0, 2.0], atol=1e-6)
    assert result.objectives[2] < 0 < result.objectives[0]
    assert not np.all(result.images[2] == 0.5)


def test_negative_examples_score_the_pre_relu_layer_from_the_lowest(experiment):
    from visualizer.atlas.methods import dataset_examples as example_methods
    from visualizer.train.snapshots import load_snapshot

    config = load_config(experiment)
    model = load_snapshot(config.resolve_path(config.project.runs_dir), "celeba", "final")[0]
    settings = method_settings("negative_examples", config, "celeba")
    result = example_methods.negative_examples(model, "Mixed_3b_Branch_3_b_1x1", [0, 1], seed=0, **settings)
    assert result.recorded["pre_relu_layer"] == "Mixed_3b_Branch_3_b_1x1_bn"
    pixels, _ = example_methods._validation_images(settings["images"], settings["count"])
    expected = dataset_examples(model, "Mixed_3b_Branch_3_b_1x1_bn", [0, 1], pixels, top=4, negative=True)
    np.testing.assert_array_equal(result.images, expected.sheets)
    np.testing.assert_allclose(result.objectives, expected.activations[:, 0])
    positive = example_methods.examples(model, "Mixed_3b_Branch_3_b_1x1_bn", [0, 1], seed=0, **settings)
    assert np.all(result.objectives < positive.objectives)
