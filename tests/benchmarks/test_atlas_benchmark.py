"""Tests for benchmarks/atlas.py: its pixel comparison and one short run (not its timings)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.helpers.benchmark_scripts import load_benchmark
from tests.helpers.fake_runs import write_tiny_experiment
from visualizer.pngio import write_png_atomic


@pytest.fixture(scope="module")
def bench():
    return load_benchmark("atlas")


def _atlas(root: Path, pixels: dict[str, np.ndarray]) -> Path:
    for relpath, image in pixels.items():
        path = root / "images" / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        write_png_atomic(path, image, {"vtl:key": relpath})
    return root


def test_same_pixels_sees_one_changed_pixel_and_a_missing_image(bench, tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    changed = image.copy()
    changed[3, 4, 1] ^= 1
    reference = _atlas(tmp_path / "a", {"m/s/x/L/0000.png": image, "m/s/x/L/0001.png": image})
    assert bench.same_pixels(
        reference, _atlas(tmp_path / "b", {"m/s/x/L/0000.png": image, "m/s/x/L/0001.png": image})
    )
    assert not bench.same_pixels(
        reference, _atlas(tmp_path / "c", {"m/s/x/L/0000.png": image, "m/s/x/L/0001.png": changed})
    )
    assert not bench.same_pixels(reference, _atlas(tmp_path / "d", {"m/s/x/L/0000.png": image}))


@pytest.mark.slow
def test_one_and_two_workers_agree_in_the_table(bench, tmp_path, capsys):
    config = write_tiny_experiment(tmp_path, steps=2, channels=2)
    bench.main(["--config", str(config), "--workers", "1", "2"])
    rows = [
        line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()
    ]
    assert [row.split("|")[1].strip() for row in rows] == ["1", "2"]
    assert all(row.rstrip(" |").endswith("yes | yes") for row in rows), rows
