"""Render plans: selectors, the paper's counts, sharding."""

import json

import pytest

from tests.conftest import ROOT
from visualizer.atlas.job import plan_summary
from visualizer.atlas.plan import make_plan, parse_shard, select_channels, select_layers, snapshots_of
from visualizer.cli import main
from visualizer.config import ConfigError, load_config
from visualizer.models.layers import LAYERS


@pytest.fixture(scope="module")
def paper_plan():
    return make_plan(load_config(ROOT / "configs" / "paper.toml"))


def test_paper_plan_is_about_thirty_thousand_images(paper_plan):
    """4 models x 7,280 channels, plus 8 snapshots x 6 figure-6 layers x 16 channels."""
    assert paper_plan.image_count == 4 * 7280 + 8 * 6 * 16
    assert (paper_plan.size, paper_plan.steps) == (256, 1024)
    assert len({key.relpath for key in paper_plan.keys}) == paper_plan.image_count


def test_demo_plan_covers_figure7_and_figure6():
    plan = make_plan(load_config(ROOT / "configs" / "demo.toml"), with_costs=False)
    layers = {batch.layer for batch in plan.batches if batch.model == "imagenet"}
    assert layers == {layer.id for layer in select_layers("figure7")}
    temporal = {batch.snapshot for batch in plan.batches if batch.model == "celeba_temporal"}
    assert temporal == {
        "iter_000000",
        "iter_000010",
        "iter_000020",
        "iter_000030",
        "iter_000060",
        "iter_000150",
        "final",
    }
    assert all(len(batch.channels) == 4 for batch in plan.batches)
    examples = {(batch.model, batch.layer) for batch in plan.batches if batch.method == "examples"}
    assert examples == {
        (model, layer) for model in ("imagenet", "celeba", "flowers17", "animals") for layer in layers
    }


@pytest.mark.parametrize("count", [1, 3, 16])
def test_shards_partition_the_plan_and_balance_it(paper_plan, count):
    shards = [paper_plan.shard(i, count) for i in range(count)]
    keys = [key for shard in shards for key in shard.keys]
    assert sorted(keys) == sorted(paper_plan.keys)
    loads = [shard.flops for shard in shards]
    assert max(loads) <= 1.35 * paper_plan.flops / count
    assert [b.channels for b in paper_plan.shard(2 % count, count).batches] == [
        b.channels for b in shards[2 % count].batches
    ]


def test_batches_and_seeds_do_not_depend_on_sharding(paper_plan):
    whole = {(b.model, b.snapshot, b.layer, b.channels): b.seed(0) for b in paper_plan.batches}
    for index in range(4):
        for batch in paper_plan.shard(index, 4).batches:
            assert whole[(batch.model, batch.snapshot, batch.layer, batch.channels)] == batch.seed(0)


def test_channel_selectors():
    assert select_channels("all", 5) == [0, 1, 2, 3, 4]
    assert select_channels("first:3", 64) == [0, 1, 2]
    with pytest.raises(ConfigError, match="asks for 99 channels, but the layer has 4"):
        select_channels("first:99", 4)
    with pytest.raises(ConfigError, match="reaches channel 9, but the layer has 8"):
        select_channels("2-9", 8)
    assert select_channels("sample:4", 64) == [0, 16, 32, 48]
    assert select_channels("2-4", 64) == [2, 3, 4]
    assert select_channels([5, 1, 5], 8) == [1, 5]
    with pytest.raises(ConfigError, match="valid indices are 0..7"):
        select_channels([8], 8)
    with pytest.raises(ConfigError, match="'first:N', 'sample:N'"):
        select_channels("some", 8)


def test_layer_selectors_accept_aliases():
    assert [layer.id for layer in select_layers(["4c_2_b_3x3", "InceptionV1/Conv2d_1a_7x7"])] == [
        "Mixed_4c_Branch_2_b_3x3",
        "Conv2d_1a_7x7",
    ]
    with pytest.raises(ConfigError, match="figure6, figure7"):
        select_layers("every")


def test_every_nth_layer_of_inception_v1():
    chosen = select_layers("every:10")
    assert [layer.id for layer in chosen] == [layer.id for layer in LAYERS[9::10]]
    assert len(chosen) == len(LAYERS) // 10
    for bad in ("every:0", "every:x", f"every:{len(LAYERS) + 1}"):
        with pytest.raises(ConfigError, match="every"):
            select_layers(bad)


def test_unknown_layer_in_config_names_the_line(tmp_path):
    text = (ROOT / "configs" / "demo.toml").read_text().replace('layers = "figure6"', 'layers = ["Mixed_9z"]')
    path = tmp_path / "bad.toml"
    path.write_text(text)
    line = text.splitlines().index('layers = ["Mixed_9z"]') + 1
    with pytest.raises(
        ConfigError, match=rf"bad.toml:{line}: render.plan\[\d\].layers: Unknown layer 'Mixed_9z'"
    ):
        make_plan(load_config(path), with_costs=False)


def test_channels_past_a_layer_name_the_line_the_layer_and_the_model(tmp_path):
    text = (ROOT / "configs" / "demo.toml").read_text()
    first = text.index('channels = "first:4"')
    path = tmp_path / "bad.toml"
    path.write_text(text[:first] + 'channels = "first:9999"' + text[first + len('channels = "first:4"') :])
    line = text.count("\n", 0, first) + 1
    with pytest.raises(ConfigError) as caught:
        make_plan(load_config(path), with_costs=False)
    message = str(caught.value)
    assert f"bad.toml:{line}: render.plan[0].channels: layer " in message
    assert "of model 'imagenet'" in message and "asks for 9999 channels, but the layer has " in message


def test_unknown_model_in_a_plan_names_the_line(tmp_path):
    text = (ROOT / "configs" / "demo.toml").read_text()
    path = tmp_path / "bad.toml"
    path.write_text(text.replace('models = ["imagenet"', 'models = ["imagenett"', 1))
    with pytest.raises(
        ConfigError, match=r"bad.toml:\d+: render.plan\[\d\].models: unknown model 'imagenett'"
    ):
        make_plan(load_config(path), with_costs=False)


def test_unknown_model_restriction_lists_models():
    with pytest.raises(ConfigError, match="imagenet, celeba, flowers17, animals, celeba_temporal"):
        make_plan(load_config(ROOT / "configs" / "demo.toml"), models=["cifar"], with_costs=False)


def test_snapshot_names_follow_the_schedule():
    config = load_config(ROOT / "configs" / "paper.toml")
    assert snapshots_of(config.model("celeba_temporal"))[:3] == ["iter_000000", "iter_000010", "iter_000020"]
    assert snapshots_of(config.model("celeba")) == ["final"]


def test_parse_shard():
    assert parse_shard("3/16") == (2, 16)
    for bad in ("0/4", "5/4", "x/2", "2"):
        with pytest.raises(ValueError, match="i/N"):
            parse_shard(bad)


@pytest.fixture()
def demo_in_tmp(tmp_path):
    config = load_config(ROOT / "configs" / "demo.toml", {"project.atlas_dir": str(tmp_path / "atlas")})
    return config, make_plan(config)


def test_plan_summary_estimates_flops_and_steps_of_unfinished_batches(demo_in_tmp):
    config, plan = demo_in_tmp
    atlas = config.resolve_path(config.project.atlas_dir)
    full, partial = plan.batches[0], plan.batches[1]
    for key in [*full.keys, partial.keys[0]]:
        (atlas / key.relpath).parent.mkdir(parents=True, exist_ok=True)
        (atlas / key.relpath).write_bytes(b"")
    summary = plan_summary(config, plan, seconds_per_tflop=0.0, seconds_per_step=1.0)
    assert summary["existing"] == len(full.channels) + 1
    assert summary["remaining_batches"] == len(plan.batches) - 1  # a partial batch is rendered again
    optimized = [batch for batch in plan.batches[1:] if batch.steps]  # examples take no steps
    assert summary["remaining_steps"] == summary["seconds"] == len(optimized) * plan.steps
    flops_only = plan_summary(config, plan, seconds_per_tflop=2.0)
    assert flops_only["tflops"] == pytest.approx((plan.flops - full.cost) / 1e12)
    assert flops_only["seconds"] == pytest.approx(2.0 * flops_only["tflops"])
    assert "seconds" not in plan_summary(config, plan)


def test_vtl_plan_estimate_uses_both_terms_and_rejects_negative_rates(demo_in_tmp, capsys):
    config, plan = demo_in_tmp
    args = ["plan", "--config", str(config.path), "--atlas", str(config.project.atlas_dir), "--json"]
    assert main([*args, "--seconds-per-tflop", "0", "--seconds-per-step", "0.5"]) == 0
    summary = json.loads(capsys.readouterr().out)
    optimized = [batch for batch in plan.batches if batch.steps]
    assert summary["seconds"] == pytest.approx(0.5 * len(optimized) * plan.steps)
    with pytest.raises(SystemExit):
        main([*args, "--seconds-per-step", "-1"])
    assert "expected a number of at least 0, received '-1'" in capsys.readouterr().err


def test_make_plan_checks_methods_for_a_config_loaded_before_the_registry(tmp_path, monkeypatch):
    from visualizer import config as config_module

    path = tmp_path / "configs" / "c.toml"
    path.parent.mkdir()
    path.write_text('[[models]]\nname = "a"\nsource = "pretrain"\n[[render.plan]]\nmethods = ["dream"]\n')
    with monkeypatch.context() as patch:
        patch.setattr(config_module, "_CHECKS", [])  # as if visualizer.atlas.methods were not imported yet
        config = load_config(path)
    with pytest.raises(
        ConfigError, match=r"c\.toml:5: render\.plan\[0\]\.methods: unknown methods \['dream'\]"
    ):
        make_plan(config, with_costs=False)
