"""The registry of atlas methods: one `Method` record each (`visualizer.atlas.methods`).

A `Method` holds everything about one method: its render function, the
function that reads its settings from the config, the FLOPs of one step (for
plans and estimates), its kind (an ``image`` or a contact ``sheet``), a
one-line description and its display order (for the gallery, which reads
them from the catalog's ``methods`` table). A method registers with the
`register_method` decorator on its function, in a module of its own under
``visualizer/atlas/methods/`` that the package imports.
The atlas job calls ``method(model, layer, channels, seed=..., **settings(config))``
and records the settings with every image.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from visualizer.atlas.keys import check_component
from visualizer.config import RENDER_DEFAULTS_OUTSIDE_DIGEST, Config, Fail, SelectionConfig, add_check

if TYPE_CHECKING:
    pass

__all__ = [
    "classifier_step_flops",
    "objective_settings",
    "render_settings",
    "DEFAULT_ORDER",
    "METHOD_KINDS",
    "Method",
    "MethodResult",
    "available_methods",
    "check_planned_methods",
    "counts_classifier_steps",
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
    and digest rather than its path on the rendering machine). `inactive`
    channels have no picture to show but did not fail: no dataset image
    activates them (their images record ``"inactive": true``).
    """

    images: np.ndarray
    objectives: np.ndarray
    failed: list[int]
    recorded: dict[str, Any] = field(default_factory=dict)
    inactive: list[int] = field(default_factory=list)


MethodFunction = Callable[..., MethodResult]
# config -> settings, or (config, model name) -> settings for methods registered with per_model=True.
SettingsFunction = Callable[..., dict[str, Any]]
StepFlopsFunction = Callable[[Any, str], float]
# (config, the plan entries that use the method, fail): what the config must hold for the method to run.
CheckFunction = Callable[[Config, list[SelectionConfig], Fail], None]


def render_settings(config) -> dict[str, Any]:
    """Lucid's settings from ``config.render``.

    ``scale_canvas`` and ``precision`` are included only when they differ from
    their defaults, so images rendered before they existed keep their settings.
    """
    render = config.render
    settings = {
        "size": render.size,
        "steps": render.steps,
        "transforms": render.transforms,
        "param": render.param,
        "decorrelate": render.decorrelate,
    }
    for name, default in RENDER_DEFAULTS_OUTSIDE_DIGEST.items():
        if getattr(render, name) != default:
            settings[name] = getattr(render, name)
    return settings


def classifier_step_flops(config, layer_id: str) -> float:
    """FLOPs of one image's step through the classifier at ``config.render.size``."""
    from visualizer.models.flops import render_step_flops

    return float(render_step_flops(layer_id, config.render.size, config.network.width))


def objective_settings(objective: str) -> SettingsFunction:
    """A settings function: Lucid's settings from ``config.render`` and `objective` (recorded)."""

    def settings(config) -> dict[str, Any]:
        return {**render_settings(config), "objective": objective}

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
    settings: SettingsFunction = render_settings
    step_flops: StepFlopsFunction = classifier_step_flops
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
                settings=settings or render_settings,
                step_flops=step_flops or classifier_step_flops,
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


def counts_classifier_steps(name: str) -> bool:
    """Whether a step of method `name` is one forward pass and input gradient of the classifier.

    Such a step (`classifier_step_flops`) can be counted on any network, not only InceptionV1.
    """
    return method_record(name).step_flops is classifier_step_flops


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
