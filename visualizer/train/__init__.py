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

from typing import TYPE_CHECKING

from visualizer.train.snapshots import list_snapshots, load_snapshot

if TYPE_CHECKING:
    from visualizer.config import Config
    from visualizer.train.trainer import StepCallback, TrainResult

__all__ = ["list_snapshots", "load_snapshot", "train_all"]


def train_all(
    config: Config,
    models: list[str] | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
) -> list[TrainResult]:
    """Train every model of `config` (or those named), parents first.

    Args:
        config: the experiment (`visualizer.config.load_config`).
        models: model names to train (None: all); a parent without a final
            snapshot is trained too. Finished models are not trained again.
        progress: progress bars with loss and metric, and a line per snapshot.
        on_step: called as ``on_step(model_name, steps_done)`` after each step.

    Returns:
        One `visualizer.train.trainer.TrainResult` per model, in training order.

    Raises:
        visualizer.config.ConfigError: unknown model names or bad training settings.
        visualizer.train.plan.MissingInputsError: listing every missing
            checkpoint and dataset path with what to download; nothing is trained.
        visualizer.train.trainer.TrainError: resume state written with other
            settings, or a non-TensorFlow backend.
    """
    from visualizer.train.trainer import train_all as run

    return run(config, models, progress, on_step)
