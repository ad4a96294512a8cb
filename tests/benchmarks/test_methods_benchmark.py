"""Tests for benchmarks/methods.py: what each method row renders, and one short run (not its timings)."""

from __future__ import annotations

import pytest

from tests.helpers.benchmark_scripts import load_benchmark
from visualizer.models import inception_v1


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("methods")


def test_each_row_renders_its_method(bench):
    model = inception_v1.build(width=0.125)
    renderer, channels = bench.method_render(model, "Conv2d_2c_3x3", "diversity", 32, 8)
    assert channels == [0, 0, 0, 0, 1, 1, 1, 1] and renderer.objective.diversity_group == 4
    renderer, channels = bench.method_render(model, "Conv2d_2c_3x3", "negative", 32, 8)
    assert renderer.layer == "Conv2d_2c_3x3_bn" and renderer.objective.objective == "negative"
    assert channels == list(range(8))
    renderer, _ = bench.method_render(model, "Conv2d_2c_3x3", "neuron", 32, 8)
    assert renderer.objective.objective == "neuron" and renderer.selects_channels


def test_a_short_run_prints_a_row_per_method(bench, capsys):
    bench.main(
        [
            "--size",
            "32",
            "--images",
            "4",
            "--width",
            "0.125",
            "--steps",
            "1",
            "--windows",
            "1",
            "--layers",
            "Conv2d_2b_1x1",
        ]
    )
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| Conv2d_2b_1x1 |")]
    assert [row.split(" | ")[1] for row in rows] == ["lucid", "neuron", "negative", "diversity"]
    assert rows[0].endswith("| 1.00x |")
    with pytest.raises(SystemExit):
        bench.main(["--images", "6"])
