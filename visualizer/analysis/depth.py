"""Where a layer sits in its network: its depth order and its stage (lower, middle or top).

The observations about "lower", "middle" and "top" layers were made on
InceptionV1, whose stages are its blocks: the stem and ``Mixed_3*``,
``Mixed_4*``, ``Mixed_5*``. Any other network has no such blocks; its layers
are staged by their depth in graph order: the position of the layer in the
network's layer catalogue (``graph_index``) as a fraction of the catalogue,
in thirds.
"""

from __future__ import annotations

from visualizer.models.layers import UnknownLayerError, resolve_layer

__all__ = ["STAGES", "UNKNOWN_STAGE", "depth_stage", "inception_stage", "is_inception_layer", "stage"]

STAGES = ("lower", "middle", "top")
UNKNOWN_STAGE = "unknown"  # a layer of another network whose depth is not known


def is_inception_layer(layer: str) -> bool:
    """Whether `layer` names a layer of the slim InceptionV1's catalogue."""
    try:
        resolve_layer(layer)
    except UnknownLayerError:
        return False
    return True


def inception_stage(layer: str) -> str:
    """The stage of an InceptionV1 layer id: ``lower`` (stem, Mixed_3b, Mixed_3c), ``middle`` (Mixed_4b-4f)
    or ``top`` (Mixed_5b, Mixed_5c)."""
    block = resolve_layer(layer).block
    if block == "stem" or block.startswith("Mixed_3"):
        return "lower"
    if block.startswith("Mixed_4"):
        return "middle"
    return "top"


def depth_stage(fraction: float | None) -> str:
    """The stage of a layer at `fraction` (0: the first catalogued layer, 1: the last) of its network:
    thirds of the depth; `UNKNOWN_STAGE` when the depth is not known."""
    if fraction is None:
        return UNKNOWN_STAGE
    if fraction < 1.0 / 3.0:
        return "lower"
    if fraction < 2.0 / 3.0:
        return "middle"
    return "top"


def stage(layer: str, fraction: float | None = None) -> str:
    """A layer's stage: by `fraction` (its depth in graph order) when given, else InceptionV1's block rule;
    `UNKNOWN_STAGE` for a layer that is neither."""
    if fraction is not None:
        return depth_stage(fraction)
    return inception_stage(layer) if is_inception_layer(layer) else UNKNOWN_STAGE
