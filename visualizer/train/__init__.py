"""Transfer learning with snapshots: the ``train`` stage.

Writes the runs directory of docs/formats.md: ``<runs_dir>/<model>/<snapshot>/``
with ``model.keras`` and ``meta.json``.

- `train_all(config, models=None, progress=True)` trains what a config describes;
- `list_snapshots(runs_dir, model)` returns the metas of a model's complete
  snapshots, ordered by iteration;
- `load_snapshot(runs_dir, model, snapshot)` returns ``(keras.Model, meta)``.

Importing this package is light (no Keras or TensorFlow): the trainer is
imported on first use of `train_all`.
"""

from __future__ import annotations

from typing import Any

from visualizer.train.snapshots import list_snapshots, load_snapshot

__all__ = ["list_snapshots", "load_snapshot", "train_all"]


def __getattr__(name: str) -> Any:
    # `train_all` lives in the trainer, which imports Keras and TensorFlow:
    # load it on first access so that importing this package stays light.
    if name == "train_all":
        from visualizer.train.trainer import train_all

        return train_all
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
