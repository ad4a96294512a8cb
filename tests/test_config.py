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


def test_errors_name_the_line_of_the_right_table(tmp_path):
    """A key that several tables have is found in the table the error is about."""
    text = (
        '[[models]]\nname = "a"\nsource = "pretrain"\ndataset = { kind = "world", world = "imagenet" }\n'
        '[[models]]\nname = "b"\nsource = "pretrain"\nhead = "mlp"\n'
        '\n[render.examples]\nimages = 64\ndataset = "c"\n'
    )
    with pytest.raises(ConfigError, match=r"c.toml:8: models\[1\].head"):
        load_config(_write(tmp_path, text))
    text = text.replace('head = "mlp"\n', "")
    with pytest.raises(
        ConfigError, match=r"c.toml:11: render.examples.dataset: unknown value 'c'; valid: own, a, b"
    ):
        load_config(_write(tmp_path, text))
    text = text.replace('dataset = "c"\n', "top = 5\n")
    with pytest.raises(ConfigError, match=r"c.toml:11: render.examples.top: must be a perfect square"):
        load_config(_write(tmp_path, text))


def test_diversity_settings_are_checked(tmp_path):
    for body, text in [
        (
            "images = 3",
            r"render.diversity.images: must be a perfect square of at least 4 \(4, 9, 16...\), received 3",
        ),
        ("images = 1", r"render.diversity.images: .*received 1"),
        ("weight = 0.0", "render.diversity.weight: must be positive, received 0.0"),
        ("batch_size = -1", "render.diversity.batch_size: must be 0 or more, received -1"),
    ]:
        with pytest.raises(ConfigError, match=rf"c.toml:2: {text}"):
            load_config(_write(tmp_path, f"[render.diversity]\n{body}\n"))
    assert load_config(_write(tmp_path, "[render.diversity]\nimages = 9\n")).render.diversity.images == 9


def test_key_lines_follow_arrays_sub_tables_and_list_items():
    from visualizer.config import _key_line

    text = (
        '[[models]]\nname = "a"\n[models.dataset]\nkind = "x"\n'
        '[[models]]\nname = "b"\n[models.dataset]\nkind = "y"\n'
        '[[render.plan]]\nmodels = ["a"]\nchannels = [1, 2]\n'
    )
    assert _key_line(text, "models") == 1  # not the plan's models = ...
    assert _key_line(text, "models[1].dataset.kind") == 8
    assert _key_line(text, "models[0].dataset") == 3
    assert _key_line(text, "render.plan[0].channels[1]") == 11
    assert _key_line(text, "render.plan[0].methods") == 9  # a default: its table's line


@pytest.mark.parametrize("text", ["", "  \n\n\t\n", "# a comment\n\n   # another\n"])
def test_an_empty_config_is_refused(tmp_path, text):
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=r"c.toml: the config file is empty .*see configs/demo.toml"):
        load_config(path)
    with pytest.raises(ConfigError, match="is empty"):  # overrides do not make it a config
        load_config(path, {"render.steps": 8})


def test_a_missing_or_binary_config_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"none.toml: no such config file"):
        load_config(tmp_path / "none.toml")
    binary = tmp_path / "c.toml"
    binary.write_bytes(b"\x80\x04garbage\xff")
    with pytest.raises(ConfigError, match=r"c.toml: not a TOML file \(not UTF-8 text"):
        load_config(binary)


@pytest.mark.parametrize(
    "text, error",
    [
        ("[render]\nsize = 0\n", "c.toml:2: render.size: must be at least 1, received 0"),
        ("[render]\nsteps = -3\n", "c.toml:2: render.steps: must be at least 1, received -3"),
        (
            "[render]\nsteps = 8\nbatch_size = -1\n",
            "c.toml:3: render.batch_size: must be at least 0, received -1",
        ),
        ("[network]\nimage_size = 0\n", "c.toml:2: network.image_size: must be at least 1, received 0"),
        ("[network]\nwidth = 0.0\n", "c.toml:2: network.width: must be positive, received 0.0"),
        ("[network]\nwidth = -1\n", "c.toml:2: network.width: must be positive, received -1.0"),
        (
            "[render.prior]\nlearning_rate = 0\n",
            "c.toml:2: render.prior.learning_rate: must be positive, received 0.0",
        ),
        ("[render.prior]\nsteps = 0\n", "c.toml:2: render.prior.steps: must be at least 1, received 0"),
        ("[render.examples]\ntop = 0\n", "c.toml:2: render.examples.top: must be a perfect square"),
        ("[render.examples]\nimages = -1\n", "c.toml:2: render.examples.images: must be at least top"),
        (
            '[[models]]\nname = "a"\nsource = "pretrain"\ndataset = { kind = "world", train_size = -5 }\n',
            r"c.toml:4: models\[0\].dataset.train_size: must be at least 0, received -5",
        ),
    ],
)
def test_sizes_and_counts_below_their_least_are_refused(tmp_path, text, error):
    with pytest.raises(ConfigError, match=error):
        load_config(_write(tmp_path, text))


@pytest.mark.parametrize(
    "overrides, error",
    [
        ({"render.steps": 0}, "--steps/render.steps: must be at least 1, received 0"),
        ({"render.steps": -2}, "--steps/render.steps: must be at least 1, received -2"),
        ({"render.size": 0}, "--size/render.size: must be at least 1, received 0"),
        ({"render.size": "big"}, "--size/render.size: expected an integer, received 'big'"),
        ({"render.batch_size": -1}, "override render.batch_size: must be at least 0, received -1"),
    ],
)
def test_overrides_are_checked_and_name_the_flag(overrides, error):
    """An override is not on any line of the file: the error names the flag that set it."""
    demo = ROOT / "configs" / "demo.toml"
    with pytest.raises(ConfigError, match=rf"^{error} \(overriding {demo}\)$"):
        load_config(demo, overrides)


def test_a_bad_value_in_the_file_names_its_line_even_with_other_overrides(tmp_path):
    path = _write(tmp_path, '[project]\nname = "x"\n[render]\nsize = 0\n')
    with pytest.raises(ConfigError, match=r"c.toml:4: render.size: must be at least 1, received 0"):
        load_config(path, {"render.steps": 4, "project.atlas_dir": "/tmp/a"})


def test_a_check_another_layer_adds_runs_on_every_load_and_names_the_line(tmp_path, monkeypatch):
    """config imports nothing of the project; the atlas's method registry adds its checks this way."""
    from visualizer import config as config_module
    from visualizer.config import add_check

    monkeypatch.setattr(config_module, "_CHECKS", [])

    def no_x(config, fail):
        if config.project.name == "x":
            fail("project.name", "x is taken")

    assert add_check(no_x) is no_x and add_check(no_x) is no_x
    assert len(config_module._CHECKS) == 1 and config_module._CHECKS[0] is no_x
    with pytest.raises(ConfigError, match=r"c\.toml:2: project\.name: x is taken"):
        load_config(_write(tmp_path, '[project]\nname = "x"\n'))
    assert load_config(_write(tmp_path, '[project]\nname = "y"\n')).project.name == "y"


def test_the_method_registry_checks_planned_methods_at_load(tmp_path):
    import visualizer.atlas.methods  # noqa: F401  (registers its check, as every planning command does)

    text = '[[models]]\nname = "a"\nsource = "pretrain"\n[[render.plan]]\nmethods = ["lucid", "dream"]\n'
    with pytest.raises(
        ConfigError, match=r"c\.toml:5: render\.plan\[0\]\.methods: unknown methods \['dream'\]"
    ):
        load_config(_write(tmp_path, text))
    text = text.replace('"dream"', '"stylegan2"')
    with pytest.raises(
        ConfigError, match="render.prior.generator: the stylegan2 method needs StyleGAN2 weights"
    ):
        load_config(_write(tmp_path, text))
