"""Configuration: dataclasses of defaults, TOML that overrides, CLI flags last.

A config file (``configs/demo.toml``, ``configs/paper.toml``) describes a whole
experiment: where trained models and the atlas live, the network, how each
model is obtained (pretrained from a checkpoint or trained on a demo world,
then transferred to a target dataset with snapshots) and what to render.
Every key is checked: an unknown key, a wrong type, an unknown choice or a
size or count below its least (``render.steps = 0``) fails before any work
starts, naming the file, the line and the valid choices, or the flag that set
the value (``--steps``); so does an empty file.

Paths in a config are relative to the config file's folder's parent
(the repository root for ``configs/*.toml``) unless absolute; a ``keras`` or
``frozen_graph`` model's `path` is relative to the config file's own folder,
so a config can sit beside the network it describes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Config",
    "ConfigCheck",
    "ConfigError",
    "DatasetConfig",
    "Fail",
    "ModelConfig",
    "NetworkConfig",
    "PriorConfig",
    "ProjectConfig",
    "RenderConfig",
    "SelectionConfig",
    "add_check",
    "load_config",
]

DATASET_KINDS = ("world", "celeba", "flowers17", "pets", "folders")
MODEL_SOURCES = ("checkpoint", "pretrain", "transfer", "keras", "frozen_graph", "zoo")
# Sources whose network the project builds itself: the slim InceptionV1 (`[network] width` applies).
INCEPTION_SOURCES = ("checkpoint", "pretrain")
HEADS = ("logits", "dense", "single_dense")


class ConfigError(ValueError):
    """A config file has an unknown key, a bad value or a missing file."""


# The command-line flags that override these keys (`load_config`'s overrides), named in errors.
OVERRIDE_FLAGS = {
    "render.size": "--size",
    "render.steps": "--steps",
    "project.atlas_dir": "--atlas",
    "project.runs_dir": "--runs",
}


@dataclass
class ProjectConfig:
    """Where things live and the global seed."""

    name: str = "demo"
    seed: int = 0  # every random draw derives from this
    runs_dir: str = "runs/demo"  # trained models and snapshots
    atlas_dir: str = "atlas/demo"  # rendered images and catalog.sqlite


@dataclass
class NetworkConfig:
    """The InceptionV1 variant every model of the experiment uses."""

    width: float = 1.0  # channel multiplier; 1.0 is the real network (7,280 channels)
    image_size: int = 224  # training and evaluation input size


@dataclass
class DatasetConfig:
    """A dataset: a real one on disk or a synthetic demo world."""

    kind: str = "world"  # one of DATASET_KINDS
    path: str = ""  # root folder of a real dataset
    world: str = ""  # demo world name when kind == "world"
    breeds: list[str] = field(default_factory=list)  # pets: breeds to keep (empty: all)
    train_size: int = 0  # worlds: images per epoch (0: the world's default)
    validation_size: int = 0  # worlds: validation images (0: the world's default); real data: cap (0: all)


@dataclass
class ModelConfig:
    """One model of the atlas and how to obtain it.

    ``source = "checkpoint"`` loads a slim checkpoint (the ImageNet model of
    the paper); ``"pretrain"`` trains from scratch on `dataset` (the demo's
    stand-in for ImageNet); ``"transfer"`` starts from model `parent` (any
    source), cuts it at its last feature map (or `base_layer`) and fine-tunes
    it on `dataset` with a new head, saving `snapshots`; ``"keras"`` takes a
    ``.keras``/``.h5`` file or a runs-layout folder at `path` (relative to the
    config file's folder) whose images are in `input_range`;
    ``"frozen_graph"`` a Lucid-style ``.pb`` at `path` with Lucid's
    `input`, `image_shape` and `image_value_range`; ``"zoo"`` a network the
    project builds with published ImageNet weights, named by `network`
    (`visualizer.models.zoo`).
    """

    name: str = ""
    source: str = "transfer"  # one of MODEL_SOURCES
    checkpoint: str = ""  # source == "checkpoint": slim checkpoint prefix
    parent: str = ""  # source == "transfer": name of the model to start from
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    head: str = "dense"  # one of HEADS
    multi_label: bool = False  # sigmoid outputs and binary cross-entropy (CelebA)
    steps: int = 0  # optimizer steps (0: derive from epochs)
    epochs: int = 0
    batch_size: int = 32
    learning_rate: float = 0.001
    snapshots: list[int] = field(default_factory=list)  # iterations to save besides the final model
    description: str = ""
    batch_norm_momentum: float = 0.99  # moving-statistics momentum while training (Keras's default)
    resume_every: int = 0  # steps between extra resume points (0: only at snapshots)
    path: str = ""  # keras / frozen_graph: the model file or runs folder, relative to the config file
    input_range: list[float] = field(default_factory=lambda: [0.0, 1.0])  # keras: what the model expects
    input: str = "input"  # frozen_graph: the input placeholder's name
    image_shape: list[int] = field(default_factory=lambda: [224, 224, 3])  # frozen_graph: Lucid's image_shape
    image_value_range: list[float] = field(default_factory=lambda: [-1.0, 1.0])  # frozen_graph
    base_layer: str = ""  # transfer: cut the parent here (empty: at its last feature map)
    freeze: list[str] = field(default_factory=list)  # transfer: layers kept fixed while fine-tuning
    image_size: int = 0  # training and evaluation size (0: [network] image_size)
    network: str = ""  # zoo: the zoo network's key, e.g. "efficientnet_lite0"


@dataclass
class SelectionConfig:
    """Which images to render: models x snapshots x layers x channels x methods.

    layers: ``"all"``, ``"figure7"``, ``"figure6"`` or a list of layer names
    (any alias). channels: ``"all"``, ``"first:N"``, ``"sample:N"`` (N evenly
    spaced channels) or a list of indices. snapshots: ``"final"``, ``"all"``
    or a list of snapshot names.
    """

    models: list[str] = field(default_factory=list)  # empty: every model
    snapshots: Any = "final"
    layers: Any = "all"
    channels: Any = "all"
    methods: list[str] = field(default_factory=lambda: ["lucid"])


@dataclass
class PriorConfig:
    """Settings of the ``stylegan2`` method (`visualizer.prior.generative`).

    generator: StyleGAN2 weights (NVlabs' TF1 ``.pkl`` or an ``.npz``); the
    method needs it. The images have the generator's resolution; the
    classifier sees them downscaled to `RenderConfig.size`.
    """

    generator: str = ""
    steps: int = 256
    lam: float = 0.01
    learning_rate: float = 0.02
    randomize_noise: bool = True
    center: str = "sampled"


@dataclass
class ExamplesConfig:
    """Settings of the ``examples`` method (`visualizer.analysis.examples`).

    dataset: ``"own"`` (each model's examples from its own dataset's
    validation images) or a model name (every model's from that model's
    dataset: the same images before and after transfer). `images` caps the
    validation images scored; `top` examples per channel, a perfect square,
    make each contact sheet.
    """

    dataset: str = "own"
    images: int = 512
    top: int = 9


@dataclass
class DiversityConfig:
    """Settings of the ``diversity`` method: `images` images of each channel (a perfect square, laid out
    as one contact sheet), made to differ by Lucid's diversity term at `weight` (Lucid's notebook: 4
    images, 100); `batch_size` channels per optimization (0: the atlas batch, ``render.batch_size``).
    """

    images: int = 4
    weight: float = 100.0
    batch_size: int = 8


@dataclass
class RenderConfig:
    """Render settings (Lucid's defaults at the paper's size) and the plan."""

    size: int = 256  # image side in pixels (the paper: 256)
    steps: int = 1024  # optimization steps (the paper: 1024)
    batch_size: int = 0  # channels per optimization (0: a whole layer at once)
    transforms: str = "lucid"
    param: str = "fft"
    decorrelate: bool = True
    # "auto": one fixed canvas under JAX, Lucid's per-scale sizes elsewhere (visualizer.render.canvas).
    scale_canvas: str = "auto"
    precision: str = "float32"  # or "bf16": convolutions in bfloat16 (visualizer.render.precision)
    plan: list[SelectionConfig] = field(default_factory=list)
    prior: PriorConfig = field(default_factory=PriorConfig)
    examples: ExamplesConfig = field(default_factory=ExamplesConfig)
    diversity: DiversityConfig = field(default_factory=DiversityConfig)


@dataclass
class Config:
    """A whole experiment."""

    project: ProjectConfig = field(default_factory=ProjectConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    models: list[ModelConfig] = field(default_factory=list)
    render: RenderConfig = field(default_factory=RenderConfig)
    path: str = field(default="", metadata={"toml": False})  # the file this was read from
    base_dir: str = field(default=".", metadata={"toml": False})  # relative paths resolve against it

    def resolve_path(self, value: str) -> Path:
        """Return `value` as a path, relative ones resolved against `base_dir`."""
        path = Path(value)
        return path if path.is_absolute() else Path(self.base_dir) / path

    def model(self, name: str) -> ModelConfig:
        """Return the model called `name`, or raise ConfigError listing the models."""
        for model in self.models:
            if model.name == name:
                return model
        raise ConfigError(f"Unknown model {name!r}; models in {self.path}: {', '.join(self.model_names())}.")

    def location(self, dotted: str) -> str:
        """``file:line`` of a key given by its dotted path (``render.plan[0].layers``), for error messages.

        Just the file when the line cannot be found (or the file cannot be read).
        """
        try:
            line = _key_line(Path(self.path).read_text(), dotted)
        except OSError:
            line = None
        return f"{self.path}:{line}" if line else self.path

    def model_path(self, model: ModelConfig) -> Path:
        """A ``keras`` or ``frozen_graph`` model's `path`; a relative one is from the config file's folder."""
        path = Path(model.path)
        return path if path.is_absolute() else Path(self.path).resolve().parent / path

    def root_model(self, name: str) -> ModelConfig:
        """The model whose network `name` has: itself, or for a transfer its first non-transfer ancestor."""
        model = self.model(name)
        while model.source == "transfer":
            model = self.model(model.parent)
        return model

    def is_inception(self, name: str) -> bool:
        """Whether model `name` is the slim InceptionV1 the project builds (`[network] width` applies)."""
        return self.root_model(name).source in INCEPTION_SOURCES

    def image_size(self, name: str) -> int:
        """Model `name`'s training size: its own `image_size`, its parent's, or ``[network] image_size``."""
        model = self.model(name)
        while not model.image_size and model.source == "transfer":
            model = self.model(model.parent)
        return model.image_size or self.network.image_size

    def model_names(self) -> list[str]:
        """Names of the configured models, in config order."""
        return [model.name for model in self.models]

    def digest(self) -> str:
        """A short hash of the settings that shape results (not where files live)."""
        payload = dataclasses.asdict(self)
        payload["models"] = [model_settings(model) for model in self.models]
        for location in ("path", "base_dir"):
            payload.pop(location)
        for location in ("runs_dir", "atlas_dir"):
            payload["project"].pop(location)
        for name, default in RENDER_DEFAULTS_OUTSIDE_DIGEST.items():
            if payload["render"].get(name) == default:  # configs older than the setting keep their digest
                payload["render"].pop(name)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


# Model keys added for other networks: left out of digests at their defaults, so older configs keep theirs.
MODEL_DEFAULTS_OUTSIDE_DIGEST = {
    "path": "",
    "input_range": [0.0, 1.0],
    "input": "input",
    "image_shape": [224, 224, 3],
    "image_value_range": [-1.0, 1.0],
    "base_layer": "",
    "freeze": [],
    "image_size": 0,
    "network": "",
}


def model_settings(model: ModelConfig) -> dict[str, Any]:
    """A model's settings for hashing, without keys at their `MODEL_DEFAULTS_OUTSIDE_DIGEST` value."""
    settings = dataclasses.asdict(model)
    for name, default in MODEL_DEFAULTS_OUTSIDE_DIGEST.items():
        if settings.get(name) == default:
            settings.pop(name)
    return settings


def _key_lines(text: str) -> dict[str, int]:
    """Line number of each table and key in the TOML text, by dotted path (``render.plan[1].models``).

    A line-by-line reading, enough for error messages: quoted keys, multi-line
    strings and arrays of tables nested in arrays are not followed.
    """
    lines: dict[str, int] = {}
    header, arrays = "", {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.split("#", 1)[0].strip()
        array = re.fullmatch(r"\[\[\s*([\w.-]+)\s*\]\]", stripped)
        table = re.fullmatch(r"\[\s*([\w.-]+)\s*\]", stripped)
        if array:
            arrays[array[1]] = arrays.get(array[1], -1) + 1
            header = f"{array[1]}[{arrays[array[1]]}]"
            lines.setdefault(array[1], number)
        elif table:
            # A sub-table of the latest entry of an array of tables: [models.dataset] after [[models]].
            owner = next((name for name in arrays if table[1].startswith(name + ".")), None)
            header = f"{owner}[{arrays[owner]}]{table[1][len(owner) :]}" if owner else table[1]
        key = None if (array or table) else re.match(r"([\w.-]+)\s*=", stripped)
        path = header if key is None else (f"{header}.{key[1]}" if header else key[1])
        if path:
            lines.setdefault(path, number)
    return lines


def _key_line(text: str, dotted: str) -> int | None:
    """Line number of a key, or of the nearest table around it, in the TOML text; None if not found."""
    lines = _key_lines(text)
    path = dotted
    while path:
        if path in lines:
            return lines[path]
        shorter = re.sub(r"\[\d+\]$", "", path)  # a list item: its key's line
        path = shorter if shorter != path else path.rpartition(".")[0]
    last = dotted.split(".")[-1].split("[")[0]
    match = re.search(rf"^\s*{re.escape(last)}\s*=", text, re.MULTILINE) if last else None
    return text.count("\n", 0, match.start()) + 1 if match else None


class _Reader:
    def __init__(self, path: str, text: str, overrides: typing.Iterable[str] = ()):
        self.path = path
        self.text = text
        self.overrides = tuple(overrides)

    def _override(self, where: str) -> str | None:
        """The override (a dotted key) that set `where`, if one did."""
        return next((key for key in self.overrides if re.match(rf"{re.escape(key)}($|[.\[])", where)), None)

    def fail(self, where: str, message: str) -> typing.NoReturn:
        override = self._override(where)
        if override is not None:  # the value came from a flag, not from a line of the file
            flag = OVERRIDE_FLAGS.get(override)
            label = f"{flag}/{where}" if flag else f"override {where}"
            raise ConfigError(f"{label}: {message} (overriding {self.path})")
        line = _key_line(self.text, where)
        location = f"{self.path}:{line}" if line else self.path
        raise ConfigError(f"{location}: {where}: {message}")

    def build(self, cls: type, data: Any, where: str) -> Any:
        if not isinstance(data, dict):
            self.fail(where, f"expected a table, received {type(data).__name__} {data!r}")
        hints = typing.get_type_hints(cls)
        names = [f.name for f in dataclasses.fields(cls) if f.metadata.get("toml", True)]
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in names:
                self.fail(f"{where}.{key}" if where else key, f"unknown key; valid keys: {', '.join(names)}")
            values[key] = self.convert(hints[key], value, f"{where}.{key}" if where else key)
        return cls(**values)

    def convert(self, hint: Any, value: Any, where: str) -> Any:
        origin = typing.get_origin(hint)
        if dataclasses.is_dataclass(hint):
            return self.build(hint, value, where)
        if origin is list:
            (item,) = typing.get_args(hint)
            if not isinstance(value, list):
                self.fail(where, f"expected a list, received {value!r}")
            return [self.convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        if hint is Any:
            return value
        if origin in (typing.Union, types.UnionType):
            return value
        if hint is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if hint is bool and not isinstance(value, bool):
            self.fail(where, f"expected true or false, received {value!r}")
        if hint is int and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(where, f"expected an integer, received {value!r}")
        if not isinstance(value, hint):
            self.fail(where, f"expected {hint.__name__}, received {value!r}")
        return value


RENDER_DEFAULTS_OUTSIDE_DIGEST = {"scale_canvas": "auto", "precision": "float32"}
SCALE_CANVASES = ("auto", "lucid", "fixed")
PRECISIONS = ("float32", "bf16")


def _check_choice(reader: _Reader, where: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        reader.fail(where, f"unknown value {value!r}; valid: {', '.join(choices)}")


def _check_at_least(reader: _Reader, where: str, value: float, least: float) -> None:
    if value < least:
        reader.fail(where, f"must be at least {least}, received {value}")


def _check_positive(reader: _Reader, where: str, value: float) -> None:
    if not value > 0:
        reader.fail(where, f"must be positive, received {value}")


def _validate_counts(config: Config, reader: _Reader) -> None:
    """Sizes and counts where 0 or a negative number means nothing (or 0 has its own meaning)."""
    _check_positive(reader, "network.width", config.network.width)
    _check_at_least(reader, "network.image_size", config.network.image_size, 1)
    for index, model in enumerate(config.models):
        for name in ("train_size", "validation_size"):  # 0: the dataset's default
            _check_at_least(reader, f"models[{index}].dataset.{name}", getattr(model.dataset, name), 0)
    render = config.render
    _check_at_least(reader, "render.size", render.size, 1)
    _check_at_least(reader, "render.steps", render.steps, 1)
    _check_at_least(reader, "render.batch_size", render.batch_size, 0)  # 0: a whole layer at once
    _check_positive(reader, "render.prior.learning_rate", render.prior.learning_rate)


def _validate(config: Config, reader: _Reader) -> None:
    _validate_counts(config, reader)
    names = config.model_names()
    if len(set(names)) != len(names):
        reader.fail("models", f"model names must be unique, received {names}")
    for index, model in enumerate(config.models):
        where = f"models[{index}]"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", model.name or ""):
            reader.fail(
                f"{where}.name", f"a model needs a name of letters, digits, '_', '-', '.'; got {model.name!r}"
            )
        _check_choice(reader, f"{where}.source", model.source, MODEL_SOURCES)
        _check_choice(reader, f"{where}.head", model.head, HEADS)
        _check_choice(reader, f"{where}.dataset.kind", model.dataset.kind, DATASET_KINDS)
        if model.source == "transfer" and model.parent not in names[:index]:
            reader.fail(
                f"{where}.parent",
                f"{model.parent!r} is not a model defined before {model.name!r}; "
                f"valid: {', '.join(names[:index])}",
            )
        if model.source == "checkpoint" and not model.checkpoint:
            reader.fail(f"{where}.checkpoint", "a checkpoint model needs the checkpoint path")
        _validate_model_source(model, where, reader)
    _check_choice(reader, "render.scale_canvas", config.render.scale_canvas, SCALE_CANVASES)
    _check_choice(reader, "render.precision", config.render.precision, PRECISIONS)
    prior = config.render.prior
    _check_choice(reader, "render.prior.center", prior.center, ("sampled", "stored"))
    if prior.steps < 1:
        reader.fail("render.prior.steps", f"must be at least 1, received {prior.steps}")
    if prior.lam < 0:
        reader.fail("render.prior.lam", f"must be non-negative, received {prior.lam}")
    for index, selection in enumerate(config.render.plan):
        for name in selection.models:
            if name not in names:
                reader.fail(
                    f"render.plan[{index}].models", f"unknown model {name!r}; valid: {', '.join(names)}"
                )
    _validate_examples(config, reader)
    _validate_diversity(config, reader)


def _check_range(reader: _Reader, where: str, value: list[float]) -> None:
    if len(value) != 2 or not value[0] < value[1]:
        reader.fail(where, f"must be [lo, hi] with lo < hi, received {value}")


def _validate_model_source(model: ModelConfig, where: str, reader: _Reader) -> None:
    """The keys of the keras, frozen_graph and transfer sources, and that no source gets another's keys."""
    _check_at_least(reader, f"{where}.image_size", model.image_size, 0)
    if model.source in ("keras", "frozen_graph") and not model.path:
        kind = "a .keras or .h5 file, or a runs folder" if model.source == "keras" else "a .pb frozen graph"
        reader.fail(
            f"{where}.path", f"a {model.source} model needs path = {kind}, relative to the config file"
        )
    if model.source == "zoo" and not model.network:
        reader.fail(f"{where}.network", 'a zoo model needs network = "<key>", e.g. "efficientnet_lite0"')
    own = {
        "network": ("zoo",),
        "path": ("keras", "frozen_graph"),
        "input_range": ("keras",),
        "input": ("frozen_graph",),
        "image_shape": ("frozen_graph",),
        "image_value_range": ("frozen_graph",),
        "base_layer": ("transfer",),
        "freeze": ("transfer",),
    }
    for key, sources in own.items():
        if getattr(model, key) != MODEL_DEFAULTS_OUTSIDE_DIGEST[key] and model.source not in sources:
            reader.fail(
                f"{where}.{key}",
                f"{key} applies to source = {' or '.join(repr(s) for s in sources)}, not {model.source!r}",
            )
    _check_range(reader, f"{where}.input_range", model.input_range)
    _check_range(reader, f"{where}.image_value_range", model.image_value_range)
    if len(model.image_shape) != 3 or min(model.image_shape) < 1:
        reader.fail(
            f"{where}.image_shape", f"must be [height, width, channels], received {model.image_shape}"
        )
    if not model.input:
        reader.fail(f"{where}.input", "must name the graph's input placeholder (Lucid: 'input')")


def _validate_diversity(config: Config, reader: _Reader) -> None:
    diversity = config.render.diversity
    if diversity.images < 2 or math.isqrt(diversity.images) ** 2 != diversity.images:
        reader.fail(
            "render.diversity.images",
            f"must be a perfect square of at least 4 (4, 9, 16...), received {diversity.images}",
        )
    if diversity.weight <= 0:
        reader.fail("render.diversity.weight", f"must be positive, received {diversity.weight}")
    if diversity.batch_size < 0:
        reader.fail("render.diversity.batch_size", f"must be 0 or more, received {diversity.batch_size}")


def _validate_examples(config: Config, reader: _Reader) -> None:
    examples = config.render.examples
    if examples.top < 1 or math.isqrt(examples.top) ** 2 != examples.top:
        reader.fail(
            "render.examples.top", f"must be a perfect square (1, 4, 9, 16...), received {examples.top}"
        )
    if examples.images < examples.top:
        reader.fail(
            "render.examples.images", f"must be at least top = {examples.top}, received {examples.images}"
        )
    names = config.model_names()
    if examples.dataset != "own" and examples.dataset not in names:
        reader.fail(
            "render.examples.dataset", f"unknown value {examples.dataset!r}; valid: own, {', '.join(names)}"
        )


# fail(dotted key, message) raises a ConfigError that names the key's line (or the flag that set it).
Fail = Callable[[str, str], NoReturn]
ConfigCheck = Callable[["Config", Fail], None]
_CHECKS: list[ConfigCheck] = []


def add_check(check: ConfigCheck) -> ConfigCheck:
    """Have `load_config` run ``check(config, fail)`` after its own checks, on every config it loads.

    This module imports nothing of the project, so the checks that need
    more are added by the layers that know it: the atlas's method registry
    (`visualizer.atlas.methods`) checks that the plan's methods are
    registered and that the tables their settings read hold what they need
    (a generator file for ``stylegan2``). Those run wherever the registry is
    imported, as it is by every command that plans or renders.

    Returns:
        `check` (so that it can decorate); adding it twice runs it once.
    """
    if check not in _CHECKS:
        _CHECKS.append(check)
    return check


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> Config:
    """Read and validate a TOML config.

    Args:
        path: the TOML file.
        overrides: dotted keys to values applied after the file
            (``{"render.steps": 64}``), as CLI flags do.

    Returns:
        The `Config`, with `path` and `base_dir` set.

    Raises:
        ConfigError: an empty file, unknown key, bad value or type (a size or
            count below 1, say), unknown choice, or a failed check that
            `add_check` added (an unregistered method, say); the message
            names the file, line and valid choices, or the flag of an override.
        FileNotFoundError: when the file does not exist.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{path}: no such config file (vtl comes with configs/demo.toml and configs/paper.toml)"
        ) from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not a TOML file (not UTF-8 text: {error})") from error
    reader = _Reader(str(path), text, overrides or {})
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    if not data:  # an empty file would run as the defaults: nothing to train or render
        raise ConfigError(
            f"{path}: the config file is empty (no tables or keys); a config names the project, "
            "the network, its [[models]] and what to [render]: see configs/demo.toml"
        )
    for dotted, value in (overrides or {}).items():
        table = data
        *parents, last = dotted.split(".")
        for part in parents:
            table = table.setdefault(part, {})
        table[last] = value
    config = reader.build(Config, data, "")
    config.path = str(path)
    config.base_dir = str(path.resolve().parent.parent)
    _validate(config, reader)
    for check in _CHECKS:
        check(config, reader.fail)
    return config
