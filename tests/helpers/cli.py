"""The ``vtl`` command line in a process of its own, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def start_vtl(args: list[str], **popen: Any) -> subprocess.Popen:
    """Start ``vtl <args>`` in a fresh interpreter; `popen` goes to `subprocess.Popen` (cwd, pipes, ...).

    TensorFlow's start-up log level is the one `vtl` sets for a user.
    """
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.Popen([sys.executable, "-m", "visualizer.cli", *args], env=env, **popen)
