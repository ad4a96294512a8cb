"""The runs directory: one folder per model snapshot (docs/formats.md).

::

    <runs_dir>/<model>/<snapshot>/model.keras   the whole Keras model
    <runs_dir>/<model>/<snapshot>/meta.json     written last: marks a complete snapshot

Snapshots are ``iter_000010`` (after 10 optimizer steps) and ``final``. Both
files are written to a temporary name and renamed, so a crash never leaves a
snapshot that looks complete but is not. Reading needs no Keras until a
model is loaded.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

__all__ = [
    "FINAL",
    "META_KEYS",
    "list_snapshots",
    "load_snapshot",
    "read_meta",
    "snapshot_dir",
    "snapshot_name",
    "write_json_atomic",
    "write_snapshot",
]

FINAL = "final"
MODEL_FILE = "model.keras"
META_FILE = "meta.json"
META_KEYS = (
    "model", "snapshot", "iteration", "is_final", "dataset", "dataset_kind", "num_classes",
    "class_names", "head", "multi_label", "width", "image_size", "loss", "metric_name", "metric",
    "parent", "config_hash", "created", "description",
)  # fmt: skip


def snapshot_name(iteration: int) -> str:
    """The folder name of the snapshot taken after `iteration` steps: ``iter_000010``."""
    if iteration < 0:
        raise ValueError(f"A snapshot iteration must be >= 0, received {iteration}.")
    return f"iter_{iteration:06d}"


def snapshot_dir(runs_dir: str | os.PathLike, model: str, snapshot: str) -> Path:
    """``<runs_dir>/<model>/<snapshot>``."""
    return Path(runs_dir) / model / snapshot


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` through a temporary file in the same folder and a rename."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(temporary, path)


def read_meta(folder: Path) -> dict[str, Any] | None:
    """The meta of a complete snapshot folder, or None when it is incomplete or absent."""
    try:
        meta = json.loads((folder / META_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return meta if (folder / MODEL_FILE).exists() else None


def write_snapshot(runs_dir: str | os.PathLike, model, meta: dict[str, Any]) -> Path:
    """Save a Keras model and its meta as a complete snapshot.

    An existing snapshot of the same name is replaced; its old meta is
    removed first, so the folder never pairs a new model with an old meta.

    Args:
        runs_dir: the runs directory.
        model: the `keras.Model` to save (uncompiled: no optimizer in the file).
        meta: every key of `META_KEYS`; ``meta["model"]`` and
            ``meta["snapshot"]`` name the folder.

    Returns:
        The snapshot folder.
    """
    missing = [key for key in META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"Snapshot meta lacks {', '.join(missing)}.")
    folder = snapshot_dir(runs_dir, meta["model"], meta["snapshot"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META_FILE).unlink(missing_ok=True)
    temporary = folder / f".model.{os.getpid()}.keras"  # Keras insists on the suffix
    model.save(temporary)
    os.replace(temporary, folder / MODEL_FILE)
    write_json_atomic(folder / META_FILE, {key: meta[key] for key in META_KEYS})
    return folder


def list_snapshots(runs_dir: str | os.PathLike, model: str) -> list[dict[str, Any]]:
    """The metas of the complete snapshots of `model`, ordered by iteration.

    Args:
        runs_dir: the runs directory.
        model: the model name.

    Returns:
        A list of meta dicts (``final`` after the ``iter_`` snapshots of the
        same iteration); empty when the model has none.
    """
    folder = Path(runs_dir) / model
    if not folder.is_dir():
        return []
    metas = [meta for child in folder.iterdir() if child.is_dir() and (meta := read_meta(child))]
    return sorted(metas, key=lambda meta: (meta["iteration"], bool(meta["is_final"]), meta["snapshot"]))


def load_snapshot(runs_dir: str | os.PathLike, model: str, snapshot: str):
    """Load one snapshot.

    Args:
        runs_dir: the runs directory.
        model: the model name.
        snapshot: ``"final"`` or ``"iter_000010"``...

    Returns:
        ``(keras.Model, meta)``; the model takes images in [0, 1].

    Raises:
        FileNotFoundError: the snapshot is missing or incomplete; the
            message lists the model's complete snapshots.
    """
    folder = snapshot_dir(runs_dir, model, snapshot)
    meta = read_meta(folder)
    if meta is None:
        available = [m["snapshot"] for m in list_snapshots(runs_dir, model)]
        raise FileNotFoundError(
            f"No complete snapshot {model}/{snapshot} in {Path(runs_dir)} (expected {folder / META_FILE}); "
            f"complete snapshots of {model!r}: {', '.join(available) or 'none'}."
        )
    from visualizer.models.saved import load_saved_model

    return load_saved_model(folder / MODEL_FILE), meta
