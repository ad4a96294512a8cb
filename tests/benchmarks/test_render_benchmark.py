"""Tests for benchmarks/render.py: tables, convolutions-alone timer, other-network rows (not timings)."""

from __future__ import annotations

import json

import keras
import pytest
from keras import layers as kl

from tests.helpers.benchmark_scripts import load_benchmark


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("render")


def _row(strategy: str, batch: int, seconds: float, convs: float | None) -> dict:
    return {
        "layer": "L",
        "size": 128,
        "strategy": strategy,
        "batch": batch,
        "ms_per_step": 1000 * seconds,
        "step_seconds": seconds,
        "gflops": 1.0,
        "convs_seconds": convs,
    }


def test_tables_give_ratios_against_lucid(bench):
    """Speed-ups are per image against strategy (a); rows without (a) show a dash, not NaN."""
    rows = [_row("lucid", 1, 0.010, 0.004), _row("ours", 8, 0.040, 0.016)]
    main = bench.table(rows, render_steps=512)
    assert "| L | 128 | ours | 8 | 40.0 |" in main and main.rstrip().endswith("2.00x |")
    convs = bench.convs_table(rows).splitlines()
    assert len(convs) == 3  # header, rule, one row for (c)
    assert convs[2] == "| L | 128 | 10.0 | 4.0 | 40.0 | 16.0 | 2.00x | 2.00x |"
    alone = bench.table([_row("ours", 8, 0.040, None)], render_steps=512)
    assert alone.rstrip().endswith("| - |") and "nan" not in alone
    assert len(bench.convs_table([_row("ours", 8, 0.040, 0.016)]).splitlines()) == 2


def test_table_adds_a_column_against_lucid_itself(bench):
    """With Lucid 0.3.10's own step timed, every row also gets its speed-up against it."""
    rows = [
        _row(bench.LUCID_ITSELF, 1, 0.012, None),
        _row("lucid", 1, 0.010, None),
        _row("ours", 8, 0.040, None),
    ]
    lines = bench.table(rows, render_steps=512).splitlines()
    assert lines[0].endswith("| vs (a) | vs lucid-0.3.10 |")
    assert lines[1].count("---") == 9
    assert lines[2].endswith("| 0.83x | 1.00x |")
    assert lines[4].endswith("| 2.00x | 2.40x |")


@pytest.mark.slow
def test_lucid_timer_runs_lucids_own_step(bench, tmp_path):
    """Lucid's step on a frozen small InceptionV1 answers each window, and its process ends on close."""
    pytest.importorskip("lucid")
    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    net = inception_v1.build(width=0.0625, head="dense")
    timer = bench.LucidTimer(net, "Conv2d_2c_3x3", 32, tmp_path)
    try:
        seconds = [timer.window() for _ in range(2)]
    finally:
        timer.close()
    assert all(0 < s < 5 for s in seconds)
    assert timer.process.returncode == 0
    assert (tmp_path / "Conv2d_2c_3x3.pb").stat().st_size > 0


def test_lucid_timer_reports_a_failed_process(bench, tmp_path, monkeypatch):
    """If Lucid's process dies before it is ready, the error carries the end of its log."""
    failing = tmp_path / "oracle.py"
    failing.write_text("import sys\nsys.stderr.write('lucid could not start\\n')\nsys.exit(3)\n")
    monkeypatch.setattr(bench, "LUCID_ORACLE", failing)
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, kl.Conv2D(4, 3, padding="same", name="conv")(inputs))
    with pytest.raises(RuntimeError, match="lucid could not start"):
        bench.LucidTimer(model, "conv", 32, tmp_path)


def test_convs_alone_times_every_convolution(bench):
    """The timer runs a network's convolutions (strided, selected, adjoint or not) and returns seconds."""
    inputs = keras.Input((None, None, 3))
    x = kl.Conv2D(8, 7, strides=2, padding="same")(inputs)
    x = kl.MaxPooling2D(3, strides=2, padding="same")(x)
    x = kl.Conv2D(16, 3, padding="same")(x)
    model = keras.Model(inputs, kl.ReLU()(x))
    for selected in (False, True):
        for adjoint in (False, True):
            seconds = bench.convs_alone_seconds(model, 32, 4, selected=selected, adjoint=adjoint)
            assert 0 < seconds < 10


def test_layers_named_on_the_command_line_win_over_presets(bench):
    """--paper and --quick pick sizes and layers, but --layers narrows them (one layer per device call)."""
    assert bench.parse_args([]).layers == list(bench.LAYERS)
    paper = bench.parse_args(["--paper"])
    assert paper.size == [256] and paper.layers == list(bench.PAPER_LAYERS)
    narrowed = bench.parse_args(["--paper", "--layers", "Mixed_4d_Branch_2_b_3x3"])
    assert narrowed.size == [256] and narrowed.layers == ["Mixed_4d_Branch_2_b_3x3"]
    assert bench.parse_args(["--quick"]).layers == ["Mixed_4d_Branch_2_b_3x3"]


def _tiny_network() -> keras.Model:
    """A conv with its batch norm and ReLU6, then a depthwise layer: what the fused copy folds and keeps."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, None, 3))
    x = kl.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv")(inputs)
    x = kl.BatchNormalization(name="conv_bn")(x)
    x = kl.ReLU(6.0, name="conv_relu")(x)
    x = kl.DepthwiseConv2D(3, padding="same", name="dw")(x)
    return keras.Model(inputs, kl.ReLU(name="dw_relu")(x), name="tiny_net")


def _network_row(strategy: str, seconds: float, diff: float) -> dict:
    return {
        "network": "net",
        "layer": "L",
        "size": 128,
        "strategy": strategy,
        "batch": 8,
        "ms_per_step": 1000 * seconds,
        "step_seconds": seconds,
        "gflops": 1.0,
        "objective_rel_diff": diff,
    }


def test_the_network_table_gives_the_fused_speedup_and_the_objective_check(bench):
    lines = bench.network_table(
        [_network_row("fused", 0.050, 2e-7), _network_row("unfused", 0.075, 0.0)], render_steps=256
    ).splitlines()
    assert "| images/s (256 steps) |" in lines[0]
    assert lines[2] == "| net | L | 128 | fused | 8 | 50.0 | 0.6250 | 1.0 | 1.50x | 2.0e-07 ok |"
    assert lines[3].endswith("| - | - |")
    failing = bench.network_table([_network_row("fused", 0.040, 3e-5)], render_steps=512)
    assert failing.rstrip().endswith("| - | 3.0e-05 FAIL |")


def test_the_objective_check_can_fail(bench):
    """The fused copy of the same model agrees; a renderer of another model's weights does not."""
    from visualizer.render.render import ChannelRenderer

    net = _tiny_network()
    for layer in ("conv_relu", "dw_relu"):
        renderer = ChannelRenderer.from_keywords(net, layer, size=32)
        assert bench.objective_agreement(net, layer, renderer, [0, 3, 7], 32) <= bench.AGREEMENT
    other = _tiny_network()
    other.get_layer("conv_bn").gamma.assign(2.0 * other.get_layer("conv_bn").gamma)
    renderer = ChannelRenderer.from_keywords(other, "dw_relu", size=32)
    assert bench.objective_agreement(net, "dw_relu", renderer, [0, 3, 7], 32) > 0.1


def test_a_short_network_run_writes_its_rows(bench, monkeypatch, tmp_path, capsys):
    """--no-inception times only the other networks: fused and unfused rows, FLOPs, the check, JSON."""
    monkeypatch.setattr(bench, "NETWORKS", {"tiny": ("conv_relu", "dw_relu")})
    monkeypatch.setattr(bench, "build_network", lambda name: _tiny_network())
    report = tmp_path / "render.json"
    bench.main(["--no-inception", "--windows", "1", "--batch", "2", "--json", str(report)])
    out = capsys.readouterr().out
    assert "| tiny | conv_relu | 128 | fused | 2 |" in out and "| tiny | dw_relu | 128 | unfused | 2 |" in out
    rows = json.loads(report.read_text())["networks"]
    assert [(r["layer"], r["strategy"]) for r in rows] == [
        ("conv_relu", "fused"),
        ("conv_relu", "unfused"),
        ("dw_relu", "fused"),
        ("dw_relu", "unfused"),
    ]
    assert all(r["flops_per_image_step"] > 0 and r["step_seconds"] > 0 for r in rows)
    assert rows[2]["flops_per_image_step"] > rows[0]["flops_per_image_step"]
    assert all(r["objective_rel_diff"] <= bench.AGREEMENT for r in rows)
    assert bench.parse_args(["--networks"]).networks == []
