"""Shared test setup: quiet TensorFlow, a deterministic default backend, small fixtures."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "helpers"  # scripts run by path in subprocesses; modules import as tests.helpers.*

# Before any test module imports Keras (and so TensorFlow): the tests run with the project's own TensorFlow
# settings (oneDNN on, its larger kernel cache), as `vtl` and the benchmarks do.
import visualizer  # noqa: E402, F401
