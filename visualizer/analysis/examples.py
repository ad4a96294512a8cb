"""Dataset examples: the images of a dataset that excite a channel most.

Feature visualizations answer "what would this channel like to see"; dataset
examples answer "what does it respond to in the data", and galleries such as
OpenAI Microscope and Distill's appendix show both. For each channel, every
image is scored by the channel's largest activation anywhere in it; the
`top` highest-scoring images are cropped around that position to the
layer's receptive field and laid out as a square contact sheet, best first,
row by row.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

# GridGeometry, grid_geometry and receptive_field live in `visualizer.models.graph`; re-exported here.
from visualizer.models.graph import (
    GridGeometry,
    grid_geometry,
    receptive_field,
    resolve_model_layer,
    truncate,
)

__all__ = [
    "DatasetExamples",
    "GridGeometry",
    "contact_sheet",
    "dataset_examples",
    "grid_geometry",
    "receptive_field",
    "top_activations",
]

SHEET_GAP = 2  # white pixels between the crops of a contact sheet
BATCH_PIXELS = 1 << 22  # pixels per forward pass by default: 1,024 images of 64 px, 83 of 224 px


@dataclass
class DatasetExamples:
    """What `dataset_examples` returns, one row per channel.

    Attributes:
        sheets: float32 ``[channels, side, side, 3]`` in [0, 1], the contact sheets.
        activations: ``[channels, top]`` each example's largest activation, descending
            (with ``negative=True``: its lowest value, ascending).
        indices: ``[channels, top]`` the examples' positions in the images given.
        positions: ``[channels, top, 2]`` (row, column) of that activation in the layer's grid.
        crop: side in pixels of the window cut from each image.
        inactive: the channels whose peak (largest, or with ``negative=True``
            lowest value) is the same on every image (a ReLU channel that never fires on them); their sheets
            are mid-grey, since any order of the images is as good.
    """

    sheets: np.ndarray
    activations: np.ndarray
    indices: np.ndarray
    positions: np.ndarray
    crop: int
    inactive: list[int] = dataclasses.field(default_factory=list)


def top_activations(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    images: np.ndarray,
    top: int,
    batch_size: int | None = None,
    negative: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The `top` images that excite each channel most, by the channel's largest activation.

    Args:
        model: a functional model taking images in [0, 1].
        layer: the Keras name of the layer.
        channels: channel indices of that layer.
        images: float ``[N, H, W, 3]`` in [0, 1], N at least `top`.
        top: examples per channel.
        batch_size: images per forward pass; default as many as hold
            `BATCH_PIXELS` pixels (the forward pass runs eagerly, and its
            overhead per call dominates small images).
        negative: rank by the channel's lowest value instead: the images it
            responds to least (meaningful before a ReLU, see
            `visualizer.render.pre_relu_layer`).

    Returns:
        (activations ``[C, top]`` descending, or with `negative` the lowest
        values ascending, image indices ``[C, top]``, grid positions
        ``[C, top, 2]``); ties go to the earlier image.
    """
    return _scan(model, layer, channels, images, top, batch_size, negative)[:3]


def _scan(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    images: np.ndarray,
    top: int,
    batch_size: int | None,
    negative: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`top_activations`, and for each channel whether its peak is the same on every image."""
    images = np.asarray(images, dtype="float32")
    if len(images) < top:
        raise ValueError(f"top={top} examples need at least {top} images; received {len(images)}.")
    probe = truncate(model, layer)
    wanted = np.asarray(channels, dtype="int64")
    batch_size = batch_size or max(1, BATCH_PIXELS // (images.shape[1] * images.shape[2]))
    peaks, places = [], []
    for start in range(0, len(images), batch_size):
        output = ops.convert_to_numpy(probe(images[start : start + batch_size]))
        output = output[..., wanted] * (-1.0 if negative else 1.0)  # [n, h, w, C]
        n, height, width, count = output.shape
        flat = output.reshape(n, height * width, count)
        place = flat.argmax(axis=1)  # [n, C], the first maximum in row-major order
        peaks.append(np.take_along_axis(flat, place[:, None, :], axis=1)[:, 0, :])
        places.append(place)
    peak = np.concatenate(peaks).T  # [C, N]
    place = np.concatenate(places).T
    order = np.argsort(-peak, axis=1, kind="stable")[:, :top]
    rows, columns = np.divmod(np.take_along_axis(place, order, axis=1), width)
    positions = np.stack([rows, columns], axis=-1)
    constant = peak.max(axis=1) == peak.min(axis=1)
    sign = -1.0 if negative else 1.0
    return sign * np.take_along_axis(peak, order, axis=1), order, positions, constant


def contact_sheet(crops: Sequence[np.ndarray], gap: int = SHEET_GAP) -> np.ndarray:
    """Lay square crops of one size out on a white square sheet, row by row.

    Args:
        crops: a perfect square number of ``[s, s, 3]`` arrays in [0, 1].
        gap: white pixels between neighbours.

    Returns:
        float32 ``[side, side, 3]`` with ``side = k * s + (k - 1) * gap``.
    """
    per_row = math.isqrt(len(crops))
    if per_row * per_row != len(crops) or not crops:
        raise ValueError(
            f"A contact sheet takes a square number of crops (1, 4, 9...); received {len(crops)}."
        )
    cell = crops[0].shape[0]
    side = per_row * cell + (per_row - 1) * gap
    sheet = np.ones((side, side, 3), dtype="float32")
    for index, crop in enumerate(crops):
        row, column = divmod(index, per_row)
        top, left = row * (cell + gap), column * (cell + gap)
        sheet[top : top + cell, left : left + cell] = crop
    return sheet


def _window(center: float, crop: int, size: int) -> int:
    """First pixel of a `crop`-wide window centred on pixel coordinate `center`, kept inside ``[0, size)``."""
    return int(min(max(math.floor(center - (crop - 1) / 2 + 0.5), 0), size - crop))


def dataset_examples(
    model: keras.Model,
    layer: str,
    channels: Sequence[int],
    images: np.ndarray,
    top: int = 9,
    crop: int | None = None,
    batch_size: int | None = None,
    negative: bool = False,
) -> DatasetExamples:
    """Contact sheets of the dataset images that excite each channel most.

    Args:
        model: a functional model taking images in [0, 1].
        layer: a Keras layer name, or any alias the InceptionV1 catalogue knows.
        channels: channel indices of that layer.
        images: float ``[N, H, W, 3]`` in [0, 1] (square), N at least `top`.
        top: examples per channel, a perfect square (4, 9, 16...).
        crop: window side in pixels; default the layer's receptive field,
            at most the image.
        batch_size: images per forward pass (default: see `top_activations`).
        negative: the images with the channel's lowest values instead, cut
            around the lowest position (Distill's negative examples; pass a
            pre-ReLU layer, where values go below zero).

    Returns:
        A `DatasetExamples` (with `negative`, ``activations`` holds the
        lowest values, ascending).

    Raises:
        UnknownLayerError: `layer` is not in the model (with close matches).
        ValueError: no channels or one out of range, `top` not a perfect
            square, images not square, fewer images than `top`, or a crop
            outside the image.
    """
    if top < 1 or math.isqrt(top) ** 2 != top:
        raise ValueError(f"top must be a perfect square (1, 4, 9, 16...); received {top!r}.")
    name = resolve_model_layer(model, layer)
    count = model.get_layer(name).output.shape[-1]
    bad = [c for c in channels if not 0 <= c < count]
    if bad or not channels:
        raise ValueError(
            f"Channels {bad or list(channels)} of layer {name!r}: valid channels are 0..{count - 1}."
        )
    images = np.asarray(images, dtype="float32")
    if images.ndim != 4 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be square, [N, size, size, 3]; received shape {images.shape}.")
    size = images.shape[1]
    geometry = grid_geometry(model, name, size)
    if crop is None:
        crop = min(geometry.field, size)
    if not 1 <= crop <= size:
        raise ValueError(f"crop must be between 1 and the image side {size}; received {crop!r}.")
    activations, indices, positions, constant = _scan(
        model, name, channels, images, top, batch_size, negative
    )
    sheets = []
    for channel_indices, channel_positions, flat in zip(indices, positions, constant):
        if flat:
            sheets.append(np.full_like(contact_sheet([images[0, :crop, :crop]] * top), 0.5))
            continue
        crops = []
        for image_index, (row, column) in zip(channel_indices, channel_positions):
            top_edge = _window(geometry.offset + row * geometry.stride, crop, size)
            left_edge = _window(geometry.offset + column * geometry.stride, crop, size)
            crops.append(images[image_index, top_edge : top_edge + crop, left_edge : left_edge + crop])
        sheets.append(contact_sheet(crops))
    inactive = [int(c) for c, flat in zip(channels, constant) if flat]
    return DatasetExamples(np.stack(sheets), activations, indices, positions, crop, inactive)
