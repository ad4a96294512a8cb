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

__all__ = ["available_snapshots", "model_catalogue", "network_identity", "own_step_flops", "render_model"]


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
    if model.source == "zoo":
        from visualizer.models.zoo import build_network

        return build_network(model.network)
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
    key = _network_key(config, name)
    if key not in _CATALOGUES:
        root = config.root_model(name)
        if root.source == "frozen_graph":  # a transfer's: the graph's layers its cut is computed from
            from visualizer.models.frozen_source import transfer_catalogue

            _CATALOGUES[key] = transfer_catalogue(config, root, key[2][::-1])
        else:
            _CATALOGUES[key] = discover_layers(_cached_network(config, name))
    return list(_CATALOGUES[key])


def _network_key(config: Config, name: str) -> tuple:
    """What a non-InceptionV1 model's network depends on: its root's file and source, and the cuts."""
    root = config.root_model(name)
    file = config.model_path(root)
    chain, model = [], config.model(name)
    while model.source == "transfer":
        chain.append(model.base_layer)
        model = config.model(model.parent)
    return (str(file), file.stat().st_mtime_ns if file.exists() else 0, tuple(chain), repr(root))


_NETWORKS: dict[tuple, object] = {}


def _cached_network(config: Config, name: str):  # noqa: ANN202 (a keras.Model)
    key = _network_key(config, name)
    if key not in _NETWORKS:
        _NETWORKS[key] = _network(config, name)
    return _NETWORKS[key]


def own_step_flops(config: Config, name: str, layer: str, size: int) -> float:
    """FLOPs of one render step (forward to `layer` and the input gradient) of one `size`-px image of model
    `name`, a network other than InceptionV1; 0.0 for a frozen graph and its transfers (not counted).
    """
    if config.root_model(name).source == "frozen_graph":
        return 0.0
    from visualizer.models.flops import model_render_step_flops

    return float(model_render_step_flops(_cached_network(config, name), layer, size))


def render_model(config: Config, runs_dir: Path, model: str, snapshot: str, layer: str):  # noqa: ANN201
    """The Keras model that renders `layer` of (model, snapshot), and the layer's name in it.

    A frozen graph is wrapped from its file (`frozen_graph_model`, TensorFlow
    backend); every other model is its snapshot in the runs directory. A
    transfer of a frozen graph renders its layer with the snapshot's trained
    graph weights (`visualizer.models.frozen_source.trained_layer_model`).
    """
    root = config.root_model(model)
    if root.source == "frozen_graph":
        from visualizer.models import frozen_source
        from visualizer.models.frozen_trainable import FrozenTrainableGraph  # noqa: F401 (registers it)

        if config.model(model).source == "frozen_graph":
            return frozen_source.frozen_source_model(config, root, layer)
        network = load_snapshot(runs_dir, model, snapshot)[0]
        return frozen_source.trained_layer_model(network, layer, f"model {model!r}")
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


def network_identity(config: Config, name: str) -> tuple[str, str]:
    """Model `name`'s network: (id, label), the id a stable slug, the label what pages print.

    Models of one network share their layer names, so the atlas and the gallery
    compare their channels; models of two networks never. The slim InceptionV1
    and its transfers are ``inception_v1`` ("InceptionV1", or "a width-reduced
    InceptionV1 (width 0.25)"). Any other model has its root model's network
    (a transfer keeps its parent's layer names, also when cut at a
    ``base_layer``): a ``zoo`` root's ``network`` key and label; a ``keras``
    root's config name as a slug (with ``_model`` added where it would be a
    zoo key), labelled by the Keras model's name and its file; a
    ``frozen_graph`` root's the same way, labelled by its graph file.
    """
    from visualizer.atlas.networks import INCEPTION_V1, inception_label, keras_model_name, slug
    from visualizer.models.zoo import NETWORKS

    if config.is_inception(name):
        return INCEPTION_V1, inception_label(config.network.width)
    root = config.root_model(name)
    if root.source == "zoo":
        key = root.network or root.name
        return key, NETWORKS[key].label if key in NETWORKS else key
    own = slug(root.name) + ("_model" if slug(root.name) in NETWORKS else "")  # never a zoo network's id
    path = config.model_path(root)
    if root.source == "keras":
        file = path
        if path.is_dir():
            from visualizer.models.own import runs_folder_snapshots

            file = runs_folder_snapshots(path)[-1][1] / "model.keras"
        keras_name = keras_model_name(file)
        return own, f"{keras_name} ({path.name})" if keras_name else path.name
    return own, path.name
