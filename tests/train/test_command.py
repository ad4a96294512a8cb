"""``vtl train``: the paper config without its data, argument errors."""

import shutil
from pathlib import Path

from visualizer import cli

ROOT = Path(__file__).resolve().parents[2]


def test_paper_config_without_data_lists_every_download(tmp_path, capsys):
    config = tmp_path / "configs" / "paper.toml"
    config.parent.mkdir()
    shutil.copy(ROOT / "configs" / "paper.toml", config)
    assert cli.main(["train", "--config", str(config)]) == 2
    message = capsys.readouterr().err
    assert "nothing was trained" in message
    for path in (
        "data/inception_v1/inception_v1.ckpt.index",
        "data/celeba/img_align_celeba",
        "data/celeba/list_attr_celeba.txt",
        "data/celeba/list_eval_partition.txt",
        "data/flowers17/jpg",
        "data/pets/images",
        "data/pets/annotations/list.txt",
    ):
        assert str(tmp_path / path) in message, path
    assert "robots.ox.ac.uk/~vgg/data/pets" in message and "CelebA" in message
    assert not (tmp_path / "runs").exists()


def test_unknown_model(capsys):
    assert cli.main(["train", "--config", str(ROOT / "configs" / "demo.toml"), "--models", "nope"]) == 2
    assert "valid: imagenet, celeba" in capsys.readouterr().err


def test_help_is_light():
    """Registering the command imports neither Keras nor TensorFlow."""
    import subprocess
    import sys

    code = "import sys, visualizer.cli as c; c._register(c._parser()); print('keras' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
