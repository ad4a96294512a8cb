"""Model sources for networks other than InceptionV1: keras, frozen_graph, transfer of any parent."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from visualizer.config import MODEL_DEFAULTS_OUTSIDE_DIGEST, ConfigError, load_config

HEAD = '[project]\nname = "own"\nruns_dir = "runs"\n\n[network]\nimage_size = 48\n\n'
KERAS = '[[models]]\nname = "base"\nsource = "keras"\npath = "nets/tiny.keras"\ninput_range = [-1, 1]\n'
CHILD = (
    '[[models]]\nname = "child"\nsource = "transfer"\nparent = "base"\nbase_layer = "dw_relu"\n'
    'freeze = ["c1"]\nsteps = 4\n'
)
GRAPH = (
    '[[models]]\nname = "graph"\nsource = "frozen_graph"\npath = "g.pb"\ninput = "images"\n'
    "image_shape = [32, 32, 3]\nimage_value_range = [-117, 138]\nimage_size = 32\n"
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "configs" / "own.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_keras_frozen_graph_and_transfer_sources_are_read(tmp_path):
    config = load_config(_write(tmp_path, HEAD + KERAS + CHILD + GRAPH))
    base, child, graph = config.models
    assert base.input_range == [-1.0, 1.0] and child.base_layer == "dw_relu" and child.freeze == ["c1"]
    assert graph.image_shape == [32, 32, 3] and graph.image_value_range == [-117.0, 138.0]
    # A model's path is relative to the config file's own folder.
    assert config.model_path(base) == (tmp_path / "configs" / "nets" / "tiny.keras").resolve()
    assert config.root_model("child").name == "base"
    assert [config.is_inception(name) for name in ("base", "child", "graph")] == [False, False, False]
    assert (config.image_size("child"), config.image_size("graph")) == (48, 32)


def test_inception_models_keep_their_digests(tmp_path):
    """The new keys at their defaults are left out of the digests: older configs and atlases keep theirs."""
    config = load_config(Path(__file__).resolve().parents[1] / "configs" / "demo.toml")
    payload = dataclasses.asdict(config)
    for model in payload["models"]:
        for key in MODEL_DEFAULTS_OUTSIDE_DIGEST:
            model.pop(key)
    for key in ("path", "base_dir"):
        payload.pop(key)
    for key in ("runs_dir", "atlas_dir"):
        payload["project"].pop(key)
    for key, default in (("scale_canvas", "auto"), ("precision", "float32")):
        if payload["render"].get(key) == default:
            payload["render"].pop(key)
    old = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]
    assert config.digest() == old
    assert [config.is_inception(name) for name in config.model_names()] == [True] * len(config.models)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('[[models]]\nname = "base"\nsource = "keras"\n', ["models[0].path", "needs path"]),
        (KERAS.replace("[-1, 1]", "[1, 1]"), ["models[0].input_range", "lo < hi"]),
        (
            KERAS + '[[models]]\nname = "x"\nsource = "pretrain"\nbase_layer = "c1"\n',
            ["base_layer", "'transfer'"],
        ),
        (KERAS.replace("input_range = [-1, 1]\n", 'input = "x"\n'), ["models[0].input", "'frozen_graph'"]),
        (GRAPH.replace("[32, 32, 3]", "[32, 3]"), ["image_shape", "[height, width, channels]"]),
        ('[[models]]\nname = "base"\nsource = "onnx"\n', ["models[0].source", "keras, frozen_graph"]),
        (KERAS + CHILD.replace('"base"', '"nope"'), ["models[1].parent", "valid: base"]),
    ],
)
def test_bad_model_sources_name_the_key_and_the_choices(tmp_path, text, words):
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, HEAD + text))
    message = str(caught.value)
    assert "own.toml:" in message
    for word in words:
        assert word in message


def test_a_missing_model_file_is_listed_before_training(tmp_path):
    from visualizer.train.plan import MissingInputsError, training_plan

    config = load_config(_write(tmp_path, HEAD + KERAS + GRAPH))
    with pytest.raises(MissingInputsError) as caught:
        training_plan(config)
    assert "tiny.keras" in str(caught.value) and "g.pb" in str(caught.value)


def test_a_transfer_from_a_frozen_graph_is_planned_after_its_graph(tmp_path):
    from visualizer.train.plan import training_plan

    child = CHILD.replace('"base"', '"graph"').replace('base_layer = "dw_relu"\nfreeze = ["c1"]\n', "")
    config = load_config(_write(tmp_path, HEAD + GRAPH + child))
    (tmp_path / "configs" / "g.pb").write_bytes(b"")
    assert [model.name for model in training_plan(config, ["child"])] == ["graph", "child"]
