"""Rendering methods the atlas can run, by name: one `Method` record each, in one registry.

A method turns (model, layer, channels) into one image per channel:
``lucid`` is Lucid's channel visualization, ``neuron`` Lucid's neuron
objective (the centre unit), ``negative`` the image that drives the
channel's pre-ReLU value lowest, ``diversity`` a contact sheet of several
images of the channel made to differ (Lucid's diversity term),
``stylegan2`` the paper's generative prior (`visualizer.prior.generative`),
``examples`` contact sheets of the dataset images that excite each channel
most (`visualizer.analysis.examples`), ``negative_examples`` those it
responds to least.

A `Method` holds everything about one method: its render function, the
function that reads its settings from the config, the FLOPs of one step (for
plans and estimates), its kind (an ``image`` or a contact ``sheet``), a
one-line description and its display order (for the gallery, which reads
them from the catalog's ``methods`` table). Adding a method is one function
and one registration beside it::

    @register_method("mine", kind="image", order=45, description="What the image shows, in one line.")
    def mine(model, layer, channels, *, size, steps, seed, **settings) -> MethodResult: ...

The built-in methods below are registered that way, each beside its
function; a method in a module of its own registers when that module is
imported (before the config is loaded, so that `load_config` knows it).
The atlas job calls ``method(model, layer, channels, seed=..., **settings(config))``
and records the settings with every image.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visualizer.atlas.keys import check_component
from visualizer.config import Config, Fail, SelectionConfig, add_check
from visualizer.pngio import file_sha256

if TYPE_CHECKING:
    from visualizer.render.render import Rendering

__all__ = [
    "DEFAULT_ORDER",
    "METHOD_KINDS",
    "Method",
    "MethodResult",
    "available_methods",
    "check_planned_methods",
    "get_method",
    "method_record",
    "method_settings",
    "method_step_flops",
    "register",
    "register_method",
    "registered_methods",
    "unregister_method",
]

METHOD_KINDS = ("image", "sheet")
"""``image``: one picture of the channel per image; ``sheet``: a contact sheet of several pictures.

The gallery's grids show an image method where the atlas has one; sheets go
after images on every list.
"""
DEFAULT_ORDER = 1000
"""The display order of a method registered without one: after the built-in methods."""


@dataclass
class MethodResult:
    """Images (N, H, W, 3) in [0, 1], final objective per channel, and the channels that failed.

    `recorded` holds settings to store with every image in place of the
    method's arguments of the same name (for example a weights file's name
    and digest rather than its path on the rendering machine).
    """

    images: np.ndarray
    objectives: np.ndarray
    failed: list[int]
    recorded: dict[str, Any] = field(default_factory=dict)


MethodFunction = Callable[..., MethodResult]
# config -> settings, or (config, model name) -> settings for methods registered with per_model=True.
SettingsFunction = Callable[..., dict[str, Any]]
StepFlopsFunction = Callable[[Any, str], float]
# (config, the plan entries that use the method, fail): what the config must hold for the method to run.
CheckFunction = Callable[[Config, list[SelectionConfig], Fail], None]


def _render_settings(config) -> dict[str, Any]:
    """Lucid's settings from ``config.render``."""
    render = config.render
    return {
        "size": render.size,
        "steps": render.steps,
        "transforms": render.transforms,
        "param": render.param,
        "decorrelate": render.decorrelate,
    }


def _classifier_step_flops(config, layer_id: str) -> float:
    """FLOPs of one image's step through the classifier at ``config.render.size``."""
    from visualizer.models.flops import render_step_flops

    return float(render_step_flops(layer_id, config.render.size, config.network.width))


def _objective_settings(objective: str) -> SettingsFunction:
    """A settings function: Lucid's settings from ``config.render`` and `objective` (recorded)."""

    def settings(config) -> dict[str, Any]:
        return {**_render_settings(config), "objective": objective}

    return settings


def _check_settings_function(name: str, settings: SettingsFunction, per_model: bool) -> None:
    """Raise TypeError unless `settings` takes ``(config)``, or ``(config, model)`` with `per_model`."""
    arguments = (None, None) if per_model else (None,)
    try:
        inspect.signature(settings).bind(*arguments)
    except TypeError as error:
        form = "(config, model name) with per_model=True" if per_model else "(config) with per_model=False"
        raise TypeError(
            f"The settings function of method {name!r} cannot be called as {form}: {error}."
        ) from None


@dataclass(frozen=True)
class Method:
    """One atlas method: how it renders, from which settings, at what cost, and how the gallery shows it.

    Attributes:
        name: the method's name in configs, atlas paths and the gallery (a
            key component, `visualizer.atlas.keys.KEY_PATTERN`).
        kind: one of `METHOD_KINDS`: ``"image"`` or ``"sheet"`` (a contact sheet).
        render: ``(model, layer, channels, *, seed, **settings) -> MethodResult``.
        settings: ``config -> keyword arguments`` of `render` (JSON values,
            ``steps`` among them: 0 for a method that runs no optimization),
            or ``(config, model name) -> keyword arguments`` with `per_model`.
        step_flops: ``(config, layer id) -> FLOPs`` of one optimization step
            of one image (for a method with ``steps`` 0: of one whole batch).
        description: one line for the gallery: what the image shows.
        order: display order in the gallery's lists (lower first; ties by name).
        per_model: the settings differ by model; `settings` takes the model's
            name as its second argument.
        check: ``(config, plan entries using the method, fail)``: raise with
            ``fail(dotted key, message)`` where the config cannot serve the
            method (no generator file for ``stylegan2``, say); `load_config`
            and `visualizer.atlas.plan.make_plan` run it for planned methods.

    Raises:
        ValueError: an unsafe name, an unknown kind, or a description that is
            empty or longer than one line.
        TypeError: `settings` cannot be called as `per_model` says.
    """

    name: str
    kind: str
    render: MethodFunction
    description: str
    settings: SettingsFunction = _render_settings
    step_flops: StepFlopsFunction = _classifier_step_flops
    order: int = DEFAULT_ORDER
    per_model: bool = False
    check: CheckFunction | None = None

    def __post_init__(self) -> None:
        check_component("method name", self.name)
        if self.kind not in METHOD_KINDS:
            raise ValueError(
                f"Method {self.name!r} has kind {self.kind!r}; valid: {', '.join(METHOD_KINDS)}."
            )
        if not self.description.strip() or "\n" in self.description.strip():
            raise ValueError(
                f"Method {self.name!r} needs a one-line description, received {self.description!r}."
            )
        _check_settings_function(self.name, self.settings, self.per_model)

    def settings_for(self, config, model: str | None = None) -> dict[str, Any]:
        """The keyword arguments `render` takes from `config` (for `model` where `per_model`)."""
        if self.per_model:
            if model is None:
                raise ValueError(f"The settings of method {self.name!r} depend on the model; pass model=.")
            return self.settings(config, model)
        return self.settings(config)

    def flops(self, config, layer_id: str) -> float:
        """FLOPs of one step of one image on `layer_id` (an InceptionV1 layer id)."""
        return float(self.step_flops(config, layer_id))


_REGISTRY: dict[str, Method] = {}


def register(method: Method) -> Method:
    """Make `method` available to plans under its name (replacing one registered under the same name)."""
    _REGISTRY[method.name] = method
    return method


def register_method(
    name: str,
    settings: SettingsFunction | None = None,
    step_flops: StepFlopsFunction | None = None,
    per_model: bool = False,
    *,
    kind: str = "image",
    description: str | None = None,
    order: int = DEFAULT_ORDER,
    check: CheckFunction | None = None,
) -> Callable[[MethodFunction], MethodFunction]:
    """Decorator: register the decorated render function as the `Method` called `name`.

    Args:
        name: the method's name in configs, atlas paths and the gallery.
        settings: see `Method.settings`; default: Lucid's settings from ``config.render``.
        step_flops: see `Method.step_flops`; default: the classifier's forward
            pass and input gradient to the layer.
        per_model: the settings differ by model, and `settings` takes the
            model's name as its second argument.
        kind: ``"image"`` or ``"sheet"`` (`METHOD_KINDS`).
        description: one line for the gallery; default: the first line of
            the function's docstring.
        order: display order in the gallery (lower first).
        check: see `Method.check`.

    Returns:
        The decorator; it returns the function unchanged.

    Raises:
        TypeError: `settings` cannot be called as `per_model` says (raised
            here, before anything is registered).
    """
    if settings is not None:
        _check_settings_function(name, settings, per_model)

    def decorate(function: MethodFunction) -> MethodFunction:
        summary = description if description is not None else (inspect.getdoc(function) or "").split("\n")[0]
        register(
            Method(
                name=name,
                kind=kind,
                render=function,
                description=summary,
                settings=settings or _render_settings,
                step_flops=step_flops or _classifier_step_flops,
                order=order,
                per_model=per_model,
                check=check,
            )
        )
        return function

    return decorate


def unregister_method(name: str) -> Method:
    """Remove the method called `name` from the registry and return it (for plugins and tests)."""
    method_record(name)
    return _REGISTRY.pop(name)


def available_methods() -> list[str]:
    """Names of the registered methods, sorted."""
    return sorted(_REGISTRY)


def registered_methods() -> list[Method]:
    """Every registered `Method`, in display order (then by name)."""
    return sorted(_REGISTRY.values(), key=lambda method: (method.order, method.name))


def method_record(name: str) -> Method:
    """The `Method` called `name`, or raise ValueError listing the valid names."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown method {name!r}; valid: {', '.join(available_methods())}.")
    return _REGISTRY[name]


def get_method(name: str) -> MethodFunction:
    """Return the render function of the method called `name`, or raise ValueError listing the valid names."""
    return method_record(name).render


def method_settings(name: str, config, model: str | None = None) -> dict[str, Any]:
    """The keyword arguments the method called `name` takes from `config` (a `visualizer.config.Config`).

    `model` is the config's model the method renders; methods registered
    with ``per_model=True`` need it.
    """
    return method_record(name).settings_for(config, model)


def method_step_flops(name: str, config, layer_id: str) -> float:
    """FLOPs of one step of one image of the method called `name` on `layer_id` (an InceptionV1 layer id)."""
    return method_record(name).flops(config, layer_id)


@add_check
def check_planned_methods(config: Config, fail: Fail) -> None:
    """Every method the plan names is registered, and each planned method's `Method.check` passes.

    `load_config` runs this (the registry adds it), and so does
    `visualizer.atlas.plan.make_plan`, for a config loaded before the
    registry was imported.

    Args:
        config: the experiment.
        fail: ``fail(dotted key, message)`` raises the ConfigError.
    """
    valid = available_methods()
    for index, selection in enumerate(config.render.plan):
        unknown = [name for name in selection.methods if name not in valid]
        if unknown:
            fail(f"render.plan[{index}].methods", f"unknown methods {unknown}; valid: {', '.join(valid)}")
    for method in registered_methods():
        selections = [selection for selection in config.render.plan if method.name in selection.methods]
        if selections and method.check is not None:
            method.check(config, selections, fail)


class RendererPool:
    """Reuses compiled render steps across snapshots that share an architecture.

    Compiling a step costs seconds; an atlas renders the same layers of many
    snapshots of one network (the final models and every training snapshot).
    Where the backend's compiled step reads live weights (TensorFlow,
    PyTorch), the pool keeps one template network per architecture and copies
    each snapshot's base weights into it, so every layer compiles once.
    Elsewhere (JAX) it builds a renderer per call.
    """

    def __init__(self) -> None:
        self._signature: tuple | None = None
        self._template = None
        self._renderers: dict[tuple, object] = {}

    def renderer(self, model, layer: str, **settings):
        """A `ChannelRenderer` for `layer` computing with `model`'s weights (`from_keywords` settings)."""
        import keras

        from visualizer.models.inception_v1 import base_layer_names, copy_base_weights, has_base_network
        from visualizer.render import backend
        from visualizer.render.render import ChannelRenderer

        if not has_base_network(model) or not backend.reads_live_weights(settings.get("compile", True)):
            return ChannelRenderer.from_keywords(model, layer, **settings)
        signature = tuple(
            tuple(weight.shape) for name in base_layer_names() for weight in model.get_layer(name).weights
        )
        if signature != self._signature:
            self._signature, self._renderers = signature, {}
            self._template = keras.models.clone_model(model)
        copy_base_weights(model, self._template)
        key = (layer, tuple(sorted(settings.items())))
        if key not in self._renderers:
            self._renderers[key] = ChannelRenderer.from_keywords(self._template, layer, **settings)
        return self._renderers[key]


_POOL = RendererPool()


def _pooled_render(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    transforms: str,
    param: str,
    decorrelate: bool,
    batch_size: int | None = None,
    **options: Any,
) -> Rendering:
    """Render `channels` with the pool's compiled renderer for these settings (`ChannelRenderer` keywords)."""
    renderer = _POOL.renderer(
        model, layer, size=size, transforms=transforms, param=param, decorrelate=decorrelate, **options
    )
    return renderer.render(list(channels), steps=steps, seed=seed, batch_size=batch_size, progress=False)


@register_method(
    "lucid",
    order=10,
    description="Lucid's channel visualization: the image that maximizes the channel's mean.",
)
def lucid(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    transforms: str = "lucid",
    param: str = "fft",
    decorrelate: bool = True,
    objective: str = "channel",
) -> MethodResult:
    """Lucid's channel visualization (`visualizer.render`), compiled once per layer and architecture."""
    rendering = _pooled_render(
        model,
        layer,
        channels,
        size=size,
        steps=steps,
        seed=seed,
        transforms=transforms,
        param=param,
        decorrelate=decorrelate,
        objective=objective,
    )
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(rendering.failed),
    )


@register_method(
    "negative",
    settings=_objective_settings("negative"),
    order=40,
    description="Minimizes the channel's mean before its ReLU: what the channel responds to least.",
)
def negative(model, layer: str, channels: Sequence[int], **settings: Any) -> MethodResult:
    """Lucid's method with the objective negated, on the layer's pre-ReLU values.

    After the ReLU a channel cannot go below zero, and any image that keeps
    it there is as good as another; before it (the batch norm's output in
    InceptionV1), the lowest mean is what the channel responds to least.
    Distill's feature-visualization appendix shows these "negative" images
    per unit. The objective recorded is minus the pre-ReLU mean.
    """
    from visualizer.render.render import pre_relu_layer

    target = pre_relu_layer(model, layer)
    result = lucid(model, target, channels, **{**settings, "objective": "negative"})
    result.recorded["pre_relu_layer"] = target
    return result


def _diversity_settings(config) -> dict[str, Any]:
    """Lucid's settings from ``config.render`` and the diversity settings from ``config.render.diversity``."""
    diversity = config.render.diversity
    return {
        **_render_settings(config),
        "images": diversity.images,
        "weight": diversity.weight,
        "batch_size": diversity.batch_size,
    }


def _diversity_step_flops(config, layer_id: str) -> float:
    """A step of every image of one channel's sheet."""
    return config.render.diversity.images * _classifier_step_flops(config, layer_id)


@register_method(
    "diversity",
    settings=_diversity_settings,
    step_flops=_diversity_step_flops,
    kind="sheet",
    order=70,
    description=(
        "Several images of the channel made to differ from each other (Lucid's diversity term), "
        "since a channel may respond to more than one thing."
    ),
)
def diversity(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    size: int,
    steps: int,
    seed: int,
    images: int,
    weight: float,
    batch_size: int = 0,
    transforms: str = "lucid",
    param: str = "fft",
    decorrelate: bool = True,
) -> MethodResult:
    """Several images of each channel, made to differ, on one contact sheet (Lucid's diversity notebook).

    Each channel's `images` images maximize the channel minus `weight` times
    Lucid's diversity term among them (Lucid's notebook: 4 images, weight
    100); many channels share one optimization, `batch_size` channels at a
    time (0: all). The objective recorded is the mean over the sheet's images
    of the channel's mean minus the weighted diversity term.
    """
    from visualizer.analysis.examples import contact_sheet

    rendering = _pooled_render(
        model,
        layer,
        [channel for channel in channels for _ in range(images)],
        size=size,
        steps=steps,
        seed=seed,
        transforms=transforms,
        param=param,
        decorrelate=decorrelate,
        batch_size=images * batch_size or None,
        diversity=weight,
        diversity_group=images,
    )
    groups = np.asarray(rendering.images).reshape(len(channels), images, size, size, 3)
    sheets = np.stack([contact_sheet(list(group)) for group in groups])
    values = np.asarray(rendering.objectives, dtype="float64").reshape(len(channels), images).mean(axis=1)
    return MethodResult(sheets, values, sorted(set(rendering.failed)))


@register_method(
    "neuron",
    settings=_objective_settings("neuron"),
    order=20,
    description="Maximizes the unit at the centre of the layer's grid instead of the channel's mean.",
)
def neuron(model, layer: str, channels: Sequence[int], **settings: Any) -> MethodResult:
    """Lucid's neuron objective: the channel at the centre of the layer's grid, not its spatial mean.

    Distill's feature-visualization appendix shows both per unit; a neuron
    image is one unit's preferred stimulus, centred, within its receptive field.
    """
    return lucid(model, layer, channels, **{**settings, "objective": "neuron"})


def _prior_settings(config) -> dict[str, Any]:
    """The generative prior's settings from ``config.render.prior``; the generator path resolved."""
    prior = config.render.prior
    return {
        "generator": str(config.resolve_path(prior.generator)) if prior.generator else "",
        "size": config.render.size,
        "steps": prior.steps,
        "lam": prior.lam,
        "learning_rate": prior.learning_rate,
        "randomize_noise": prior.randomize_noise,
        "center": prior.center,
    }


def _check_prior(config: Config, selections: list[SelectionConfig], fail: Fail) -> None:
    """The generative prior needs StyleGAN2 weights at ``render.prior.generator``."""
    prior = config.render.prior
    if not prior.generator:
        fail("render.prior.generator", "the stylegan2 method needs StyleGAN2 weights (.pkl or .npz)")
    if not config.resolve_path(prior.generator).is_file():
        fail("render.prior.generator", f"no file at {str(config.resolve_path(prior.generator))!r}")


_GENERATORS: dict[str, tuple[Any, dict[str, str]]] = {}


def _generator(path: str) -> tuple[Any, dict[str, str]]:
    """Load a StyleGAN2 generator once per process; return it and what identifies its file."""
    from visualizer.prior.weights import load_generator

    if not path:
        raise ValueError(
            "The stylegan2 method needs render.prior.generator (StyleGAN2 weights, .pkl or .npz)."
        )
    if path not in _GENERATORS:
        network = load_generator(path)  # first: it names a missing or unreadable file
        identity = {"generator": os.path.basename(path), "generator_sha256": file_sha256(Path(path))}
        _GENERATORS[path] = (network, identity)
    return _GENERATORS[path]


_GENERATOR_FLOPS: dict[tuple[str, float], float] = {}


def _prior_step_flops(config, layer_id: str) -> float:
    """The classifier's step plus the synthesis network's forward pass and gradient with respect to w."""
    from visualizer.prior.weights import read_generator_config

    path = str(config.resolve_path(config.render.prior.generator))
    key = (path, os.path.getmtime(path))
    if key not in _GENERATOR_FLOPS:
        _GENERATOR_FLOPS[key] = 2.0 * read_generator_config(path).synthesis_flops()
    return _classifier_step_flops(config, layer_id) + _GENERATOR_FLOPS[key]


@register_method(
    "stylegan2",
    settings=_prior_settings,
    step_flops=_prior_step_flops,
    order=30,
    check=_check_prior,
    description=(
        "The paper's generative prior: gradient ascent in StyleGAN2's latent space, so the image stays "
        "on the generator's manifold (the paper's figure 1 pairs)."
    ),
)
def stylegan2(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    generator: str,
    size: int,
    steps: int,
    seed: int,
    lam: float,
    learning_rate: float,
    randomize_noise: bool = True,
    center: str = "sampled",
) -> MethodResult:
    """The paper's generative prior: gradient ascent in StyleGAN2's W space (`render_with_prior`).

    Images have the generator's resolution; the classifier sees them at `size`.
    The generator is recorded by file name and SHA-256, not by its path.
    """
    from visualizer.prior.generative import render_with_prior

    network, identity = _generator(generator)
    rendering = render_with_prior(
        model,
        layer,
        list(channels),
        network,
        size=size,
        steps=steps,
        lam=lam,
        learning_rate=learning_rate,
        seed=seed,
        randomize_noise=randomize_noise,
        center=center,
        progress=False,
    )
    return MethodResult(
        np.asarray(rendering.images),
        np.asarray(rendering.objectives, dtype="float64"),
        list(rendering.failed),
        recorded=identity,
    )


def _examples_settings(config, model: str) -> dict[str, Any]:
    """The dataset-examples settings for `model`: which images (as a JSON spec), how many, how many kept."""
    examples = config.render.examples
    source = config.model(model if examples.dataset == "own" else examples.dataset)
    dataset = dataclasses.asdict(source.dataset)
    if dataset["path"]:
        dataset["path"] = str(config.resolve_path(dataset["path"]))
    spec = {
        "model": source.name,
        "dataset": dataset,
        "size": config.network.image_size,
        "seed": config.project.seed,
    }
    return {"images": spec, "count": examples.images, "top": examples.top, "steps": 0}


# The most recently used datasets' images, up to a budget: the demo's take 25 MB each, the paper's 1.2 GB
# (2,048 images of 224 px), and a worker's batches may alternate between models.
_IMAGES: dict[str, tuple[np.ndarray, str]] = {}
_IMAGES_BUDGET = 2 << 30


def _validation_images(spec: dict[str, Any], count: int) -> tuple[np.ndarray, str]:
    """The first `count` validation images of the dataset `spec` describes, and the dataset's name.

    Raises:
        ValueError: the dataset has no validation images.
    """
    import json

    from visualizer.config import DatasetConfig
    from visualizer.data.loader import open_dataset

    key = json.dumps([spec, count], sort_keys=True)
    if key in _IMAGES:
        _IMAGES[key] = _IMAGES.pop(key)  # now the most recently used
        return _IMAGES[key]
    dataset_config = DatasetConfig(**spec["dataset"])
    root = Path(dataset_config.path) if dataset_config.path else None
    dataset = open_dataset(dataset_config, root, spec["size"], spec["seed"])
    chunks, total = [], 0
    for images, _labels in dataset.validation_batches(64):
        chunks.append(np.asarray(images, dtype="float32")[: count - total])
        total += len(chunks[-1])
        if total >= count:
            break
    if not total:
        raise ValueError(
            f"Dataset {dataset.name!r} of model {spec['model']!r} has no validation images; "
            "dataset examples are drawn from the validation split."
        )
    found = (np.concatenate(chunks), dataset.name)
    while _IMAGES and sum(pixels.nbytes for pixels, _ in _IMAGES.values()) + found[0].nbytes > _IMAGES_BUDGET:
        del _IMAGES[next(iter(_IMAGES))]  # the least recently used first
    _IMAGES[key] = found
    return found


def _check_examples_sources(config: Config, selections: list[SelectionConfig], fail: Fail) -> None:
    """Every model the entries render draws its examples from a model with a dataset (not a checkpoint)."""
    examples = config.render.examples
    for selection in selections:
        for name in selection.models or config.model_names():
            source = config.model(name if examples.dataset == "own" else examples.dataset)
            if source.source == "checkpoint":
                with_data = [m.name for m in config.models if m.source != "checkpoint"]
                fail(
                    "render.examples.dataset",
                    f"model {source.name!r} is a checkpoint without a dataset to draw examples from; "
                    f"name a model whose dataset to use, one of: {', '.join(with_data)}",
                )


def _examples_batch_flops(config, layer_id: str) -> float:
    """Scoring a batch: the classifier's forward pass to the layer over every scored image."""
    from visualizer.models.flops import render_step_flops

    forward = render_step_flops(layer_id, config.network.image_size, config.network.width) / 3
    return float(config.render.examples.images * forward)


@register_method(
    "examples",
    settings=_examples_settings,
    step_flops=_examples_batch_flops,
    per_model=True,
    kind="sheet",
    order=50,
    check=_check_examples_sources,
    description=(
        "Not an optimization: the dataset images that excite the channel most, best first, each cut to "
        "the layer's receptive field around the strongest position."
    ),
)
def examples(
    model,
    layer: str,
    channels: Sequence[int],
    *,
    seed: int,
    images: dict[str, Any],
    count: int,
    top: int,
    steps: int = 0,
    negative: bool = False,
) -> MethodResult:
    """Dataset examples: a contact sheet of the `top` validation images that excite each channel most.

    `images` names the dataset (the JSON spec `_examples_settings` writes);
    the first `count` validation images are scored. No optimization: `seed`
    and `steps` are unused. The objective is the best example's activation
    (with `negative`, the images the channel responds to least, and the
    lowest value).
    """
    from visualizer.analysis.examples import dataset_examples

    pixels, name = _validation_images(images, count)
    if len(pixels) < top:
        raise ValueError(
            f"Dataset {name!r} of model {images['model']!r} has {len(pixels)} validation images, fewer than "
            f"render.examples.top = {top}; lower top or give the dataset a larger validation split."
        )
    found = dataset_examples(model, layer, list(channels), pixels, top=top, negative=negative)
    recorded = {
        "images": {"model": images["model"], "dataset": name, "scored": len(pixels)},
        "crop": found.crop,
    }
    # A channel no image activates has a grey sheet and is reported as failed, like a failed render.
    values = found.activations[:, 0].astype("float64")
    values[[list(channels).index(c) for c in found.inactive]] = np.nan  # failed: NaN, as for renders
    return MethodResult(found.sheets, values, found.inactive, recorded=recorded)


@register_method(
    "negative_examples",
    settings=_examples_settings,
    step_flops=_examples_batch_flops,
    per_model=True,
    kind="sheet",
    order=60,
    check=_check_examples_sources,
    description="The dataset images with the channel's lowest values before its ReLU, lowest first.",
)
def negative_examples(model, layer: str, channels: Sequence[int], **settings: Any) -> MethodResult:
    """The validation images whose pre-ReLU value of the channel is lowest, as a contact sheet.

    Distill's appendix shows these beside the positive examples. Each image
    is scored by the channel's lowest value before its ReLU (after it, most
    images tie at zero) and cut around that position; the settings are
    ``[render.examples]``'s.
    """
    from visualizer.render.render import pre_relu_layer

    target = pre_relu_layer(model, layer)
    result = examples(model, target, channels, negative=True, **settings)
    result.recorded["pre_relu_layer"] = target
    return result
