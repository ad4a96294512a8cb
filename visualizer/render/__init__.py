"""Lucid-style feature visualization in Keras 3: parameterization, transforms, objectives, render.

The entry point is `render_channels`; the modules mirror Lucid's
``optvis``: `param`, `transforms`, `objectives`, `relu` (the redirected
gradient), `optimizer` (Keras's Adam with TF1's settings), `loop` (the one
optimization loop, Lucid's ``render_vis``), `backend` (the only
backend-specific code) and `render` (channels of a layer, through the loop);
`frozen_graph` renders Lucid-style frozen TF1 graphs.
"""

from visualizer.render.objectives import Objective, channel, channels, diversity, neuron, neurons
from visualizer.render.render import (
    ChannelRenderer,
    ComputeSettings,
    ImageSettings,
    ObjectiveSettings,
    Rendering,
    TransformSettings,
    pre_relu_layer,
    render_channels,
)
from visualizer.render.transforms import standard_transforms

__all__ = [
    "ChannelRenderer",
    "ComputeSettings",
    "ImageSettings",
    "Objective",
    "ObjectiveSettings",
    "Rendering",
    "TransformSettings",
    "channel",
    "channels",
    "diversity",
    "neuron",
    "neurons",
    "pre_relu_layer",
    "render_channels",
    "standard_transforms",
]
