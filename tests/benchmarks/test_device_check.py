"""Tests for benchmarks/device_check.sh's plumbing, with a stand-in Python (the GPU run needs a device)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "device_check.sh"

GOOD = {
    "backend": "jax",
    "devices": ["gpu:NVIDIA H100"],
    "shape": [2, 24, 24, 3],
    "finite": True,
    "range": [0.3, 0.7],
    "failed": [],
    "same_seed_gap": 0.0,
    "phased_gradient_gap": 1e-3,
}


def run_check(tmp_path: Path, report: dict, *args: str) -> subprocess.CompletedProcess:
    """Run the script with a Python that answers the smoke script with `report` and echoes the benchmark."""
    fake = tmp_path / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'case "$1" in\n'
        "  tests/helpers/backend_smoke.py) echo 'compiling...'; echo \"$SMOKE_REPORT\" ;;\n"
        '  benchmarks/render.py) shift; echo "render.py $*" ;;\n'
        f'  -) exec {sys.executable} "$@" ;;\n'
        "  *) exit 0 ;;\n"
        "esac\n"
    )
    fake.chmod(0o755)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHON": str(fake), "OUT": str(out), "SMOKE_REPORT": json.dumps(report)}
    return subprocess.run(["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def test_default_run_checks_the_render_then_times_the_paper_settings(tmp_path):
    done = run_check(tmp_path, GOOD)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert json.loads((out / "smoke.json").read_text()) == GOOD
    assert "same-seed gap 0.00e+00" in done.stdout
    bench = (out / "bench.txt").read_text()
    assert bench.strip() == (
        "render.py --backend jax --paper --strategies lucid ours --batch 64 --layers Mixed_4d_Branch_2_b_3x3"
    )
    assert (out / "device.txt").exists()


def test_arguments_replace_the_benchmark_defaults(tmp_path):
    done = run_check(tmp_path, GOOD, "--quick", "--batch", "4")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "bench.txt").read_text().strip() == "render.py --backend jax --quick --batch 4"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"failed": [2]}, "failed channels"),
        ({"finite": False}, "non-finite"),
        ({"range": [0.0, 1.5]}, "outside"),
    ],
)
def test_a_bad_small_render_stops_before_the_benchmark(tmp_path, change, message):
    done = run_check(tmp_path, {**GOOD, **change})
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "out" / "bench.txt").exists()
