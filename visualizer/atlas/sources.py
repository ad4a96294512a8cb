"""Each model of a config as the atlas sees it: its catalogue, its snapshots, and the model to render.

The slim InceptionV1 (``checkpoint`` and ``pretrain`` sources and their
transfers) keeps the project's 57-layer catalogue (`visualizer.models.layers`).
Any other network gets the catalogue read from its graph
(`visualizer.models.catalogue.discover_layers`): a ``keras`` model's from
its file, a transfer's from its parent cut where the trainer cuts it, a
``frozen_graph``'s from the GraphDef (`visualizer.models.frozen_source`).
"""

from __future__ import annotations

from pathlib import Path

from visualizer.config import Config, ModelConfig
from visualizer.models.catalogue import LayerInfo
from visualizer.train.snapshots import FINAL, load_snapshot, snapshot_name

__all__ = ["available_snapshots", "model_catalogue", "render_model"]


def available_snapshots(config: Config, model: ModelConfig) -> list[str]:
    """Every snapshot a model will have: scheduled iterations then ``final``, or a keras runs folder's own."""
    if model.source == "keras" and config.model_path(model).is_dir():
        from visualizer.models.own import runs_folder_snapshots

        return [name for name, _, _ in runs_folder_snapshots(config.model_path(model))]
    return [snapshot_name(i) for i in sorted(set(model.snapshots))] + [FINAL]


def _network(config: Config, name: str):  # noqa: ANN202 (a keras.Model)
    """The network whose layers model `name` renders, built from its sources (no runs needed)."""
    from visualizer.models.own import cut, feature_layer, load_keras_source, runs_folder_snapshots

    model = config.model(name)
    if model.source == "keras":
        path = config.model_path(model)
        # A runs folder: its last snapshot (every snapshot of one model has the same layers).
        file = runs_folder_snapshots(path)[-1][1] / "model.keras" if path.is_dir() else path
        return load_keras_source(file, tuple(model.input_range))
    parent = _network(config, model.parent)
    return cut(parent, feature_layer(parent, model.base_layer, f"model {model.parent!r}"))


_CATALOGUES: dict[tuple, list[LayerInfo]] = {}


def model_catalogue(config: Config, name: str) -> list[LayerInfo] | None:
    """The catalogue of model `name`'s network, or None for the slim InceptionV1 (`visualizer.models.layers`).

    Raises:
        FileNotFoundError, ModelFileError, ModelInputError: the model's file is missing or not a usable model.
        UnknownLayerError, NoChannelAxisError: a transfer's ``base_layer`` is not a feature map of its parent.
    """
    from visualizer.models.catalogue import discover_layers

    if config.is_inception(name):
        return None
    root = config.root_model(name)
    file = config.model_path(root)
    chain, model = [], config.model(name)
    while model.source == "transfer":
        chain.append(model.base_layer)
        model = config.model(model.parent)
    key = (str(file), file.stat().st_mtime_ns if file.exists() else 0, repr(chain), repr(root))
    if key not in _CATALOGUES:
        if root.source == "frozen_graph":
            from visualizer.models.frozen_source import frozen_catalogue

            _CATALOGUES[key] = frozen_catalogue(config, root)
        else:
            _CATALOGUES[key] = discover_layers(_network(config, name))
    return list(_CATALOGUES[key])


def render_model(config: Config, runs_dir: Path, model: str, snapshot: str, layer: str):  # noqa: ANN201
    """The Keras model that renders `layer` of (model, snapshot), and the layer's name in it.

    A frozen graph is wrapped from its file (`frozen_graph_model`, TensorFlow
    backend); every other model is its snapshot in the runs directory.
    """
    root = config.root_model(model)
    if root.source == "frozen_graph":
        from visualizer.models.frozen_source import frozen_source_model

        return frozen_source_model(config, root, layer)
    return load_snapshot(runs_dir, model, snapshot)[0], layer


def frozen_meta(config: Config, name: str) -> dict:
    """The snapshot facts a ``frozen_graph`` model's images record (it has no runs folder: only ``final``)."""
    model = config.model(name)
    return {
        "model": name,
        "snapshot": FINAL,
        "iteration": 0,
        "is_final": True,
        "dataset": model.dataset.world or model.dataset.kind
        if model.dataset.world or model.dataset.path
        else "",
        "dataset_kind": "frozen_graph",
        "num_classes": None,
        "class_names": [],
        "head": None,
        "multi_label": False,
        "width": None,
        "image_size": config.image_size(name),
        "loss": None,
        "metric_name": None,
        "metric": None,
        "parent": None,
        "config_hash": None,
        "created": None,
        "description": model.description,
    }
