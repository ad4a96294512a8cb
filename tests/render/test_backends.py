"""The renderer on the other Keras backends, each in its own process (the backend is fixed at import)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

SMOKE = ROOT / "tests" / "helpers" / "backend_smoke.py"


def run_backend(name: str) -> dict:
    """Run the smoke script under KERAS_BACKEND=name and return its JSON report."""
    env = {**os.environ, "KERAS_BACKEND": name, "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, str(SMOKE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tensorflow", "jax", "torch"])
def test_smoke_render_on_backend(name):
    """A small render runs, repeats itself and returns images in [0, 1] on each backend; gradients agree."""
    if importlib.util.find_spec(name) is None:
        pytest.skip(f"the {name} backend is not installed (pip install {name}) in this environment")
    report = run_backend(name)
    assert report["backend"] == name
    assert report["shape"] == [2, 24, 24, 3] and report["finite"] and report["failed"] == []
    assert 0.0 <= report["range"][0] <= report["range"][1] <= 1.0
    # The strided convolution's phased input gradient (visualizer.render.fused) on this backend's autodiff.
    assert report["phased_gradient_gap"] < 1e-5
    assert report["same_seed_gap"] == 0.0, "the same seed gives the same images on the same backend"
    # A backend that compiles per shape (JAX) renders on the fixed canvas by default; the others on Lucid's.
    assert report["scale_canvas"] == ("fixed" if name == "jax" else "lucid")
