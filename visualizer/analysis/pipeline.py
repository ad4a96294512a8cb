"""`analyse`: every metric of a model pair in an atlas, the six observations, stored in the atlas.

For a pair (the model before transfer and the one after, or two snapshots):

1. per layer the atlas has images of in both, per channel: pixel-space
   metrics from the images (`analysis.pixels`), the period from the catalog,
   and with the models: `visual_change` in the reference layer's feature
   space, `cross_activation` both ways, `weight_change` and the rewired
   circuit (`analysis.circuits`);
2. on held-out images (with ``--config``): linear CKA per layer between the
   two models (`analysis.cka`) and each model's redundancy
   (`analysis.redundancy`), also for a small- and a large-data model;
3. for a temporal run: each snapshot image's distances to the run's first
   and last, progress and the half-change iteration;
4. the six observations (`analysis.observations`).

Each layer's results are stored with a digest of their inputs (the images'
SHA-256, the model files' SHA-256, the settings); a later run reuses a layer
whose digest is unchanged (`analysis.store`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visualizer.analysis import observations as obs
from visualizer.analysis.atlasindex import INCEPTION_V1, AtlasIndex, ImageRef
from visualizer.analysis.pixels import (
    colour_change,
    colour_mean_shift,
    describe,
    load_images,
    pixel_change,
    structure_change,
)
from visualizer.analysis.redundancy import (
    DUPLICATE_THRESHOLD,
    LayerRedundancy,
    correlation_similarity,
    cross_activation_similarity,
)
from visualizer.analysis.store import CircuitRow, Writer, subject_id

__all__ = [
    "ANALYSIS_SIZE",
    "REFERENCE_LAYER",
    "VERSION",
    "Analysis",
    "Settings",
    "analyse",
    "pixel_metrics",
]

VERSION = 1  # raise when a metric's definition changes: every stored row is then recomputed
ANALYSIS_SIZE = 128  # images larger than this are box-downsampled to it for every measurement
REFERENCE_LAYER = (
    "Mixed_4b"  # visual_change's feature space: the first block of the 14 px stage (Lucid's mixed4a)
)
HELD_OUT_IMAGES = 512
CKA_BATCH = 32
CIRCUIT_TOP = 8
UNRELATED_PAIRS = 16  # other channels per channel in the baseline of the *_rel metrics

Log = Callable[[str], None]


@dataclass(frozen=True)
class Settings:
    """What the analysis measures with.

    Attributes:
        method: the rendering method compared (images of the default variant).
        size: images larger than this many pixels a side are downsampled to it.
        reference: the layer (of the model before transfer) whose spatially averaged activations are
            `visual_change`'s feature space.
        held_out: validation images for CKA and redundancy on data.
        cka_batch: images per CKA minibatch.
        circuit_top: upstream channels kept per channel from each side.
    """

    method: str = "lucid"
    size: int = ANALYSIS_SIZE
    reference: str = REFERENCE_LAYER
    held_out: int = HELD_OUT_IMAGES
    cka_batch: int = CKA_BATCH
    circuit_top: int = CIRCUIT_TOP


@dataclass
class Analysis:
    """What `analyse` found for one pair: the JSON of ``vtl analyse --json`` besides the scale table.

    Attributes:
        subject: the pair's id (`store.subject_id`).
        before, before_snapshot, after, after_snapshot, method: the pair.
        observations: the six entries, in `observations.OBSERVATION_IDS` order.
        channels: per-channel rows: layer, channel, before_path, after_path and the metrics.
        layers: per-layer rows: layer, paper_index (InceptionV1) or graph_index (another network), stage
            and the metrics; by depth.
        circuits: rows of rewired circuits: layer, channel and an upstream channel's weights and ranks.
        snapshots: rows of the temporal run: layer, channel, snapshot, iteration, distances, progress.
        notes: what could not be measured, and why.
        computed: layers measured in this run.
        reused: layers whose stored results were unchanged.
    """

    subject: str
    before: str
    before_snapshot: str
    after: str
    after_snapshot: str
    method: str
    observations: list[obs.Observation] = field(default_factory=list)
    channels: list[dict[str, Any]] = field(default_factory=list)
    layers: list[dict[str, Any]] = field(default_factory=list)
    circuits: list[dict[str, Any]] = field(default_factory=list)
    snapshots: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    computed: int = 0
    reused: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN and inf become None)."""
        data = asdict(self)
        data["observations"] = [entry.as_dict() for entry in self.observations]
        return obs.json_ready(data)


def _digest(*parts: Any) -> str:
    text = json.dumps([VERSION, *parts], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cosine_distance(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    dot = np.sum(first * second, axis=-1)
    norms = np.linalg.norm(first, axis=-1) * np.linalg.norm(second, axis=-1)
    return np.where(norms > 0, 1.0 - dot / np.where(norms > 0, norms, 1.0), np.where(dot == 0, 0.0, 1.0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    return np.where(denominator > 1e-9, numerator / np.where(denominator > 1e-9, denominator, 1.0), np.nan)


def _median(values: Sequence[float | None]) -> float | None:
    finite = np.asarray([v for v in values if v is not None], dtype="float64")
    finite = finite[np.isfinite(finite)]
    return float(np.median(finite)) if len(finite) else None


def _load_pair(
    root: Path, first: list[ImageRef], second: list[ImageRef], size: int
) -> tuple[np.ndarray, ...]:
    """Both image lists at one side: at most `size`, and the smaller of the two when they differ."""
    one = load_images([root / ref.path for ref in first], size)
    two = load_images([root / ref.path for ref in second], size)
    if one.shape[1:] != two.shape[1:]:
        side = min(one.shape[1], two.shape[1])
        one = load_images([root / ref.path for ref in first], side)
        two = load_images([root / ref.path for ref in second], side)
    return one, two


class _Run:
    """One call of `analyse`: the atlas, the models, the store, the settings."""

    def __init__(
        self,
        atlas_dir: Path,
        settings: Settings,
        runs_dir: Path | None,
        write: bool,
        log: Log,
    ):
        self.root = atlas_dir
        self.index = AtlasIndex(atlas_dir)
        self.settings = settings
        self.runs_dir = runs_dir
        self.log = log
        self.notes: list[str] = []
        self.network: str | None = INCEPTION_V1  # the pair's network, set by `_measure`
        try:
            self.store = Writer(atlas_dir if write else None)
        except sqlite3.OperationalError as error:  # a read-only atlas: measure, keep nothing
            if "readonly" not in str(error) and "unable to open" not in str(error):
                raise
            self.note(f"the atlas's catalog cannot be written ({error}): nothing is stored")
            self.store = Writer(None)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
            self.log(f"note: {text}")

    def model(self, name: str, snapshot: str):  # noqa: ANN201 (a keras.Model or None)
        """The checked model of a snapshot, or None (with a note) when its file is not found."""
        from visualizer.analysis.runs import load_model, model_file

        path = model_file(self.runs_dir, name, snapshot)
        if path is None:
            where = (
                self.runs_dir if self.runs_dir is not None else "no runs directory (pass --runs or --config)"
            )
            self.note(f"no model file for {name}/{snapshot} ({where}): model-based metrics are left out")
            return None
        return load_model(path, name, self.index.layer_channels(name))

    @property
    def inception(self) -> bool:
        """Whether the pair is of the slim InceptionV1 (else: graph order, no blocks)."""
        return self.network == INCEPTION_V1

    def order(self, layer: str) -> int:
        """The layer's depth order: the paper's on InceptionV1, the graph order on another network."""
        return self.index.order(layer, self.network)

    def block(self, layer: str) -> str:
        """The layers measured in one forward pass: InceptionV1's block, or the layer itself on another
        network (which has no blocks)."""
        if not self.inception:
            return layer
        from visualizer.models.layers import resolve_layer

        return resolve_layer(layer).block

    def stage(self, layer: str) -> str:
        """The layer's stage (`visualizer.analysis.depth`): InceptionV1's blocks, else thirds of the graph
        depth."""
        return self.index.layers.stage(layer, self.network)

    def reference(self, model) -> str | None:  # noqa: ANN001 (a keras.Model)
        """`visual_change`'s feature space in `model`: the setting's layer where the model has it, else on
        another network `producers.reference_layer` (noted); None when there is none."""
        names = {layer.name for layer in model.layers}
        if self.settings.reference in names:
            return self.settings.reference
        if self.inception:
            raise ValueError(
                f"the reference layer {self.settings.reference!r} is not in model {model.name!r}"
            )
        from visualizer.analysis.producers import reference_layer

        try:
            chosen, why = reference_layer(model)
        except ValueError as error:
            self.note(f"no reference layer for visual_change ({error}): it is left out")
            return None
        self.note(
            f"{self.network} has no layer {self.settings.reference!r}: visual_change is measured in "
            f"{chosen!r}, {why}"
        )
        return chosen

    def identity(self, name: str, snapshot: str) -> str:
        from visualizer.analysis.runs import file_identity, model_file

        path = model_file(self.runs_dir, name, snapshot)
        return file_identity(path) if path is not None else ""


# -- the pair's layers -------------------------------------------------------------------------


def pixel_metrics(
    images_a: np.ndarray, images_b: np.ndarray
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """The pixel-space metrics of channel ``i``'s image before (`images_a[i]`) and after (`images_b[i]`).

    Returns:
        ({metric: ``[n]``}: colour_change, colour_mean_shift, structure_change, pixel_change,
        image_scale_before, image_scale_after, colour_change_rel, structure_change_rel), and the
        layer's baselines {unrelated_colour_change, unrelated_structure_change}: the mean over pairs
        of one channel's image before and another's after (up to `UNRELATED_PAIRS` others each,
        seed 0), which the ``*_rel`` metrics divide by.
    """
    first, second = describe(images_a), describe(images_b)
    count = len(images_a)
    values = {
        "colour_change": colour_change(first, second),
        "colour_mean_shift": colour_mean_shift(first, second),
        "structure_change": structure_change(first, second),
        "pixel_change": pixel_change(first, second),
        "image_scale_before": first.image_scale,
        "image_scale_after": second.image_scale,
    }
    layer: dict[str, float] = {}
    if count >= 2:
        rng = np.random.default_rng(0)
        others = min(UNRELATED_PAIRS, count - 1)
        shift = np.stack([rng.permutation(count - 1)[:others] + 1 for _ in range(count)])
        pairs = np.stack(
            [np.repeat(np.arange(count), others), ((np.arange(count)[:, None] + shift) % count).ravel()], 1
        )
        for name, function in (("colour_change", colour_change), ("structure_change", structure_change)):
            baseline = float(np.mean(function(first, second, pairs)))
            layer[f"unrelated_{name}"] = baseline
            values[f"{name}_rel"] = values[name] / baseline if baseline > 0 else np.full(count, np.nan)
    else:
        values["colour_change_rel"] = values["structure_change_rel"] = np.full(count, np.nan)
    return values, layer


_BEFORE_PASSES: dict[tuple, tuple[dict[str, np.ndarray], np.ndarray | None]] = {}


def _before_pass(model, group: list[str], reference: str, images: np.ndarray, key: tuple) -> tuple:  # noqa: ANN001
    """The model before transfer on its own images, kept for the other pairs of this process
    (``imagenet -> celeba``, ``-> flowers17``, ... share it)."""
    from visualizer.analysis.features import probe_for

    key = (id(model), tuple(group), reference, images.shape, key)
    if key not in _BEFORE_PASSES:
        if len(_BEFORE_PASSES) >= 128:
            _BEFORE_PASSES.pop(next(iter(_BEFORE_PASSES)))
        _BEFORE_PASSES[key] = probe_for(model, group, reference)(images)
    return _BEFORE_PASSES[key]


def _model_metrics(
    run: _Run,
    models: tuple,
    groups: dict[str, list[str]],
    layer: str,
    channels: list[int],
    images: tuple,
    key: tuple,
) -> tuple[dict[str, np.ndarray], dict[str, float | None], dict[str, np.ndarray], dict[int, list]]:
    from visualizer.analysis.circuits import circuit, folded_kernel, weight_change
    from visualizer.analysis.features import probe_for

    model_a, model_b = models
    images_a, images_b = images
    count = len(channels)
    group = groups[run.block(layer)]
    reference_layer = run.reference(model_a)
    own, own_reference = _before_pass(model_a, group, reference_layer, images_a, key)
    other, other_reference = probe_for(model_a, group, reference_layer)(images_b)
    means_a = {name: np.concatenate([own[name], other[name]]) for name in own}
    means_b, _ = probe_for(model_b, group)(np.concatenate([images_a, images_b]))
    index = np.asarray(channels)
    rows = np.arange(count)
    act_a, act_b = means_a[layer], means_b[layer]
    own_a, a_on_b = act_a[:count][rows, index], act_a[count:][rows, index]
    own_b, b_on_a = act_b[count:][rows, index], act_b[:count][rows, index]
    values = {
        "cross_activation": _ratio(b_on_a, own_b),
        "cross_activation_reverse": _ratio(a_on_b, own_a),
        "own_activation_before": own_a,
        "own_activation_after": own_b,
    }
    if own_reference is not None and other_reference is not None:
        values["visual_change"] = _cosine_distance(own_reference, other_reference)
    try:
        values["weight_change"] = weight_change(folded_kernel(model_a, layer), folded_kernel(model_b, layer))[
            index
        ]
    except ValueError as error:  # another network's layer whose producing weights are not found
        if run.inception:
            raise
        run.note(f"weight_change of {layer} is left out: {error}")
        values["weight_change"] = np.full(count, np.nan)
    layer_values: dict[str, float | None] = {}
    for role, matrix in (("before", act_a[:count][:, index]), ("after", act_b[count:][:, index])):
        redundancy = LayerRedundancy(cross_activation_similarity(matrix))
        layer_values[f"vis_duplicate_groups_{role}"] = float(len(redundancy.groups))
        layer_values[f"vis_max_similarity_median_{role}"] = _median(list(redundancy.max_similarity))
    arrays = {"after_on_before": act_b[:count][:, index].astype("float32")}
    try:
        circuits = circuit(model_a, model_b, layer, channels, run.settings.circuit_top)
    except ValueError as error:
        if run.inception:
            raise
        run.note(f"no rewired circuit for {layer}: {error}")
        circuits = {}
    return values, layer_values, arrays, circuits


def _pair_layers(
    run: _Run, pair: tuple[str, str, str, str], subject: str, models: tuple | None, analysis: Analysis
) -> dict[str, dict[int, dict[str, float | None]]]:
    """Measure (or reuse) every layer the pair shares; returns {layer: {channel: metrics}}."""
    before, before_snapshot, after, after_snapshot = pair
    method = run.settings.method
    refs_a = run.index.images(before, before_snapshot, method)
    refs_b = run.index.images(after, after_snapshot, method)
    shared = sorted(set(refs_a) & set(refs_b), key=lambda key: (run.order(key[0]), key[0], key[1]))
    by_layer: dict[str, list[int]] = {}
    for layer, channel in shared:
        by_layer.setdefault(layer, []).append(channel)
    groups: dict[str, list[str]] = {}
    for layer in by_layer:
        groups.setdefault(run.block(layer), []).append(layer)
    identities = (
        (run.identity(before, before_snapshot), run.identity(after, after_snapshot)) if models else ("", "")
    )
    settings = asdict(run.settings)
    out: dict[str, dict[int, dict[str, float | None]]] = {}
    for layer, channels in by_layer.items():
        first = [refs_a[(layer, c)] for c in channels]
        second = [refs_b[(layer, c)] for c in channels]
        inputs = _digest(
            settings, identities, [(c, a.sha256, b.sha256) for c, a, b in zip(channels, first, second)]
        )
        if run.store.layer_inputs("analysis_channel_metrics", subject, layer) == {inputs}:
            out[layer] = run.store.channel_values(subject, layer)
            analysis.reused += 1
            continue
        run.log(f"{subject}: {layer} ({len(channels)} channels)")
        images = _load_pair(run.root, first, second, run.settings.size)
        values, layer_values = pixel_metrics(*images)
        periods_a = np.array([run.index.period(ref) or np.nan for ref in first])
        periods_b = np.array([run.index.period(ref) or np.nan for ref in second])
        values.update(period_before=periods_a, period_after=periods_b, period_ratio=periods_b / periods_a)
        arrays: dict[str, np.ndarray] = {}
        circuits: dict[int, list] = {}
        if models:
            key = (identities[0], tuple(ref.sha256 for ref in first))
            more, more_layer, arrays, circuits = _model_metrics(
                run, models, groups, layer, channels, images, key
            )
            values.update(more)
            layer_values.update(more_layer)
        layer_values["channels"] = float(len(channels))
        layer_values["image_side"] = float(images[0].shape[1])
        for name in (
            "visual_change",
            "pixel_change",
            "colour_change",
            "structure_change",
            "cross_activation",
            "weight_change",
            "image_scale_before",
            "image_scale_after",
        ):
            if name in values:
                layer_values[f"median_{name}"] = _median(list(values[name]))
        per_channel = {c: {name: _float(v[i]) for name, v in values.items()} for i, c in enumerate(channels)}
        run.store.replace_channels(subject, layer, per_channel, inputs)
        run.store.replace_layer(subject, layer, layer_values, inputs)
        run.store.replace_arrays(subject, layer, arrays, inputs)
        run.store.replace_circuits(
            subject,
            layer,
            [
                CircuitRow(
                    c,
                    e.source_layer,
                    e.source_channel,
                    e.weight_before,
                    e.weight_after,
                    e.rank_before,
                    e.rank_after,
                )
                for c, edges in circuits.items()
                for e in edges
            ],
            inputs,
        )
        analysis.computed += 1
        out[layer] = per_channel
    return out


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _float(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


# -- held-out data: CKA and redundancy --------------------------------------------------------


_DATA_PASSES: dict[tuple, Any] = {}  # held-out passes of this process, by model file and images


def _data_metrics(
    run: _Run,
    subject: str,
    roles: dict[str, tuple[str, str]],
    images: np.ndarray,
    images_name: str,
    analysis: Analysis,
) -> dict[str, dict[tuple[str, int], float]]:
    """CKA (before vs after) and redundancy of each role's model on held-out images.

    A model's redundancy is stored under the subject ``<model>/<snapshot>@<images>`` and reused by
    every pair measured on the same images; the pair's CKA under the pair.

    Returns {role: {(layer, channel): largest |correlation| with another channel}}.
    """
    from visualizer.analysis.cka import MinibatchCKA
    from visualizer.analysis.features import data_statistics
    from visualizer.models.layers import LAYERS

    models = {role: run.model(*spec) for role, spec in roles.items()}
    if any(model is None for model in models.values()):
        return {}
    identity = {role: run.identity(*spec) for role, spec in roles.items()}
    images_digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]
    names = [{layer.name for layer in model.layers} for model in models.values()]
    # InceptionV1: all 57 layers; another network: the layers the atlas lists for it, in graph order.
    candidates = (
        [layer.id for layer in LAYERS] if run.inception else run.index.layers.network_layers(run.network)
    )
    layers = [layer for layer in candidates if all(layer in found for found in names)]
    if not layers:
        run.note(f"no layer of {run.network} is in every model: CKA and redundancy on data are left out")
        return {}
    inputs = _digest(identity["before"], identity["after"], images_digest, run.settings.cka_batch)
    model_inputs = {role: _digest(identity[role], images_digest) for role in roles}
    subjects = {role: f"{model}/{snapshot}@{images_name}" for role, (model, snapshot) in roles.items()}

    def measured(role: str, pooled: bool = False) -> Any:
        key = (identity[role], images_digest, tuple(layers), run.settings.cka_batch)
        found = _DATA_PASSES.get(key)
        if found is None or (pooled and not found.pooled):
            run.log(f"{roles[role][0]}/{roles[role][1]}: {len(images)} held-out images of {images_name}")
            found = data_statistics(models[role], images, layers, run.settings.cka_batch)
            if len(_DATA_PASSES) >= 8:
                _DATA_PASSES.pop(next(iter(_DATA_PASSES)))
            _DATA_PASSES[key] = found
        return found

    per_layer: dict[str, dict[str, float | None]] = {layer: {} for layer in layers}
    if run.store.data_inputs(subject) != {inputs}:
        cka = MinibatchCKA()
        for layer in layers:
            for first, second in zip(measured("before").grams[layer], measured("after").grams[layer]):
                cka.update_grams(layer, first, second)
            per_layer[layer].update(cka=cka.value(layer), cka_images=float(cka.images(layer)))
        analysis.computed += 1
    else:
        for layer in layers:
            stored = run.store.layer_values(subject, layer)
            per_layer[layer].update(cka=stored.get("cka"), cka_images=stored.get("cka_images"))
        analysis.reused += 1
    result: dict[str, dict[tuple[str, int], float]] = {}
    for role, (model, snapshot) in roles.items():
        name = subjects[role]
        current = all(
            run.store.layer_inputs("analysis_channel_metrics", name, layer) == {model_inputs[role]}
            for layer in (layers[0], layers[-1])
        )
        if not current:
            run.store.subject(
                name, "model", after=model, after_snapshot=snapshot, settings=asdict(run.settings)
            )
            statistics = measured(role, pooled=True)
            for layer in layers:
                redundancy = LayerRedundancy(correlation_similarity(statistics.pooled[layer]))
                per_channel = {
                    c: {"max_correlation": _float(v)} for c, v in enumerate(redundancy.max_similarity)
                }
                facts = {
                    "data_duplicate_groups": float(len(redundancy.groups)),
                    "data_duplicated_share": redundancy.duplicated_share,
                    "data_max_correlation_median": _median(list(redundancy.max_similarity)),
                }
                run.store.replace_channels(name, layer, per_channel, model_inputs[role])
                run.store.replace_layer(name, layer, facts, model_inputs[role], data=True)
            statistics.pooled.clear()  # stored now; the Gram matrices (small) stay for other pairs' CKA
        result[role] = {}
        for layer in layers:
            for c, values in run.store.channel_values(name, layer).items():
                result[role][(layer, c)] = values.get("max_correlation")
            for key, value in run.store.layer_values(name, layer).items():
                per_layer[layer][f"{key}_{role}"] = value
    for layer in layers:
        run.store.replace_layer(subject, layer, per_layer[layer], inputs, data=True)
    return result


# -- the temporal run --------------------------------------------------------------------------


def _temporal(
    run: _Run, name: str, analysis: Analysis
) -> tuple[np.ndarray, list[int], list[str], list[int]] | None:
    """Distances between each channel's snapshot images in a run: ([n, K, K], iterations, layers,
    channels)."""
    from visualizer.analysis.features import probe_for

    method = run.settings.method
    snapshots = run.index.snapshots(name, method)
    if len(snapshots) < 3 or snapshots[0][1] != 0:
        run.note(
            f"{name} has {len(snapshots)} rendered snapshots; early adaptation needs 3, "
            "the first at iteration 0"
        )
        return None
    reference = run.model(name, snapshots[0][0])
    if reference is None:
        return None
    subject = f"{name}:{method}"
    run.store.subject(subject, "run", after=name, method=method, settings=asdict(run.settings))
    refs = [run.index.images(name, snapshot, method) for snapshot, _ in snapshots]
    keys = sorted(set.intersection(*(set(r) for r in refs)), key=lambda k: (run.order(k[0]), k[0], k[1]))
    reference_layer = run.reference(reference)
    if reference_layer is None:
        return None
    iterations = [iteration for _, iteration in snapshots]
    identity = run.identity(name, snapshots[0][0])
    matrices, layers, channels = [], [], []
    by_layer: dict[str, list[int]] = {}
    for layer, channel in keys:
        by_layer.setdefault(layer, []).append(channel)
    for layer, chans in by_layer.items():
        shas = [[r[(layer, c)].sha256 for r in refs] for c in chans]
        inputs = _digest(asdict(run.settings), identity, iterations, chans, shas)
        stored = run.store.array(subject, layer, "distances")
        if run.store.layer_inputs("analysis_arrays", subject, layer) == {inputs} and stored is not None:
            distances = stored
            analysis.reused += 1
        else:
            run.log(f"{subject}: {layer} over {len(snapshots)} snapshots")
            paths = [run.root / r[(layer, c)].path for r in refs for c in chans]
            images = load_images(paths, run.settings.size)
            _, features = probe_for(reference, [], reference_layer)(images)
            features = features.reshape(len(refs), len(chans), -1).transpose(1, 0, 2)  # [n, K, D]
            unit = features / np.maximum(np.linalg.norm(features, axis=-1, keepdims=True), 1e-12)
            distances = np.clip(1.0 - np.einsum("nkd,nld->nkl", unit, unit), 0.0, 2.0)
            for k in range(distances.shape[1]):
                distances[:, k, k] = 0.0
            area = obs.progress_auc(distances, np.asarray(iterations))
            half = obs.half_change_iterations(distances, np.asarray(iterations))
            start, end = distances[:, :, 0], distances[:, :, -1]
            total = start + end
            progress = np.where(total > 0, start / np.where(total > 0, total, 1.0), 0.5)
            rows = [
                (c, snapshot, iteration, start[i, k], end[i, k], progress[i, k])
                for i, c in enumerate(chans)
                for k, (snapshot, iteration) in enumerate(snapshots)
            ]
            run.store.replace_snapshots(subject, layer, rows, inputs)
            run.store.replace_channels(
                subject,
                layer,
                {
                    c: {"progress_auc": _float(area[i]), "half_change_iteration": _float(half[i])}
                    for i, c in enumerate(chans)
                },
                inputs,
            )
            run.store.replace_arrays(subject, layer, {"distances": distances.astype("float32")}, inputs)
            analysis.computed += 1
        matrices.append(np.asarray(distances, dtype="float64"))
        layers += [layer] * len(chans)
        channels += chans
        for i, c in enumerate(chans):
            for k, (snapshot, iteration) in enumerate(snapshots):
                analysis.snapshots.append(
                    {
                        "run": name,
                        "layer": layer,
                        "channel": c,
                        "snapshot": snapshot,
                        "iteration": iteration,
                        "distance_to_start": _float(distances[i, k, 0]),
                        "distance_to_final": _float(distances[i, k, -1]),
                        "path": refs[k][(layer, c)].path,
                    }
                )
    if not matrices:
        return None
    return np.concatenate(matrices), iterations, layers, channels


def _find_temporal(run: _Run, before: str, after: str, named: str | None) -> str | None:
    method = run.settings.method
    if named:
        return named
    if len(run.index.snapshots(after, method)) >= 3:
        return after
    for child in run.index.children(before):
        if len(run.index.snapshots(child, method)) >= 3:
            return child
    return None


# -- small and large datasets ------------------------------------------------------------------


def _small_and_large(
    run: _Run,
    before: str,
    after: str,
    small: str | None,
    large: str | None,
    config: Any,
    sizes: dict[str, int] | None,
) -> tuple[str, str, dict[str, int]] | str:
    """(small, large, training sizes) or the reason the test cannot run."""
    from visualizer.analysis.runs import dataset_facts

    sizes = dict(sizes or {})
    candidates = [
        m
        for m in run.index.children(before)
        if run.index.images(m, "final", run.settings.method) and run.index.network(m) == run.network
    ]
    for name in {small, large, *candidates} - {None} - set(sizes):
        facts = dataset_facts(config, name) if config is not None else None
        if facts is not None:
            sizes[name] = facts[1]
    if small is None or large is None:
        known = [m for m in candidates if m in sizes]
        if len(known) < 2:
            return (
                f"needs two models transferred from {before} with known training-set sizes "
                "(pass --config, or --small and --large)"
            )
        # Ties go to the pair's own model, then by name.
        small = small or min(known, key=lambda m: (sizes[m], m != after, m))
        large = large or min(known, key=lambda m: (-sizes[m], m != after, m))
    if small == large:
        return f"--small and --large name the same model ({small})"
    if small in sizes and large in sizes and sizes[small] * 4 > sizes[large]:
        return (
            f"the small dataset ({small}: {sizes[small]} training images) must have at most a quarter of the "
            f"large one's ({large}: {sizes[large]})"
        )
    return small, large, sizes


# -- observations ------------------------------------------------------------------------------


def _pair_network(index: AtlasIndex, before: str, after: str) -> str | None:
    """The network of both models of a pair.

    Raises:
        ValueError: the two are of different networks (their layer names mean different layers).
    """
    first, second = index.network(before), index.network(after)
    if first != second:
        raise ValueError(
            f"{before} is of network {first} and {after} of {second}: a pair compares models of one network"
        )
    return first


def _attach_paths(entry: obs.Observation, refs_a: dict, refs_b: dict) -> obs.Observation:
    for ref in [*entry.best, *entry.worst]:
        key = (ref.layer, ref.channel)
        ref.before_path = refs_a[key].path if key in refs_a else ""
        ref.after_path = refs_b[key].path if key in refs_b else ""
    return entry


def analyse(
    atlas_dir: str | os.PathLike,
    before: str,
    after: str,
    *,
    before_snapshot: str = "final",
    after_snapshot: str = "final",
    settings: Settings = Settings(),
    runs_dir: str | os.PathLike | None = None,
    config: Any = None,
    temporal: str | None = None,
    small: str | None = None,
    large: str | None = None,
    held_out: tuple[np.ndarray, str] | None = None,
    dataset_sizes: dict[str, int] | None = None,
    write: bool = True,
    log: Log | None = None,
) -> Analysis:
    """Measure a pair of an atlas, test the six observations, and store everything in the atlas.

    Args:
        atlas_dir: an atlas with ``catalog.sqlite``.
        before: the model before transfer.
        after: the model after transfer (or the same model, with other snapshots).
        before_snapshot: snapshot of `before`.
        after_snapshot: snapshot of `after`.
        settings: what to measure with (`Settings`).
        runs_dir: where the models are (`runs.find_runs_dir`); None: the config's, or ``runs/<atlas name>``.
        config: a loaded `visualizer.config.Config`: the runs directory, the held-out images and the
            training-set sizes come from it.
        temporal: the temporal run for early adaptation (default: `after` when it has 3 or more
            snapshots, else a model transferred from `before` that has).
        small: the small-data model for redundancy (default: from the config's dataset sizes).
        large: the large-data model.
        held_out: (images ``[N, S, S, 3]`` in [0, 1], name) instead of the config's validation
            images of `after`.
        dataset_sizes: {model: training images} instead of the config's.
        write: store the results in the atlas (False: compute in memory).
        log: receives one line per step.

    Returns:
        An `Analysis`.

    Raises:
        FileNotFoundError: no catalog.
        ValueError: the pair shares no image of the method.
        ModelMismatchError: a model file does not match the atlas's layers.
    """
    from visualizer.analysis.runs import find_runs_dir

    atlas = Path(atlas_dir)
    run = _Run(atlas, settings, find_runs_dir(atlas, runs_dir, config), write, log or (lambda line: None))
    try:
        return _measure(
            run,
            before,
            after,
            before_snapshot,
            after_snapshot,
            config,
            temporal,
            small,
            large,
            held_out,
            dataset_sizes,
        )
    finally:
        run.store.connection.close()


def _measure(
    run: _Run,
    before: str,
    after: str,
    before_snapshot: str,
    after_snapshot: str,
    config: Any,
    temporal: str | None,
    small: str | None,
    large: str | None,
    held_out: tuple[np.ndarray, str] | None,
    dataset_sizes: dict[str, int] | None,
) -> Analysis:
    """`analyse`'s work on an open `_Run`."""
    from visualizer.analysis.runs import held_out_images

    settings = run.settings
    method = settings.method
    subject = subject_id(before, before_snapshot, after, after_snapshot, method)
    refs_a = run.index.images(before, before_snapshot, method)
    refs_b = run.index.images(after, after_snapshot, method)
    if not set(refs_a) & set(refs_b):
        raise ValueError(
            f"{before}/{before_snapshot} and {after}/{after_snapshot} share no {method} image; models in the "
            f"atlas: {', '.join(run.index.models)}."
        )
    run.network = _pair_network(run.index, before, after)
    analysis = Analysis(subject, before, before_snapshot, after, after_snapshot, method)
    run.store.subject(
        subject, "pair", before, before_snapshot, after, after_snapshot, method, asdict(settings)
    )
    model_a, model_b = run.model(before, before_snapshot), run.model(after, after_snapshot)
    models = (model_a, model_b) if model_a is not None and model_b is not None else None
    metrics = _pair_layers(run, (before, before_snapshot, after, after_snapshot), subject, models, analysis)

    # Held-out data: CKA of the pair, and the redundancy of the small and large models.
    entries: dict[str, obs.Observation] = {}
    roles: dict[str, tuple[str, str]] = {
        "before": (before, before_snapshot),
        "after": (after, after_snapshot),
    }
    chosen = _small_and_large(run, before, after, small, large, config, dataset_sizes)
    if isinstance(chosen, str):
        entries["small_data_redundancy"] = obs.unavailable("small_data_redundancy", chosen)
    else:
        roles.update(small=(chosen[0], "final"), large=(chosen[1], "final"))
    if held_out is None and config is not None:
        held_out = held_out_images(config, after, settings.held_out)
    redundancy: dict[str, dict[tuple[str, int], float]] = {}
    if held_out is None:
        reason = f"no held-out images of {after}'s dataset (pass --config)"
        run.note(f"{reason}: CKA and redundancy on data are left out")
        entries.setdefault("small_data_redundancy", obs.unavailable("small_data_redundancy", reason))
    elif models is None:
        entries.setdefault(
            "small_data_redundancy", obs.unavailable("small_data_redundancy", "no model files")
        )
    else:
        images, images_name = held_out
        redundancy = _data_metrics(run, subject, roles, images[: settings.held_out], images_name, analysis)
        if not redundancy:
            entries.setdefault(
                "small_data_redundancy",
                obs.unavailable("small_data_redundancy", "no model file of the small or the large model"),
            )

    # The six observations.
    series = None
    run_name = _find_temporal(run, before, after, temporal)
    if run_name is None:
        entries["early_adaptation"] = obs.unavailable(
            "early_adaptation",
            f"no temporal run: neither {after} nor a model transferred from {before} has 3 "
            "or more rendered snapshots",
        )
    elif run.index.network(run_name) != run.network:
        entries["early_adaptation"] = obs.unavailable(
            "early_adaptation",
            f"the temporal run {run_name} is of network {run.index.network(run_name)}, the pair of "
            f"{run.network}",
        )
    else:
        series = _temporal(run, run_name, analysis)
        if series is None:
            entries["early_adaptation"] = obs.unavailable(
                "early_adaptation",
                f"the temporal run {run_name} lacks snapshots from iteration 0, or its model files",
            )
    if series is not None:
        distances, iterations, layers, channels = series
        entries["early_adaptation"] = obs.early_adaptation(
            distances, iterations, layers, channels, run=run_name
        )
        entries["early_adaptation"] = _attach_paths(
            entries["early_adaptation"],
            run.index.images(run_name, run.index.snapshots(run_name, method)[0][0], method),
            run.index.images(run_name, run.index.snapshots(run_name, method)[-1][0], method),
        )

    rows = [(layer, c, m) for layer, per in metrics.items() for c, m in sorted(per.items())]
    stages = {layer: run.stage(layer) for layer in metrics}
    layers_of = [layer for layer, _, _ in rows]
    channels_of = [c for _, c, _ in rows]

    def column(name: str) -> np.ndarray:
        return np.array([np.nan if m.get(name) is None else m[name] for _, _, m in rows], dtype="float64")

    if models is None:
        entries["middle_reuse"] = obs.unavailable("middle_reuse", "no model files for the pair")
    else:
        responses, own, chans = {}, {}, {}
        for layer, per in metrics.items():
            matrix = run.store.array(subject, layer, "after_on_before")
            if matrix is not None:
                responses[layer] = matrix
                chans[layer] = sorted(per)
                own[layer] = np.array([per[c].get("own_activation_after") or 0.0 for c in chans[layer]])
        entries["middle_reuse"] = obs.middle_reuse(responses, own, chans, stages=stages)
    entries["stable_scale"] = obs.stable_scale(
        column("period_before"), column("period_after"), layers_of, channels_of
    )
    if "small_data_redundancy" not in entries:
        small_name, large_name, sizes = chosen
        keys = [
            (layer, c) for layer in metrics for c in range(run.index.layer_channels(before).get(layer, 0))
        ]
        small_values = np.array([_nan(redundancy["small"].get(k)) for k in keys], dtype="float64")
        large_values = np.array([_nan(redundancy["large"].get(k)) for k in keys], dtype="float64")
        entries["small_data_redundancy"] = obs.small_data_redundancy(
            small_values,
            large_values,
            [k[0] for k in keys],
            [k[1] for k in keys],
            small_model=small_name,
            large_model=large_name,
            training_images={small_name: sizes.get(small_name), large_name: sizes.get(large_name)},
            held_out=f"{len(held_out[0][: settings.held_out])} validation images of {held_out[1]}",
            threshold_duplicate=DUPLICATE_THRESHOLD,
        )
    entries["low_layers_colour"] = obs.low_layers_colour(
        column("colour_change_rel"), column("structure_change_rel"), layers_of, channels_of, stages=stages
    )
    entries["image_scale_structure"] = obs.image_scale_structure(
        column("image_scale_before"), column("image_scale_after"), layers_of, channels_of, stages=stages
    )
    for key in (
        "middle_reuse",
        "stable_scale",
        "small_data_redundancy",
        "low_layers_colour",
        "image_scale_structure",
    ):
        _attach_paths(entries[key], refs_a, refs_b)
    analysis.observations = [entries[key] for key in obs.OBSERVATION_IDS]
    run.store.replace_observations(subject, analysis.observations)

    # The tables of the JSON.
    for layer, channel, values in rows:
        analysis.channels.append(
            {
                "layer": layer,
                "channel": channel,
                "before_path": refs_a[(layer, channel)].path,
                "after_path": refs_b[(layer, channel)].path,
                **values,
            }
        )
    layer_ids = sorted(
        {
            layer
            for layer, _, _ in run.store.connection.execute(
                "SELECT layer, name, value FROM analysis_layer_metrics WHERE subject = ?", (subject,)
            )
        },
        key=lambda layer: (run.order(layer), layer),
    )
    for layer in layer_ids:
        analysis.layers.append(
            {
                "layer": layer,
                "paper_index": run.index.paper_index.get(layer) if run.inception else None,
                "graph_index": run.index.layers.graph_index(layer, run.network),
                "stage": run.stage(layer),
                **run.store.layer_values(subject, layer),
            }
        )
    for row in run.store.connection.execute(
        "SELECT layer, channel, source_layer, source_channel, weight_before, weight_after, rank_before, "
        "rank_after "
        "FROM analysis_circuits WHERE subject = ? ORDER BY layer, channel, rank_before",
        (subject,),
    ):
        analysis.circuits.append(
            dict(
                zip(
                    (
                        "layer",
                        "channel",
                        "source_layer",
                        "source_channel",
                        "weight_before",
                        "weight_after",
                        "rank_before",
                        "rank_after",
                    ),
                    row,
                )
            )
        )
    analysis.notes = list(run.notes)
    return analysis
