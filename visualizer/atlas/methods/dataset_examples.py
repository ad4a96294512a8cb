"""The ``examples`` and ``negative_examples`` methods: contact sheets of the validation images
that excite a channel most, or drive it lowest before its ReLU (`visualizer.analysis.examples`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from visualizer.config import Config, Fail, SelectionConfig

if TYPE_CHECKING:
    pass

from visualizer.atlas.methods.registry import (
    MethodResult,
    register_method,
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
        "size": config.image_size(source.name),
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
    from visualizer.data.base import first_validation_images
    from visualizer.data.loader import open_dataset

    key = json.dumps([spec, count], sort_keys=True)
    if key in _IMAGES:
        _IMAGES[key] = _IMAGES.pop(key)  # now the most recently used
        return _IMAGES[key]
    dataset_config = DatasetConfig(**spec["dataset"])
    root = Path(dataset_config.path) if dataset_config.path else None
    dataset = open_dataset(dataset_config, root, spec["size"], spec["seed"])
    images = first_validation_images(dataset, count)
    if not len(images):
        raise ValueError(
            f"Dataset {dataset.name!r} of model {spec['model']!r} has no validation images; "
            "dataset examples are drawn from the validation split."
        )
    found = (images, dataset.name)
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
            if not _has_dataset(source):
                with_data = [m.name for m in config.models if _has_dataset(m)]
                kind = "a checkpoint" if source.source == "checkpoint" else f"a {source.source} model"
                fail(
                    "render.examples.dataset",
                    f"model {source.name!r} is {kind} without a dataset to draw examples from; "
                    f"give it a [models.dataset] or name a model whose dataset to use, one of: "
                    f"{', '.join(with_data) or 'none'}",
                )


def _has_dataset(model) -> bool:  # noqa: ANN001 (a ModelConfig)
    """Whether a model has a dataset to draw examples from (optional for keras and frozen_graph models)."""
    if model.source == "checkpoint":
        return False
    if model.source in ("keras", "frozen_graph", "zoo"):
        return model.dataset.kind != "world" or bool(model.dataset.world)
    return True


def _examples_batch_flops(config, layer_id: str) -> float:
    """Scoring a batch: the classifier's forward pass to the layer over every scored image."""
    from visualizer.models.flops import render_step_flops
    from visualizer.models.layers import UnknownLayerError

    try:
        forward = render_step_flops(layer_id, config.network.image_size, config.network.width) / 3
    except (UnknownLayerError, KeyError, ValueError):  # another network's layer: FLOPs are InceptionV1's only
        return 0.0
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
    # A channel no image activates (dead on this dataset) has a grey sheet: a finding, not a failure.
    values = found.activations[:, 0].astype("float64")
    return MethodResult(found.sheets, values, [], recorded=recorded, inactive=found.inactive)


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
