"""One tested observation, as stored and shown: plain dataclasses, shared by the tests and the store."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["OBSERVATION_IDS", "ChannelRef", "Observation", "json_ready"]

OBSERVATION_IDS = (
    "early_adaptation",
    "middle_reuse",
    "stable_scale",
    "small_data_redundancy",
    "low_layers_colour",
    "image_scale_structure",
)


@dataclass
class ChannelRef:
    """A channel that illustrates an observation, with its per-channel statistic.

    Attributes:
        layer: layer id.
        channel: channel index.
        value: the statistic the test ranks by.
        before_path: atlas path of the image before transfer ('' when unknown).
        after_path: atlas path of the image after transfer ('' when unknown).
    """

    layer: str
    channel: int
    value: float
    before_path: str = ""
    after_path: str = ""


@dataclass
class Observation:
    """One observation tested on one atlas (docs/observations.md).

    Attributes:
        id: one of `OBSERVATION_IDS`.
        statement: the claim as tested.
        metric: what `value` measures.
        value: the statistic (None when not computed).
        ci: 95% bootstrap interval ``[lo, hi]`` over channels, or None.
        null: the statistic's mean under the null, or None.
        p: one-sided permutation p-value, or None.
        holds: True, False, or None when the atlas lacks what the test needs.
        reason: why `holds` is None ('' otherwise), or what was found missing.
        n: channels the statistic is over.
        best: channels that illustrate the claim best, strongest first.
        worst: channels that illustrate it worst, weakest first.
        details: other facts of the test (the models used, thresholds, extra medians).
    """

    id: str
    statement: str
    metric: str
    value: float | None = None
    ci: list[float] | None = None
    null: float | None = None
    p: float | None = None
    holds: bool | None = None
    reason: str = ""
    n: int = 0
    best: list[ChannelRef] = field(default_factory=list)
    worst: list[ChannelRef] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN and inf become None)."""
        return json_ready(asdict(self))


def json_ready(value: Any) -> Any:
    """`value` with NaN and inf as None and NumPy scalars as Python ones, recursively."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value
