"""The render plan: models x snapshots x layers x channels x methods, in batches.

A plan is a list of `RenderBatch`es, each one optimization of several channels
of one layer of one model snapshot (so the renderer's batching pays off).
Batches are formed the same way whether or not the plan is sharded, so an
image is the same however many machines render the atlas.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NoReturn

from visualizer.atlas.keys import ImageKey
from visualizer.atlas.methods import (
    check_planned_methods,
    counts_classifier_steps,
    method_settings,
    method_step_flops,
)
from visualizer.config import Config, ConfigError, ModelConfig, SelectionConfig
from visualizer.models.layers import (
    LAYERS,
    Layer,
    LayerSelectionError,
    UnknownLayerError,
    every_nth,
    figure6_layers,
    figure7_layers,
    resolve_layer,
)
from visualizer.train.snapshots import FINAL, snapshot_name

__all__ = [
    "Plan",
    "RenderBatch",
    "make_plan",
    "parse_shard",
    "select_channels",
    "select_layers",
    "snapshots_of",
]

LAYER_SELECTORS = ("all", "every:N", "figure6", "figure7")
SNAPSHOT_SELECTORS = ("final", "all")


def snapshots_of(model: ModelConfig) -> list[str]:
    """All snapshots a model will have: its scheduled iterations, then ``final``."""
    return [snapshot_name(i) for i in sorted(set(model.snapshots))] + [FINAL]


def select_layers(spec: object) -> list[Layer]:
    """Resolve an InceptionV1 layer selector: "all", "every:N", "figure6", "figure7" or a list of names."""
    if spec == "all":
        return list(LAYERS)
    if spec == "figure7":
        return figure7_layers()
    if spec == "figure6":
        return figure6_layers()
    if isinstance(spec, str) and spec.startswith("every:"):
        try:
            return every_nth(LAYERS, spec)
        except LayerSelectionError as error:
            raise ConfigError(str(error)) from None
    if isinstance(spec, list) and spec:
        return [resolve_layer(str(name)) for name in spec]
    raise ConfigError(
        f"Invalid layers selector {spec!r}; valid: {', '.join(LAYER_SELECTORS)} or a list of layer names."
    )


def select_channels(spec: object, channels: int) -> list[int]:
    """Resolve a channel selector against a layer with `channels` channels.

    Args:
        spec: "all"; "first:N"; "sample:N" (N channels evenly spread over the
            layer, always including channel 0); "A-B" (a range, inclusive); or
            a list of indices.
        channels: the layer's channel count in this model.

    Returns:
        Sorted, unique channel indices.

    Raises:
        ConfigError: an invalid selector, or one that reaches past the
            layer's channels (the message gives the layer's size).
    """
    if spec == "all":
        return list(range(channels))
    if isinstance(spec, str) and ":" in spec:
        kind, _, count_text = spec.partition(":")
        if kind in ("first", "sample") and count_text.isdigit() and int(count_text) > 0:
            count = int(count_text)
            if count > channels:
                raise ConfigError(f"{spec!r} asks for {count} channels, but the layer has {channels}.")
            if kind == "first":
                return list(range(count))
            return sorted({math.floor(i * channels / count) for i in range(count)})
    if isinstance(spec, str) and "-" in spec:
        low, _, high = spec.partition("-")
        if low.isdigit() and high.isdigit() and int(low) <= int(high):
            if int(high) >= channels:
                raise ConfigError(
                    f"{spec!r} reaches channel {high}, "
                    f"but the layer has {channels} (indices 0..{channels - 1})."
                )
            return list(range(int(low), int(high) + 1))
    if isinstance(spec, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in spec):
        bad = [c for c in spec if not 0 <= c < channels]
        if bad:
            raise ConfigError(f"Channels {bad} are out of range; valid indices are 0..{channels - 1}.")
        return sorted(set(spec))
    raise ConfigError(
        f"Invalid channels selector {spec!r}; "
        "valid: 'all', 'first:N', 'sample:N', 'A-B' or a list of indices."
    )


@dataclass(frozen=True)
class RenderBatch:
    """One optimization: several channels of one layer of one model snapshot."""

    model: str
    snapshot: str
    method: str
    layer: str
    channels: tuple[int, ...]
    cost: float = 0.0  # FLOPs of the whole optimization (for balancing and estimates)
    steps: int | None = None  # the method's optimization steps (None: the plan's)

    @property
    def keys(self) -> list[ImageKey]:
        """The image keys this batch produces."""
        return [ImageKey(self.model, self.snapshot, self.method, self.layer, c) for c in self.channels]

    def seed(self, base_seed: int) -> int:
        """A seed derived from the project seed and the batch identity (not from its position)."""
        text = f"{base_seed}/{self.model}/{self.snapshot}/{self.method}/{self.layer}/{self.channels}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


@dataclass
class Plan:
    """A render plan and the settings it renders with."""

    batches: list[RenderBatch] = field(default_factory=list)
    size: int = 0
    steps: int = 0

    @property
    def keys(self) -> list[ImageKey]:
        """Every image key of the plan."""
        return [key for batch in self.batches for key in batch.keys]

    @property
    def image_count(self) -> int:
        """Number of images in the plan."""
        return sum(len(batch.channels) for batch in self.batches)

    @property
    def flops(self) -> float:
        """Total FLOPs of the plan's optimizations."""
        return sum(batch.cost for batch in self.batches)

    def shard(self, index: int, count: int) -> Plan:
        """Return shard `index` (0-based) of `count`: a deterministic, cost-balanced share.

        Whole batches are dealt out, largest first, each to the least loaded
        shard (ties to the lowest shard number), so every shard gets about
        the same FLOPs and the shards together are exactly the plan.
        """
        loads = [0.0] * count
        owner: dict[int, int] = {}
        order = sorted(range(len(self.batches)), key=lambda i: (-self.batches[i].cost, i))
        for position in order:
            target = min(range(count), key=lambda s: (loads[s], s))
            owner[position] = target
            loads[target] += self.batches[position].cost or 1.0
        chosen = [batch for i, batch in enumerate(self.batches) if owner[i] == index]
        return Plan(chosen, self.size, self.steps)


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``i/N`` (1-based, as a SLURM array index reads) into (0-based index, count)."""
    index_text, _, count_text = text.partition("/")
    if index_text.isdigit() and count_text.isdigit() and 1 <= int(index_text) <= int(count_text):
        return int(index_text) - 1, int(count_text)
    raise ValueError(f"Invalid shard {text!r}: expected i/N with 1 <= i <= N, e.g. 3/16.")


def _snapshots(selection: SelectionConfig, model: ModelConfig, config: Config | None = None) -> list[str]:
    from visualizer.atlas.sources import available_snapshots

    available = snapshots_of(model) if config is None else available_snapshots(config, model)
    spec = selection.snapshots
    if spec == "final":
        return ["final"]
    if spec == "all":
        return available
    if isinstance(spec, list):
        unknown = [s for s in spec if s not in available]
        if unknown:
            raise ConfigError(
                f"Unknown snapshots {unknown} for model {model.name!r}; valid: {', '.join(available)}."
            )
        return list(spec)
    raise ConfigError(f"Invalid snapshots selector {spec!r}; valid: final, all, or a list of snapshot names.")


# Methods that render a layer's pre-ReLU values: on a frozen graph, only layers whose op is a Relu or Relu6.
PRE_RELU_METHODS = ("negative", "negative_examples")


def _check_frozen_method(
    config: Config, where: str, model_name: str, method: str, selection: SelectionConfig
) -> None:
    if method not in PRE_RELU_METHODS or config.root_model(model_name).source != "frozen_graph":
        return
    from visualizer.models.frozen_source import layers_without_relu

    root = config.root_model(model_name)
    ids = [layer.id for layer in _own_layers(config, where, selection, model_name)]
    missing = layers_without_relu(config, root, ids)
    if missing:
        raise ConfigError(
            f"{config.location(where + '.methods')}: {where}.methods: {method!r} needs a layer's pre-ReLU "
            f"values, and layer(s) {', '.join(missing)} of the frozen_graph model {model_name!r} end in no "
            "Relu or Relu6 op; valid for them: lucid, neuron, diversity, examples. List those layers in "
            "another plan entry."
        )


def _own_layers(config: Config, where: str, selection: SelectionConfig, model_name: str) -> list:
    """The layers a selection names in a network other than InceptionV1 (`catalogue.select_layers`)."""
    from visualizer.atlas.sources import model_catalogue
    from visualizer.models import catalogue

    try:
        return catalogue.select_layers(
            model_catalogue(config, model_name), selection.layers, f"model {model_name!r}"
        )
    except (UnknownLayerError, catalogue.LayerSelectionError) as error:
        raise ConfigError(f"{config.location(where + '.layers')}: {where}.layers: {error}") from error


def make_plan(config: Config, models: Sequence[str] | None = None, with_costs: bool = True) -> Plan:
    """Build the plan a config describes.

    Args:
        config: the experiment.
        models: restrict to these model names (None: all the plan names).
        with_costs: compute each batch's FLOPs (builds the network once per size).

    Returns:
        The `Plan`, batches in config order, duplicates removed.

    Raises:
        ConfigError: unknown model, layer, method or selector, naming the valid choices.
    """
    from visualizer.atlas.sources import own_step_flops
    from visualizer.models.inception_v1 import scaled_channels

    if models:
        for name in models:
            config.model(name)  # raises with the valid names

    def fail(where: str, message: str) -> NoReturn:
        raise ConfigError(f"{config.location(where)}: {where}: {message}")

    # load_config ran it too, where the registry was imported first.
    check_planned_methods(config, fail)
    render = config.render
    seen: set[tuple[str, str, str, str, int]] = set()
    batches: list[RenderBatch] = []
    for number, selection in enumerate(render.plan):
        where = f"render.plan[{number}]"
        inception_layers = None
        for model_name in selection.models or config.model_names():
            if models and model_name not in models:
                continue
            if model_name not in config.model_names():
                raise ConfigError(
                    f"{config.location(where + '.models')}: {where}.models: unknown model {model_name!r}; "
                    f"models in {config.path}: {', '.join(config.model_names())}."
                )
            model = config.model(model_name)
            for method in selection.methods:
                _check_frozen_method(config, where, model_name, method, selection)
            if config.is_inception(model_name) and inception_layers is None:
                try:
                    inception_layers = select_layers(selection.layers)
                except (UnknownLayerError, ConfigError) as error:
                    raise ConfigError(
                        f"{config.location(where + '.layers')}: {where}.layers: {error}"
                    ) from error
            layers = (
                inception_layers
                if config.is_inception(model_name)
                else _own_layers(config, where, selection, model_name)
            )
            for snapshot in _snapshots(selection, model, config):
                for method in selection.methods:
                    settings = method_settings(method, config, model_name)
                    steps = int(settings.get("steps", render.steps))
                    # A method may set its own channels per optimization (diversity: several images each).
                    per_batch = int(settings.get("batch_size", 0)) or render.batch_size
                    for layer in layers:
                        inception = config.is_inception(model_name)
                        count = (
                            scaled_channels(layer.channels, config.network.width)
                            if inception
                            else layer.channels
                        )
                        try:
                            chosen = select_channels(selection.channels, count)
                        except ConfigError as error:
                            raise ConfigError(
                                f"{config.location(where + '.channels')}: {where}.channels: layer {layer.id} "
                                f"of model {model_name!r} (network width {config.network.width:g}): {error}"
                            ) from error
                        fresh = [c for c in chosen if (model_name, snapshot, method, layer.id, c) not in seen]
                        seen.update((model_name, snapshot, method, layer.id, c) for c in fresh)
                        # A method without steps (dataset examples) scores every channel in one pass.
                        chunk = (per_batch if steps else 0) or len(fresh) or 1
                        for start in range(0, len(fresh), chunk):
                            channels = tuple(fresh[start : start + chunk])
                            cost = 0.0
                            if with_costs and inception:
                                step = method_step_flops(method, config, layer.id)
                                cost = step * len(channels) * steps if steps else step
                            elif with_costs and steps and counts_classifier_steps(method):
                                step = own_step_flops(config, model_name, layer.id, render.size)
                                cost = step * len(channels) * steps
                            batches.append(
                                RenderBatch(model_name, snapshot, method, layer.id, channels, cost, steps)
                            )
    return Plan(batches, render.size, render.steps)
