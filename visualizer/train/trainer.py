"""Train the models of a config, with snapshots, resumable and reproducible.

For each model (config order, parents first):

- ``source = "checkpoint"``: build with slim's logits head, load the TF1
  checkpoint, save it as snapshot ``final``;
- ``source = "pretrain"``: train a fresh network on its dataset;
- ``source = "keras"``: import the model file (or every snapshot of a runs
  folder) on images in [0, 1] (`visualizer.models.own.load_keras_source`);
- ``source = "zoo"``: build the network with its published weights
  (`visualizer.models.zoo`) and write it as the model's ``final``;
- ``source = "frozen_graph"``: nothing to train; the graph is read where it
  is rendered; a transfer from it gets the graph with its weights as
  variables (`visualizer.models.frozen_trainable`), cut in the graph;
- ``source = "transfer"``: take the parent's ``final`` model; an InceptionV1
  parent's base network (all 57 conv layers, by name) is copied into a fresh
  network with the configured head, any other parent is cut at its last
  feature map or ``base_layer`` (`visualizer.train.any_parent`); then
  fine-tune everything but the layers in ``freeze``.

Training: Adam (the config's learning rate), batch norm in training mode with
moving statistics updated at ``batch_norm_momentum`` (Keras's 0.99 by
default; the statistics are what the renderer sees, since it runs the
network in inference mode). A snapshot ``iter_N`` is written before step N
runs (``iter_000000`` holds the parent's base with the new, untrained head),
each with its validation metric; ``final`` after the last step. At every
snapshot (and every ``resume_every`` steps) the resume state is saved too,
so an interrupted run restarts from its last snapshot and produces the same
later snapshots as an uninterrupted one. A model whose ``final`` exists is
not trained again.
"""

from __future__ import annotations

import functools
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np
from tqdm.auto import tqdm

from visualizer.config import Config, ConfigError, ModelConfig
from visualizer.data.base import Dataset
from visualizer.data.loader import open_dataset
from visualizer.models import inception_v1
from visualizer.train import tf_backend
from visualizer.train.any_parent import freeze_layers, transfer_network
from visualizer.train.evaluate import Evaluation, evaluate, metric_name
from visualizer.train.heads import copy_base_weights, new_model, set_batch_norm_momentum
from visualizer.train.plan import model_hash, training_plan
from visualizer.train.prefetch import prefetch
from visualizer.train.resume import ResumeState, clear_resume, load_resume, save_resume
from visualizer.train.snapshots import FINAL, load_snapshot, read_meta, snapshot_name, write_snapshot

__all__ = ["StepCallback", "TrainError", "TrainResult", "train_all", "train_model"]

EVAL_BATCH = 64  # validation images per forward pass
CHECKPOINT_CLASSES = 1001  # the slim ImageNet release: class 0 is "background"

StepCallback = Callable[[str, int], None]


class TrainError(RuntimeError):
    """Training cannot start or continue (stale resume state, wrong backend...)."""


@dataclass
class TrainResult:
    """What happened to one model."""

    model: str
    status: str  # "trained", "resumed", "finished before" or "loaded"
    steps: int
    seconds: float
    metric_name: str | None
    metric: float | None
    baseline: float | None  # the metric of the best constant prediction
    skipped_images: int = 0


def _say(message: str, progress: bool) -> None:
    if progress:
        tqdm.write(message)


def _model_seed(config: Config, name: str) -> int:
    text = f"{config.project.seed}/{name}".encode()
    return int(hashlib.sha256(text).hexdigest()[:8], 16)


def _meta(config: Config, model: ModelConfig, snapshot: str, iteration: int, **facts: Any) -> dict[str, Any]:
    return {
        "model": model.name,
        "snapshot": snapshot,
        "iteration": iteration,
        "is_final": snapshot == FINAL,
        "head": model.head,
        "width": config.network.width if config.is_inception(model.name) else None,
        "image_size": config.image_size(model.name),
        "parent": model.parent if model.source == "transfer" else None,
        "config_hash": model_hash(config, model.name),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "description": model.description,
        **facts,
    }


def _load_checkpoint(config: Config, model: ModelConfig, progress: bool) -> TrainResult:
    start = time.perf_counter()
    network = inception_v1.build(CHECKPOINT_CLASSES, "logits", config.network.width)
    inception_v1.load_slim_checkpoint(network, config.resolve_path(model.checkpoint))
    meta = _meta(
        config,
        model,
        FINAL,
        0,
        dataset="ImageNet (ILSVRC-2012), TF-slim checkpoint",
        dataset_kind="checkpoint",
        num_classes=CHECKPOINT_CLASSES,
        class_names=[],
        multi_label=False,
        loss=None,
        metric_name="accuracy",
        metric=None,
    )
    write_snapshot(config.resolve_path(config.project.runs_dir), network, meta)
    _say(f"{model.name}: loaded {model.checkpoint} as {model.name}/final", progress)
    return TrainResult(model.name, "loaded", 0, time.perf_counter() - start, "accuracy", None, None)


def _import_keras(config: Config, model: ModelConfig, progress: bool) -> TrainResult:
    """Write a ``keras`` source's model (or each snapshot of its runs folder) into the runs directory."""
    from visualizer.models.own import load_keras_source, runs_folder_snapshots

    start = time.perf_counter()
    path = config.model_path(model)
    entries = runs_folder_snapshots(path) if path.is_dir() else [(FINAL, path, {})]
    for snapshot, where, old in entries:
        file = where / "model.keras" if where.is_dir() else where
        _write_imported(config, model, snapshot, load_keras_source(file, tuple(model.input_range)), old)
    _say(f"{model.name}: imported {path} ({len(entries)} snapshot(s))", progress)
    return TrainResult(model.name, "loaded", 0, time.perf_counter() - start, "accuracy", None, None)


def _import_zoo(config: Config, model: ModelConfig, progress: bool) -> TrainResult:
    """Build a ``zoo`` network with its published weights and write it as the model's ``final`` snapshot."""
    from visualizer.models.zoo import zoo_network

    start = time.perf_counter()
    entry = zoo_network(model.network)
    _write_imported(config, model, FINAL, entry.build(), {})
    _say(f"{model.name}: built {entry.label} with weights from {entry.weights}", progress)
    return TrainResult(model.name, "loaded", 0, time.perf_counter() - start, "accuracy", None, None)


def _write_imported(
    config: Config, model: ModelConfig, snapshot: str, network: keras.Model, old: dict
) -> None:
    """Write one imported (not trained) snapshot, keeping what an imported runs folder's `old` meta says."""
    classes = int(network.output.shape[-1]) if len(network.outputs) == 1 else 0
    meta = _meta(
        config,
        model,
        snapshot,
        int(old.get("iteration", 0)),
        dataset=old.get("dataset")
        or (model.dataset.world or model.dataset.kind if _has_dataset(model) else ""),
        dataset_kind=old.get("dataset_kind") or (model.dataset.kind if _has_dataset(model) else model.source),
        num_classes=old.get("num_classes", classes),
        class_names=old.get("class_names", []),
        multi_label=old.get("multi_label", model.multi_label),
        loss=old.get("loss"),
        metric_name=old.get("metric_name", "accuracy"),
        metric=old.get("metric"),
    )
    meta["is_final"] = snapshot == FINAL
    meta["head"] = old.get("head")  # the model's own, not the config's default for transfers
    write_snapshot(config.resolve_path(config.project.runs_dir), network, meta)


def _has_dataset(model: ModelConfig) -> bool:
    """Whether a model names a dataset (optional for ``keras`` models): a world or a real one."""
    return model.dataset.kind != "world" or bool(model.dataset.world)


def _frozen_graph(config: Config, model: ModelConfig, progress: bool) -> TrainResult:
    """Check a ``frozen_graph`` source (its ops and its input) and record it; it is rendered from its file."""
    from visualizer.models.frozen_source import check_frozen_graph

    check_frozen_graph(config, model)
    _say(f"{model.name}: {config.model_path(model)} is a frozen graph; nothing to train.", progress)
    return TrainResult(model.name, "loaded", 0, 0.0, None, None, None)


def _open(config: Config, model: ModelConfig) -> Dataset:
    root = config.resolve_path(model.dataset.path) if model.dataset.path else None
    dataset = open_dataset(model.dataset, root, config.image_size(model.name), config.project.seed)
    if dataset.multi_label != model.multi_label:
        raise ConfigError(
            f"model {model.name!r}: multi_label = {str(model.multi_label).lower()}, but {dataset.name} is "
            f"{'multi-label' if dataset.multi_label else 'single-label'}; "
            f"set multi_label = {str(dataset.multi_label).lower()}."
        )
    return dataset


@functools.lru_cache(maxsize=1)
def _parent_network(folder: str, stamp: int) -> keras.Model:
    """The parent's final model, loaded once for all its children (`stamp`: meta.json's mtime)."""
    path = Path(folder)
    return load_snapshot(path.parent.parent, path.parent.name, path.name)[0]


def _parent_final(config: Config, model: ModelConfig) -> keras.Model:
    parent = config.model(model.parent)
    if parent.source == "frozen_graph":  # no runs folder: the graph itself, its weights as variables
        from visualizer.models.frozen_source import frozen_parent_network

        return frozen_parent_network(config, parent)
    final = config.resolve_path(config.project.runs_dir) / model.parent / FINAL
    stamp = (final / "meta.json").stat().st_mtime_ns if (final / "meta.json").exists() else 0
    return _parent_network(str(final), stamp)


def _build(config: Config, model: ModelConfig, dataset: Dataset) -> keras.Model:
    keras.utils.set_random_seed(_model_seed(config, model.name))
    if config.is_inception(model.name):
        network = new_model(dataset.num_classes, model.head, config.network.width, dataset.multi_label)
        if model.source == "transfer":
            copy_base_weights(_parent_final(config, model), network)
    else:
        network = transfer_network(
            _parent_final(config, model),
            dataset.num_classes,
            model.head,
            dataset.multi_label,
            model.base_layer,
            source=f"model {model.parent!r}",
        )
    freeze_layers(network, model.freeze, f"model {model.name!r}")
    set_batch_norm_momentum(network, model.batch_norm_momentum)
    return network


def _restore(
    folder: Path, digest: str, network: keras.Model, optimizer: tf_backend.Adam
) -> ResumeState | None:
    state = load_resume(folder)
    if state is None:
        return None
    if state.config_hash != digest:
        raise TrainError(
            f"{folder / '_resume'} was written with other settings (config hash {state.config_hash}, now "
            f"{digest}); delete {folder} to train this model from the start."
        )
    paths = [variable.path for variable in network.variables]
    if paths != state.model_paths:
        raise TrainError(f"{folder / '_resume'} does not match the model's variables; delete {folder}.")
    for variable, value in zip(network.variables, state.model_variables):
        variable.assign(value)
    optimizer.set_state(state.optimizer_variables)
    return state


def _finished_before(
    model: ModelConfig, folder: Path, digest: str, finished: dict[str, Any], progress: bool
) -> TrainResult:
    """The result for a model whose ``final`` snapshot exists (it is not trained again)."""
    if finished["config_hash"] != digest:
        _say(
            f"{model.name}: already trained with other settings (config hash {finished['config_hash']}, "
            f"now {digest}); delete {folder} to retrain it.",
            progress,
        )
    else:
        _say(f"{model.name}: already trained ({folder / FINAL}).", progress)
    return TrainResult(
        model.name,
        "finished before",
        finished["iteration"],
        0.0,
        finished["metric_name"],
        finished["metric"],
        None,
    )


def _require_tensorflow() -> None:
    if keras.backend.backend() != "tensorflow":
        raise TrainError(
            f"Training runs on the TensorFlow backend (visualizer/train/tf_backend.py); "
            f"KERAS_BACKEND is {keras.backend.backend()!r}. Run with KERAS_BACKEND=tensorflow."
        )


def _total_steps(model: ModelConfig, dataset: Dataset) -> int:
    """The model's number of steps, checked against its snapshot schedule."""
    total = model.steps or model.epochs * dataset.steps_per_epoch(model.batch_size)
    if any(i >= total for i in model.snapshots):
        raise ConfigError(
            f"model {model.name!r}: snapshots {model.snapshots} must be below its {total} steps."
        )
    return total


def _dataset_facts(dataset: Dataset) -> dict[str, Any]:
    """The dataset's entries in every snapshot's meta."""
    return {
        "dataset": dataset.name,
        "dataset_kind": dataset.kind,
        "num_classes": dataset.num_classes,
        "class_names": dataset.class_names,
        "multi_label": dataset.multi_label,
        "metric_name": metric_name(dataset.multi_label),
    }


@dataclass
class _Run:
    """One model being trained: its data, network and optimizer, and where it stands."""

    config: Config
    model: ModelConfig
    runs_dir: Path
    folder: Path  # runs_dir / model name
    digest: str  # the model's config hash
    dataset: Dataset
    total: int
    network: keras.Model
    optimizer: tf_backend.Adam
    train_step: tf_backend.StepFunction
    predict: Callable[[np.ndarray], np.ndarray]
    start: int  # the first step to run: earlier ones were restored from the resume state
    resumed: bool
    facts: dict[str, Any]  # `_dataset_facts`
    loss: float | None  # of the latest step (restored with the resume state)


def _start_run(config: Config, model: ModelConfig, runs_dir: Path, digest: str, progress: bool) -> _Run:
    """Open the data, build the network and optimizer, and restore them from a resume point if any."""
    folder = runs_dir / model.name
    dataset = _open(config, model)
    total = _total_steps(model, dataset)
    network = _build(config, model, dataset)
    optimizer = tf_backend.Adam(network.trainable_variables, model.learning_rate)
    state = _restore(folder, digest, network, optimizer)
    _say(f"{model.name}: {dataset.describe()}; {total} steps of batch {model.batch_size}", progress)
    if state:
        _say(f"{model.name}: resuming at step {state.step} from {folder / '_resume'}", progress)
    return _Run(
        config=config,
        model=model,
        runs_dir=runs_dir,
        folder=folder,
        digest=digest,
        dataset=dataset,
        total=total,
        network=network,
        optimizer=optimizer,
        train_step=tf_backend.make_train_step(network, optimizer, dataset.multi_label),
        predict=tf_backend.make_predict(network),
        start=state.step if state else 0,
        resumed=state is not None,
        facts=_dataset_facts(dataset),
        loss=state.extra.get("loss") if state else None,
    )


def _save_resume_point(run: _Run, step: int) -> None:
    variables = run.network.variables
    state = ResumeState(
        step,
        run.digest,
        [variable.numpy() for variable in variables],
        [variable.path for variable in variables],
        run.optimizer.get_state(),
        {"loss": run.loss},
    )
    save_resume(run.folder, state)


def _snapshot(run: _Run, step: int, name: str, progress: bool) -> Evaluation:
    """Evaluate the network and write it as snapshot `name` with its meta."""
    result = evaluate(run.predict, run.dataset, EVAL_BATCH)
    meta = _meta(run.config, run.model, name, step, loss=run.loss, metric=result.metric, **run.facts)
    write_snapshot(run.runs_dir, run.network, meta)
    _say(f"  {run.model.name}/{name}: validation {run.facts['metric_name']} {result.metric:.3f}", progress)
    return result


def _save_due_before(run: _Run, step: int, schedule: set[int], progress: bool) -> None:
    """Write the snapshot and resume state due before `step` runs, if any."""
    # The snapshot at a resumed run's first step was written before the interruption.
    if step in schedule and not (step == run.start and read_meta(run.folder / snapshot_name(step))):
        _snapshot(run, step, snapshot_name(step), progress)
        _save_resume_point(run, step)
    elif run.model.resume_every and step > run.start and step % run.model.resume_every == 0:
        _save_resume_point(run, step)


def _run_steps(run: _Run, progress: bool, on_step: StepCallback | None) -> None:
    """Train from `run.start` to `run.total`, writing snapshots and resume points on the way."""
    model, dataset = run.model, run.dataset
    schedule = set(model.snapshots)
    bar = tqdm(
        total=run.total,
        initial=run.start,
        desc=model.name,
        unit="step",
        disable=not progress,
        dynamic_ncols=True,
    )
    smoothed: float | None = None
    steps = range(run.start, run.total)
    batches = prefetch(lambda step: dataset.train_batch(step, model.batch_size), steps)
    try:
        for step, (images, labels) in zip(steps, batches):
            _save_due_before(run, step, schedule, progress)
            run.loss, batch_metric = run.train_step(images, labels)
            smoothed = batch_metric if smoothed is None else 0.9 * smoothed + 0.1 * batch_metric
            bar.update(1)
            bar.set_postfix(loss=f"{run.loss:.4f}", train_metric=f"{smoothed:.3f}", refresh=False)
            if on_step is not None:
                on_step(model.name, step + 1)
    finally:
        bar.close()
        batches.close()


def _finish(run: _Run, began: float, progress: bool) -> TrainResult:
    """Write the ``final`` snapshot, drop the resume state and report."""
    final = _snapshot(run, run.total, FINAL, progress)
    clear_resume(run.folder)
    skipped = run.dataset.skipped
    if skipped:
        _say(f"{run.model.name}: skipped {skipped} unreadable image(s) of {run.dataset.name}", progress)
    return TrainResult(
        run.model.name,
        "resumed" if run.resumed else "trained",
        run.total,
        time.perf_counter() - began,
        run.facts["metric_name"],
        final.metric,
        final.baseline,
        skipped,
    )


def train_model(
    config: Config,
    model: ModelConfig,
    progress: bool = True,
    on_step: StepCallback | None = None,
) -> TrainResult:
    """Train (or load, or skip) one model and write its snapshots.

    Args:
        config: the experiment.
        model: one of ``config.models``; its parent's ``final`` must exist.
        progress: show a progress bar and per-snapshot lines.
        on_step: called as ``on_step(model_name, steps_done)`` after each
            step (an exception raised there interrupts training, as a crash would).

    Returns:
        A `TrainResult`.
    """
    runs_dir = config.resolve_path(config.project.runs_dir)
    digest = model_hash(config, model.name)
    finished = read_meta(runs_dir / model.name / FINAL)
    if finished is not None and model.source in ("keras", "zoo") and finished["config_hash"] != digest:
        finished = None  # the file changed: nothing is trained, so it is imported again
    if finished is not None:
        return _finished_before(model, runs_dir / model.name, digest, finished, progress)
    if model.source == "checkpoint":
        return _load_checkpoint(config, model, progress)
    if model.source == "keras":
        return _import_keras(config, model, progress)
    if model.source == "zoo":
        return _import_zoo(config, model, progress)
    if model.source == "frozen_graph":
        return _frozen_graph(config, model, progress)
    _require_tensorflow()
    tf_backend.enable_determinism()
    began = time.perf_counter()
    run = _start_run(config, model, runs_dir, digest, progress)
    _run_steps(run, progress, on_step)
    return _finish(run, began, progress)


def train_all(
    config: Config,
    models: list[str] | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
) -> list[TrainResult]:
    """Train every model of `config` (or those named), parents first.

    All inputs are checked before anything is trained: missing checkpoints
    or dataset files are listed together with what to download.

    Args:
        config: the experiment (`visualizer.config.load_config`).
        models: model names to train (None: all); a parent without a final
            snapshot is trained too.
        progress: progress bars with loss and metric, and a line per snapshot.
        on_step: called as ``on_step(model_name, steps_done)`` after each step.

    Returns:
        One `TrainResult` per model, in training order.

    Raises:
        ConfigError: unknown model names or bad training settings.
        MissingInputsError: inputs not on disk (nothing is trained).
        TrainError: resume state from other settings, or a non-TensorFlow backend.
    """
    plan = training_plan(config, models)
    return [train_model(config, model, progress, on_step) for model in plan]
