"""Render channels of a Lucid-style frozen TF1 GraphDef (``.pb``) with the Keras renderer.

`visualizer.models.frozen_graph` checks the graph's ops and wraps it as a
Keras model (`frozen_graph_model`); `render_frozen_graph_channels` renders
one of its tensors with `visualizer.render.render_channels`, which swaps in
the redirected ReLU gradient as it does for a Keras network. TensorFlow
backend only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from visualizer.models.frozen_graph import FrozenGraph, frozen_graph_model, output_layer_name
from visualizer.render.render import Rendering, render_channels

__all__ = ["render_frozen_graph_channels"]


def render_frozen_graph_channels(
    graph: FrozenGraph | str | Path,
    tensor: str,
    channels: Sequence[int],
    input_name: str = "input",
    image_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    image_value_range: tuple[float, float] = (-1.0, 1.0),
    is_bgr: bool = False,
    **render_kwargs: Any,
) -> Rendering:
    """Render channels of one tensor of a frozen graph with `render_channels`.

    Args:
        graph: a `FrozenGraph` or a ``.pb`` path.
        tensor: the tensor name, e.g. ``"InceptionV1/InceptionV1/Mixed_4c/concat"``.
        channels: channel indices.
        input_name: see `visualizer.models.frozen_graph.frozen_graph_model`.
        image_shape: see `frozen_graph_model`.
        image_value_range: see `frozen_graph_model`.
        is_bgr: see `frozen_graph_model`.
        **render_kwargs: passed to `visualizer.render.render_channels`.

    Returns:
        The `visualizer.render.Rendering`.

    Raises:
        UnsafeGraphError: the graph contains an op that is not in
            `visualizer.models.frozen_graph.ALLOWED_OPS`.
        ValueError: a channel outside the tensor's channels (as `render_channels`).
        RuntimeError: the Keras backend is not TensorFlow.
    """
    model = frozen_graph_model(graph, [tensor], input_name, image_shape, image_value_range, is_bgr)
    return render_channels(model, output_layer_name(tensor), channels, **render_kwargs)
