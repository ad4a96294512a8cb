"""Resume state: what an interrupted run needs to continue exactly.

``<runs_dir>/<model>/_resume/state.npz`` holds every model variable (weights
and batch-norm moving statistics), the optimizer's variables and a JSON
header (step, config hash, last loss). No data-loader or RNG state is
needed: batch ``t`` is a pure function of the seed and ``t``
(`visualizer.data.base`), and the training step draws no random numbers.
The file is written to a temporary name and renamed.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["RESUME_DIR", "ResumeState", "clear_resume", "load_resume", "save_resume"]

RESUME_DIR = "_resume"
_STATE = "state.npz"


@dataclass
class ResumeState:
    """A saved training position."""

    step: int
    config_hash: str
    model_variables: list[np.ndarray]
    model_paths: list[str]
    optimizer_variables: list[np.ndarray]
    extra: dict[str, Any]


def save_resume(folder: Path, state: ResumeState) -> Path:
    """Write `state` to ``<folder>/_resume/state.npz`` atomically; returns the file."""
    target = folder / RESUME_DIR
    target.mkdir(parents=True, exist_ok=True)
    header = {
        "step": state.step,
        "config_hash": state.config_hash,
        "model_paths": state.model_paths,
        "extra": state.extra,
    }
    arrays = {f"model_{i:04d}": value for i, value in enumerate(state.model_variables)}
    arrays.update({f"optimizer_{i:04d}": value for i, value in enumerate(state.optimizer_variables)})
    buffer = io.BytesIO()
    np.savez(buffer, header=np.array(json.dumps(header)), **arrays)
    temporary = target / f".{_STATE}.{os.getpid()}.tmp"
    temporary.write_bytes(buffer.getvalue())
    os.replace(temporary, target / _STATE)
    return target / _STATE


def load_resume(folder: Path) -> ResumeState | None:
    """Read the resume state under `folder`, or None when there is none."""
    path = folder / RESUME_DIR / _STATE
    if not path.exists():
        return None
    with np.load(path) as data:
        header = json.loads(str(data["header"]))
        model = sorted(key for key in data.files if key.startswith("model_"))
        optimizer = sorted(key for key in data.files if key.startswith("optimizer_"))
        return ResumeState(
            step=int(header["step"]),
            config_hash=header["config_hash"],
            model_variables=[data[key] for key in model],
            model_paths=list(header["model_paths"]),
            optimizer_variables=[data[key] for key in optimizer],
            extra=dict(header.get("extra", {})),
        )


def clear_resume(folder: Path) -> None:
    """Remove the resume state of a finished model."""
    shutil.rmtree(folder / RESUME_DIR, ignore_errors=True)
