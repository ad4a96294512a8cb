"""Config files: defaults, overrides and errors that name the line and the choices."""

import pytest

from tests.conftest import ROOT
from visualizer.config import ConfigError, load_config


def _write(tmp_path, text):
    path = tmp_path / "c.toml"
    path.write_text(text)
    return path


def test_shipped_configs_load():
    demo = load_config(ROOT / "configs" / "demo.toml")
    assert demo.network.width == 0.25
    assert demo.model("celeba").parent == "imagenet"
    assert load_config(ROOT / "configs" / "paper.toml").render.size == 256


def test_unknown_key_names_line_and_valid_keys(tmp_path):
    path = _write(tmp_path, '[project]\nname = "x"\nsed = 1\n')
    with pytest.raises(ConfigError, match=r"c.toml:3: project.sed: unknown key; valid keys: name, seed"):
        load_config(path)


def test_wrong_type_and_unknown_choice(tmp_path):
    with pytest.raises(ConfigError, match="expected an integer, received 'big'"):
        load_config(_write(tmp_path, '[render]\nsize = "big"\n'))
    text = '[[models]]\nname = "a"\nsource = "pretrain"\nhead = "mlp"\n'
    with pytest.raises(ConfigError, match="valid: logits, dense, single_dense"):
        load_config(_write(tmp_path, text))


def test_transfer_parent_must_exist(tmp_path):
    text = '[[models]]\nname = "b"\nsource = "transfer"\nparent = "a"\n'
    with pytest.raises(ConfigError, match="'a' is not a model defined before 'b'"):
        load_config(_write(tmp_path, text))


def test_overrides_apply_last():
    config = load_config(ROOT / "configs" / "demo.toml", {"render.steps": 7, "project.atlas_dir": "/tmp/x"})
    assert config.render.steps == 7
    assert config.resolve_path(config.project.atlas_dir).as_posix() == "/tmp/x"
    assert config.digest() != load_config(ROOT / "configs" / "demo.toml").digest()
    moved = load_config(ROOT / "configs" / "demo.toml", {"project.atlas_dir": "/tmp/y"})
    assert moved.digest() == load_config(ROOT / "configs" / "demo.toml").digest()
