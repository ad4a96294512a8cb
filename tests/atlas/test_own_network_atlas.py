"""The atlas on a network of our own: plans over its catalogue, the fused fallback, and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.own_network import save_tiny_frozen_graph, write_own_config
from visualizer.atlas.plan import make_plan
from visualizer.cli import main
from visualizer.config import ConfigError, load_config

GRAPH_MODEL = '[[models]]\nname = "graph"\nsource = "frozen_graph"\npath = "tiny.pb"\n'


def _plan_entry(layers: str, models: str = '["base", "child"]', methods: str = '["lucid"]') -> str:
    return (
        f'[[render.plan]]\nmodels = {models}\nlayers = {layers}\nchannels = "first:1"\n'
        f'snapshots = "final"\nmethods = {methods}\n'
    )


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("own")
    write_own_config(path)
    return path


def _config(root: Path, plan: str, **extra: str):
    return load_config(write_own_config(root, plan, **extra))


@pytest.mark.parametrize(
    ("layers", "base", "child"),
    [
        ('"all"', ["c1_relu", "dw_relu", "pw_relu"], ["c1_relu", "dw_relu", "pw_relu"]),
        ('"every:2"', ["dw_relu"], ["dw_relu"]),
        ('"figure7"', ["c1_relu", "dw_relu", "pw_relu"], ["c1_relu", "dw_relu", "pw_relu"]),
        ('["pw_bn", "c1"]', ["pw_relu", "c1_relu"], ["pw_relu", "c1_relu"]),
    ],
)
def test_plans_select_from_the_networks_own_catalogue(root, layers, base, child):
    plan = make_plan(_config(root, _plan_entry(layers)), with_costs=True)
    chosen = {name: [b.layer for b in plan.batches if b.model == name] for name in ("base", "child")}
    assert chosen == {"base": base, "child": child}
    assert {b.snapshot for b in plan.batches} == {"final"}


def test_plan_costs_count_the_networks_own_render_steps(root):
    """A batch costs the network's render-step FLOPs x channels x steps, deeper layers more."""
    from visualizer.models.flops import model_render_step_flops
    from visualizer.models.own import load_keras_source

    config = _config(root, _plan_entry('["pw_relu", "c1"]', methods='["lucid", "neuron"]'))
    plan = make_plan(config, with_costs=True)
    network = load_keras_source(root / "configs" / "tiny.keras", (-1.0, 1.0))
    for batch in plan.batches:
        step = model_render_step_flops(network, batch.layer, config.render.size)
        assert step > 0 and batch.cost == step * len(batch.channels) * plan.steps, batch
    deeper = {b.layer: b.cost for b in plan.batches if b.model == "base" and b.method == "lucid"}
    assert deeper["pw_relu"] > deeper["c1_relu"]


def test_a_transfer_cut_at_base_layer_has_only_the_layers_before_it(root):
    config = _config(root, _plan_entry('"all"'), extra_child='base_layer = "dw"')
    plan = make_plan(config, with_costs=False)
    assert [b.layer for b in plan.batches if b.model == "child"] == ["c1_relu", "dw_relu"]


def test_an_unknown_layer_names_close_matches_and_the_line(root):
    with pytest.raises(ConfigError) as caught:
        make_plan(_config(root, _plan_entry('["pw_rleu"]')), with_costs=False)
    message = str(caught.value)
    assert "own.toml:" in message and "render.plan[0].layers" in message and "pw_relu" in message


def test_the_fused_copy_falls_back_to_the_models_own_layers(root, monkeypatch):
    """A layer type the fused copy cannot take: the model's own layers render it, recorded as not fused."""
    import visualizer.render.render as render_module
    from visualizer.atlas.methods import get_method
    from visualizer.models.own import load_keras_source
    from visualizer.render.render import render_channels

    model = load_keras_source(root / "configs" / "tiny.keras", (-1.0, 1.0))
    settings = {"size": 32, "steps": 3, "seed": 5}
    fused = get_method("lucid")(model, "dw_relu", [0, 1], **settings)
    assert "fused" not in fused.recorded

    def refuse(net):
        raise TypeError(f"fuse_for_rendering cannot take a layer of {net.name}")

    monkeypatch.setattr(render_module, "fuse_for_rendering", refuse)
    fallback = get_method("lucid")(model, "dw_relu", [0, 1], **settings)
    assert fallback.recorded == {"fused": False}
    own = render_channels(model, "dw_relu", [0, 1], fuse=False, progress=False, **settings)
    np.testing.assert_allclose(fallback.objectives, np.asarray(own.objectives, "float64"), rtol=1e-6)
    np.testing.assert_allclose(fallback.objectives, fused.objectives, rtol=1e-4)


def _vtl(capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    return code, err


def _one_line(err: str, command: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith(f"vtl {command}:")]
    assert len(lines) == 1, err
    return lines[0]


def test_a_file_that_is_not_a_model(tmp_path, capsys):
    config = write_own_config(tmp_path)
    (tmp_path / "configs" / "tiny.keras").write_text("not a model")
    for command in ("train", "plan"):
        write_own_config(tmp_path, _plan_entry('"all"') if command == "plan" else "")
        code, err = _vtl(capsys, command, "--config", str(config))
        line = _one_line(err, command)
        assert code == 2 and "tiny.keras" in line and ".keras" in line and ".h5" in line


@pytest.mark.parametrize("kind", ["several", "no_image"])
def test_a_model_without_one_image_input(tmp_path, capsys, kind):
    import keras

    if kind == "several":
        a, b = keras.Input((8, 8, 3)), keras.Input((8, 8, 3))
        model = keras.Model([a, b], keras.layers.Conv2D(2, 1)(keras.layers.Add()([a, b])))
    else:
        a = keras.Input((10,))
        model = keras.Model(a, keras.layers.Dense(2)(a))
    config = write_own_config(tmp_path)
    model.save(tmp_path / "configs" / "tiny.keras")
    code, err = _vtl(capsys, "train", "--config", str(config), "--quiet")
    line = _one_line(err, "train")
    assert code == 2 and "tiny.keras" in line and "[batch, height, width, channels]" in line
    assert ("2 inputs" in line) if kind == "several" else ("not an image" in line)


@pytest.mark.parametrize(
    ("base_layer", "words"),
    [
        ("pw_rleu", ["Unknown layer 'pw_rleu'", "pw_relu", "model 'base'"]),
        ("pool", ["'pool'", "channel axis"]),
    ],
)
def test_a_bad_base_layer(tmp_path, capsys, base_layer, words):
    config = write_own_config(tmp_path, _plan_entry('"all"'), extra_child=f'base_layer = "{base_layer}"')
    code, err = _vtl(capsys, "plan", "--config", str(config))
    line = _one_line(err, "plan")
    assert code == 2 and all(word in line for word in words), line


def test_a_frozen_graph_without_the_named_input(tmp_path, capsys):
    config = write_own_config(
        tmp_path,
        extra_models=GRAPH_MODEL + 'input = "image"\n',
    )
    save_tiny_frozen_graph(tmp_path / "configs" / "tiny.keras", tmp_path / "configs" / "tiny.pb")
    code, err = _vtl(capsys, "train", "--config", str(config), "--quiet", "--models", "graph")
    line = _one_line(err, "train")
    assert code == 2 and "tiny.pb" in line and "no input 'image'" in line and "placeholders: input" in line


def test_negative_is_planned_for_a_frozen_graph_whose_layers_end_in_a_relu(tmp_path):
    config = write_own_config(
        tmp_path,
        _plan_entry('"all"', models='["graph"]', methods='["negative", "negative_examples"]'),
        extra_models=GRAPH_MODEL + 'dataset = { kind = "world", world = "flowers" }\n',
    )
    save_tiny_frozen_graph(tmp_path / "configs" / "tiny.keras", tmp_path / "configs" / "tiny.pb")
    plan = make_plan(load_config(config), with_costs=False)
    assert {batch.method for batch in plan.batches} == {"negative", "negative_examples"}


def test_a_bad_plan_keeps_what_is_rendered(tmp_path, capsys):
    config = write_own_config(tmp_path, _plan_entry('["c1"]', models='["base"]'))
    assert _vtl(capsys, "train", "--config", str(config), "--quiet", "--models", "base")[0] == 0
    assert _vtl(capsys, "render", "--config", str(config))[0] == 0
    images = sorted((tmp_path / "atlas" / "images").rglob("*.png"))
    assert len(images) == 1
    before = images[0].read_bytes()
    write_own_config(tmp_path, _plan_entry('["c1", "pw_rleu"]', models='["base"]'))
    code, err = _vtl(capsys, "render", "--config", str(config))
    assert code == 2 and "pw_relu" in _one_line(err, "render")
    assert sorted((tmp_path / "atlas" / "images").rglob("*.png")) == images
    assert images[0].read_bytes() == before


def test_a_runs_folder_gives_every_snapshot(tmp_path, capsys):
    """A keras model whose path is a runs-layout folder: each of its snapshots is planned and imported."""
    from visualizer.train.snapshots import list_snapshots

    first = write_own_config(tmp_path / "first")
    assert _vtl(capsys, "train", "--config", str(first), "--quiet")[0] == 0
    trained = tmp_path / "first" / "runs" / "child"
    second = tmp_path / "second" / "configs" / "own.toml"
    second.parent.mkdir(parents=True)
    second.write_text(
        f'[project]\nruns_dir = "runs"\n\n[[models]]\nname = "imported"\nsource = "keras"\n'
        f'path = "{trained}"\n\n'
        "[render]\nsize = 32\nsteps = 2\n"
        + _plan_entry('"figure7"', models='["imported"]').replace('snapshots = "final"', 'snapshots = "all"')
    )
    plan = make_plan(load_config(second), with_costs=False)
    assert sorted({b.snapshot for b in plan.batches}) == ["final", "iter_000000", "iter_000002"]
    assert {b.layer for b in plan.batches} == {"c1_relu", "dw_relu", "pw_relu"}
    assert _vtl(capsys, "train", "--config", str(second), "--quiet")[0] == 0
    metas = list_snapshots(tmp_path / "second" / "runs", "imported")
    assert [(m["snapshot"], m["iteration"], m["model"]) for m in metas] == [
        ("iter_000000", 0, "imported"),
        ("iter_000002", 2, "imported"),
        ("final", 4, "imported"),
    ]
    assert metas[-1]["dataset"] == list_snapshots(tmp_path / "first" / "runs", "child")[-1]["dataset"]


@pytest.mark.parametrize("layer", ["c1_relu", "dw_relu", "pw_relu"])
def test_the_fused_copy_of_an_own_network_computes_its_layers_to_1e_5(root, layer):
    from visualizer.models.graph import truncate
    from visualizer.models.own import load_keras_source
    from visualizer.render.fused import fuse_for_rendering

    model = load_keras_source(root / "configs" / "tiny.keras", (-1.0, 1.0))
    for norm in ("c1_bn", "pw_bn"):  # statistics away from the initial ones, so folding them matters
        bn = model.get_layer(norm)
        rng = np.random.default_rng(len(norm))
        bn.set_weights([rng.uniform(0.5, 2.0, w.shape).astype("float32") for w in bn.get_weights()])
    net = truncate(model, layer)
    images = np.random.default_rng(3).random((2, 37, 37, 3), dtype="float32")
    expected = np.asarray(net(images, training=False))
    fused = np.asarray(fuse_for_rendering(net)(images, training=False))
    np.testing.assert_allclose(fused.mean(axis=(1, 2)), expected.mean(axis=(1, 2)), rtol=1e-5, atol=1e-5)


def test_a_frozen_graph_with_an_op_outside_the_allowlist_is_refused_whole(tmp_path, capsys):
    import tensorflow as tf

    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, (None, None, None, 3), name="input")
        tf.io.read_file("/etc/hostname", name="leak")
        tf.nn.relu(images, name="out")
    config = write_own_config(tmp_path, _plan_entry('"all"', models='["graph"]'), extra_models=GRAPH_MODEL)
    (tmp_path / "configs" / "tiny.pb").write_bytes(graph.as_graph_def().SerializeToString())
    for command in ("train", "plan"):
        code, err = _vtl(capsys, command, "--config", str(config))
        line = _one_line(err, command)
        assert code == 2 and "tiny.pb" in line and "ReadFile" in line and "leak" in line, line
