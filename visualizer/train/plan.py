"""What `vtl train` will do, checked before any training starts.

`training_plan` picks the models to train (the requested ones plus any
ancestor without a final snapshot), in config order, and checks that every
input exists, listing all missing paths at once with what to download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

from visualizer.config import Config, ConfigError, ModelConfig, model_settings
from visualizer.data.loader import DOWNLOADS, missing_inputs
from visualizer.train.snapshots import FINAL, read_meta, snapshot_dir

__all__ = ["MissingInputsError", "checkpoint_missing", "model_hash", "training_plan"]


class MissingInputsError(FileNotFoundError):
    """Checkpoints or datasets a config needs are not on disk."""


def _zoo_network(key: str):  # noqa: ANN202 (a visualizer.models.zoo.ZooNetwork)
    """The zoo's entry for `key` (`visualizer.models.zoo`, imported here only when a config has one)."""
    from visualizer.models.zoo import zoo_network

    return zoo_network(key)


def model_hash(config: Config, name: str) -> str:
    """A short hash of everything that determines a model's weights.

    It covers the model's own settings, the network, the project seed and,
    through the parent's hash, its whole ancestry; the render settings and
    descriptions do not count.
    """
    model = config.model(name)
    settings = model_settings(model)
    settings.pop("description")
    network = dataclasses.asdict(config.network)
    if not config.is_inception(name) and model.source != "transfer":
        network = {}  # [network] shapes only the networks the project builds or trains
    payload = {
        "model": settings,
        "network": network,
        "seed": config.project.seed,
        "parent": model_hash(config, model.parent) if model.source == "transfer" else None,
    }
    if model.source in ("keras", "frozen_graph"):
        payload["file"] = _file_digest(config.model_path(model))
    if model.source == "zoo":
        payload["file"] = _zoo_network(model.network).weights_sha256
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


def _file_digest(path: Path) -> str | None:
    """SHA-256 of a model file, or of a runs folder's ``meta.json`` files and model sizes; None if missing."""
    digest = hashlib.sha256()
    if path.is_dir():
        for meta in sorted(path.glob("*/meta.json")):
            digest.update(meta.read_bytes())
            model = meta.with_name("model.keras")
            digest.update(str(model.stat().st_size if model.exists() else -1).encode())
    elif path.is_file():
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    else:
        return None
    return digest.hexdigest()


def checkpoint_missing(prefix: Path) -> bool:
    """True when no TF checkpoint is at `prefix` (``<prefix>.index``, or a folder with a checkpoint)."""
    if prefix.is_dir():
        return not (prefix / "checkpoint").exists() and not any(prefix.glob("*.index"))
    return not Path(f"{prefix}.index").exists()


def _check_settings(config: Config, model: ModelConfig) -> None:
    where = f"model {model.name!r}"
    if model.source == "zoo":
        _zoo_network(model.network)  # one line naming the zoo when the key is not in it
    if model.source in ("checkpoint", "keras", "frozen_graph", "zoo"):
        if model.snapshots:
            raise ConfigError(
                f"{where}: a {model.source} model's snapshots are its own ('final', or a keras runs "
                f"folder's); remove snapshots {model.snapshots}."
            )
        return
    if model.head == "logits":
        raise ConfigError(f"{where}: head 'logits' comes only from a checkpoint; valid: dense, single_dense.")
    if model.steps < 0 or model.epochs < 0 or (model.steps == 0 and model.epochs == 0):
        raise ConfigError(
            f"{where}: set steps or epochs to a positive number, received steps={model.steps}, "
            f"epochs={model.epochs}."
        )
    if model.batch_size < 1 or model.learning_rate <= 0:
        raise ConfigError(
            f"{where}: batch_size and learning_rate must be positive, received "
            f"batch_size={model.batch_size}, learning_rate={model.learning_rate}."
        )
    bad = [i for i in model.snapshots if i < 0]
    if bad or len(set(model.snapshots)) != len(model.snapshots):
        raise ConfigError(f"{where}: snapshots must be distinct iterations >= 0, received {model.snapshots}.")
    if model.steps and any(i >= model.steps for i in model.snapshots):
        raise ConfigError(
            f"{where}: snapshot iterations must be below steps={model.steps} (the last is 'final'), "
            f"received {model.snapshots}."
        )
    if model.resume_every < 0:
        raise ConfigError(f"{where}: resume_every must be >= 0, received {model.resume_every}.")


def training_plan(config: Config, models: list[str] | None = None) -> list[ModelConfig]:
    """The models to train, in config order.

    Args:
        config: the experiment.
        models: names to train (None: all). A parent without a final
            snapshot is added before its children.

    Returns:
        The models' configs.

    Raises:
        ConfigError: an unknown model name or a bad training setting.
        MissingInputsError: listing every missing checkpoint and dataset
            path, with what to download.
    """
    names = config.model_names()
    requested = names if models is None else list(models)
    unknown = [name for name in requested if name not in names]
    if unknown:
        raise ConfigError(
            f"Unknown model(s) {', '.join(unknown)} in {config.path}; valid: {', '.join(names)}."
        )
    runs_dir = config.resolve_path(config.project.runs_dir)
    chosen: set[str] = set()

    def add(name: str) -> None:
        chosen.add(name)
        model = config.model(name)
        parent_missing = model.source == "transfer" and model.parent not in chosen
        if parent_missing and read_meta(snapshot_dir(runs_dir, model.parent, FINAL)) is None:
            add(model.parent)

    for name in requested:
        add(name)
    plan = [config.model(name) for name in names if name in chosen]
    for model in plan:
        _check_settings(config, model)
    _check_inputs(config, plan)
    return plan


def _check_inputs(config: Config, plan: list[ModelConfig]) -> None:
    needed: dict[str, tuple[list[str], str]] = {}  # missing path -> (models, what to download)

    def need(path: str, model: str, what: str) -> None:
        needed.setdefault(path, ([], what))[0].append(model)

    for model in plan:
        if model.source == "checkpoint":
            prefix = config.resolve_path(model.checkpoint)
            if checkpoint_missing(prefix):
                need(
                    f"{prefix}.index (+ .data-*)",
                    model.name,
                    "the TF-slim InceptionV1 checkpoint, inception_v1_2016_08_28.tar.gz from the TF-slim "
                    "model zoo (https://github.com/tensorflow/models/tree/master/research/slim)",
                )
        elif model.source == "zoo":
            _zoo_network(model.network).check_installed()  # names the missing package and its install command
        elif model.source in ("keras", "frozen_graph"):
            path = config.model_path(model)
            if not path.exists():
                need(
                    str(path),
                    model.name,
                    f"the {model.source} model's file (path, relative to the config file)",
                )
        elif model.dataset.kind != "world":
            if not model.dataset.path:
                raise ConfigError(f"model {model.name!r}: a {model.dataset.kind} dataset needs dataset.path.")
            root = config.resolve_path(model.dataset.path)
            for path in missing_inputs(model.dataset, root):
                need(str(path), model.name, DOWNLOADS[model.dataset.kind])
    if needed:
        lines = [f"  {path}  (for {', '.join(models)}): {what}" for path, (models, what) in needed.items()]
        raise MissingInputsError(
            f"{len(lines)} input(s) of {config.path} are missing; nothing was trained. Download them "
            f"to these paths (or edit the paths in the config):\n" + "\n".join(lines)
        )
