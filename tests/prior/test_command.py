"""``vtl prior`` and ``vtl ablate`` on a saved classifier and a saved tiny generator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.prior.conftest import colour_classifier, randomized
from visualizer.cli import main
from visualizer.pngio import read_png
from visualizer.prior.command import parse_ks
from visualizer.prior.weights import save_npz


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("prior-cli")
    model, generator = folder / "colours.keras", folder / "tiny.npz"
    colour_classifier().save(model)
    save_npz(randomized(seed=1), generator)
    return str(model), str(generator), folder


def test_prior_writes_images_and_summary(files):
    model, generator, folder = files
    out = folder / "prior"
    arguments = ["prior", "--generator", generator, "--model", model, "--layer", "colours"]
    assert main([*arguments, "--channels", "0", "2", "--out", str(out), "--steps", "8"]) == 0
    summary = json.loads((out / "prior.json").read_text())
    assert summary["files"] == ["colours_0.png", "colours_2.png"] and summary["failed"] == []
    pixels, text = read_png(out / "colours_2.png")
    assert pixels.shape == (16, 16, 3)
    assert json.loads(text["settings"])["channel"] == 2 and json.loads(text["settings"])["steps"] == 8


def test_ablate_writes_each_k_and_the_grid(files):
    model, _, folder = files
    out = folder / "ablation"
    arguments = ["ablate", "--model", model, "--layer", "colours", "--channel", "0", "--ks", "0-2"]
    assert main([*arguments, "--out", str(out), "--steps", "4", "--size", "16"]) == 0
    summary = json.loads((out / "ablation.json").read_text())
    assert summary["ks"] == [0, 1, 2] and summary["weight_order"] == [0, 2, 1]
    assert read_png(out / summary["grid"])[0].shape == (16, 48, 3)


def test_errors_name_the_bad_value(files, capsys):
    model, generator, folder = files
    arguments = ["prior", "--generator", generator, "--model", model, "--out", str(folder / "x")]
    assert main([*arguments, "--layer", "colours", "--channels", "7", "--steps", "2"]) == 2
    assert "out of range for layer 'colours', which has channels 0..2" in capsys.readouterr().err
    assert (
        main(
            [
                "ablate",
                "--model",
                str(folder / "none.keras"),
                "--layer",
                "colours",
                "--channel",
                "0",
                "--out",
                str(folder / "y"),
            ]
        )
        == 2
    )
    assert "No Keras model at" in capsys.readouterr().err


def test_parse_ks():
    assert parse_ks(["0-3", "7"]) == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="Bad --ks value 'a-b'"):
        parse_ks(["a-b"])
    assert np.array_equal(parse_ks(["5"]), [5])
