"""Your own network in a config: ``keras`` model files and runs folders, checked, made renderable, cut.

- `load_keras_source` reads a ``.keras``/``.h5`` file, checks it has one
  image input (``[batch, height, width, channels]``), and rebuilds it, its
  layers shared, on images in [0, 1] of any height and width, mapped to the
  model's own `input_range` inside the graph (a ``Rescaling`` layer named
  ``input_range``).
- `runs_folder_snapshots` lists the snapshots of a folder in the runs layout
  (``<snapshot>/model.keras`` + ``meta.json``, docs/formats.md).
- `feature_layer` and `cut` give a transfer's base: the parent from its
  input to its last feature map, or to a named ``base_layer``.

Every error is a `visualizer.errors.VtlError` naming the file or the model
and the valid choices, so ``vtl`` says it in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import keras

from visualizer.errors import VtlError
from visualizer.models.catalogue import ModelFileError, discover_layers, find_layer, load_model_file
from visualizer.models.flatten import rebuild_flat
from visualizer.models.graph import truncate
from visualizer.models.layers import UnknownLayerError

__all__ = [
    "ModelInputError",
    "NoChannelAxisError",
    "cut",
    "feature_layer",
    "last_feature_map",
    "load_keras_source",
    "prepare_image_model",
    "runs_folder_snapshots",
]

RANGE_LAYER = "input_range"


class ModelInputError(VtlError, ValueError):
    """A model without exactly one image input (``[batch, height, width, channels]``)."""


class NoChannelAxisError(VtlError, ValueError):
    """A layer whose output has no channel axis (not ``[batch, height, width, channels]``)."""


def _image_input(model: keras.Model, source: str) -> keras.KerasTensor:
    """The model's one image input, or `ModelInputError` naming `source` and what it has."""
    inputs = list(model.inputs or [])
    shapes = ", ".join(str(tuple(tensor.shape)) for tensor in inputs) or "none"
    if len(inputs) != 1:
        raise ModelInputError(
            f"{source}: the model has {len(inputs)} inputs ({shapes}); vtl renders and trains models "
            "with one image input, [batch, height, width, channels]."
        )
    shape = tuple(inputs[0].shape)
    if len(shape) != 4 or shape[-1] is None:
        raise ModelInputError(
            f"{source}: the model's input {shape} is not an image; vtl needs one input "
            "[batch, height, width, channels] (channels last)."
        )
    return inputs[0]


def prepare_image_model(
    model: keras.Model, input_range: tuple[float, float] = (0.0, 1.0), source: str = "the model"
) -> keras.Model:
    """`model` on images in [0, 1] of any size, mapped to `input_range` inside the graph.

    Args:
        model: a functional (or Sequential) Keras model with one image input.
        input_range: (lo, hi), what the model expects; images in [0, 1]
            become ``lo + x * (hi - lo)`` in a ``Rescaling`` layer named
            ``input_range`` (none when the range is [0, 1]).
        source: the file or model name, for messages.

    Returns:
        A functional model with copies of `model`'s layers and weights whose input has undefined
        height and width (the renderer's transforms change the size every
        step); the input keeps the model's own size where a layer needs it. A nested model
        (a ``keras.applications`` base called as one layer, a ``Sequential`` block) is
        replaced by its own layers (`visualizer.models.flatten`), so the catalogue,
        cuts and renders see them; an inner name taken by an outer layer becomes
        ``<nested model>_<name>``.

    Raises:
        ModelInputError: `model` has no image input, or several inputs.
    """
    if isinstance(model, keras.Sequential):
        model = keras.Model(model.inputs, model.outputs, name=model.name)
    image = _image_input(model, source)
    lo, hi = (float(value) for value in input_range)
    shapes = [(None, None, image.shape[-1]), tuple(image.shape[1:])]
    last_error: Exception | None = None
    for shape in dict.fromkeys(shapes):
        inputs = keras.Input(shape, name="images")
        mapped = inputs
        if (lo, hi) != (0.0, 1.0):
            mapped = keras.layers.Rescaling(hi - lo, offset=lo, name=RANGE_LAYER)(inputs)

        def call(layer, *args, _inputs=inputs, _mapped=mapped, **kwargs):  # noqa: ANN001, ANN202
            return layer(*[_mapped if arg is _inputs else arg for arg in args], **kwargs)

        try:
            structure = (
                [inputs] if isinstance(model.input, (list, tuple)) else inputs
            )  # a saved model's may be a list
            # Fresh layers (a shared layer's `output` is its first graph's), nested models flattened.
            return rebuild_flat(model, structure, call=call)
        except (ValueError, TypeError) as error:  # a layer that needs the model's own size
            last_error = error
            continue
    raise ModelInputError(f"{source}: the model cannot be rebuilt on a new image input: {last_error}")


def load_keras_source(path: str | os.PathLike, input_range: tuple[float, float] = (0.0, 1.0)) -> keras.Model:
    """Load a ``keras`` source's model file and make it renderable (`prepare_image_model`).

    Raises:
        FileNotFoundError: no file at `path`.
        ModelFileError: not a model file Keras can load.
        ModelInputError: no image input, or several inputs.
    """
    return prepare_image_model(load_model_file(path), input_range, str(path))


def runs_folder_snapshots(folder: str | os.PathLike) -> list[tuple[str, Path, dict]]:
    """The snapshots of a folder in the runs layout, iterations first and ``final`` last.

    Returns:
        ``(snapshot name, its folder, its meta.json)`` for every subfolder
        holding ``model.keras`` and ``meta.json``.

    Raises:
        ModelFileError: the folder holds no such snapshot (the message says the layout).
    """
    folder = Path(folder)
    found = []
    for child in sorted(folder.iterdir()) if folder.is_dir() else []:
        if (child / "model.keras").is_file() and (child / "meta.json").is_file():
            found.append((child.name, child, json.loads((child / "meta.json").read_text())))
    if not found:
        raise ModelFileError(
            f"{str(folder)!r} holds no snapshot: a runs folder has <snapshot>/model.keras and "
            "<snapshot>/meta.json (docs/formats.md); or give a .keras or .h5 file."
        )
    found.sort(key=lambda entry: (entry[0] == "final", entry[2].get("iteration", 0), entry[0]))
    return found


def _rank4(layer: keras.layers.Layer) -> bool:
    try:
        shape = layer.output.shape
    except (AttributeError, ValueError):  # a layer called more than once has no single output
        return False
    return len(shape) == 4 and shape[-1] is not None


def last_feature_map(model: keras.Model, source: str = "the model") -> str:
    """The Keras name of the last layer, in graph order, whose output is a feature map (rank 4).

    Raises:
        NoChannelAxisError: no layer of `model` outputs a feature map.
    """
    for layer in reversed(model.layers):
        if not isinstance(layer, keras.layers.InputLayer) and _rank4(layer):
            return layer.name
    raise NoChannelAxisError(f"{source}: no layer outputs a feature map [batch, height, width, channels].")


def feature_layer(model: keras.Model, base_layer: str = "", source: str = "the model") -> str:
    """The Keras name of the layer a transfer cuts `model` at: `base_layer`, or the last feature map.

    `base_layer` is a catalogue id or alias (the layer after its batch norm and nonlinearity), or
    any other Keras layer name of the model.

    Raises:
        UnknownLayerError: `base_layer` is neither (with close matches from the catalogue).
        NoChannelAxisError: the layer's output is not a feature map.
    """
    if not base_layer:
        return last_feature_map(model, source)
    names = {layer.name for layer in model.layers}
    catalogue = discover_layers(model)
    try:  # a catalogue name first: "dw" is the depthwise layer after its ReLU, as plans and pages name it
        name = find_layer(catalogue, base_layer, source).id
    except UnknownLayerError:
        if base_layer not in names:
            raise
        name = base_layer
    layer = model.get_layer(name)
    if not _rank4(layer):
        shape = tuple(layer.output.shape) if hasattr(layer, "output") else "unknown"
        raise NoChannelAxisError(
            f"{source}: base_layer {base_layer!r} outputs {shape}, which has no channel axis; "
            "a transfer is cut at a feature map [batch, height, width, channels] "
            f"(the last one is {last_feature_map(model, source)!r})."
        )
    return name


def cut(model: keras.Model, layer: str) -> keras.Model:
    """The sub-model of `model` from its input to `layer`'s output, its layers shared."""
    return truncate(model, layer)
