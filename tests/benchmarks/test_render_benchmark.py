"""Tests for benchmarks/render.py's tables and its convolutions-alone timer (not its timings)."""

from __future__ import annotations

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
