"""Network identities: which models of an atlas share a layer catalogue, and the facts the catalog keeps.

Two models are of one network when their layer names mean the same layers:
the slim InceptionV1 and its transfers are ``inception_v1``; any other
model is its root model's network (`visualizer.config.Config.root_model`),
since a transfer keeps its parent's layer names. The rule itself is
`visualizer.atlas.sources.network_identity`; this module holds its pieces
and the per-image record of it that `vtl render` writes into each PNG
(`network_info`), so that `vtl catalog rebuild` recovers it from the images.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

__all__ = [
    "INCEPTION_V1",
    "INFO_KEYS",
    "inception_label",
    "keras_model_name",
    "layer_facts",
    "network_info",
    "network_of_info",
    "slug",
]

INCEPTION_V1 = "inception_v1"
"""The network id of the slim InceptionV1 and of every model transferred from it."""

INFO_KEYS = ("network", "network_label", "network_layers")
"""The network facts a snapshot's meta carries into each image's ``vtl:model`` text (`network_info`)."""


def network_of_info(info: dict[str, Any], inception_layers: int) -> tuple[str | None, str | None, int | None]:
    """(network, label, catalogue size) of an image's model info: recorded, or InceptionV1 by its ``width``.

    Only the slim InceptionV1's models record a width; an image that records
    neither (rendered before networks were recorded) gives (None, None, None).
    """
    if info.get("network"):
        return info["network"], info.get("network_label"), info.get("network_layers")
    if isinstance(info.get("width"), (int, float)):
        return INCEPTION_V1, inception_label(float(info["width"])), inception_layers
    return None, None, None


def slug(name: str) -> str:
    """A network id made from a model name: lower case, runs of other characters as ``_``.

    Never `INCEPTION_V1`, which names the slim InceptionV1 only.
    """
    text = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "network"
    return text + "_model" if text == INCEPTION_V1 else text


def inception_label(width: float) -> str:
    """``"InceptionV1"``, or ``"a width-reduced InceptionV1 (width 0.25)"`` below full width."""
    return "InceptionV1" if width == 1.0 else f"a width-reduced InceptionV1 (width {width:g})"


def keras_model_name(file: Path) -> str:
    """The ``name`` a ``.keras`` file's model config records, read without loading it; ``""`` if unknown."""
    try:
        with zipfile.ZipFile(file) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return ""
    name = config.get("config", {}).get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) else ""


def layer_facts(info: Any) -> dict[str, Any]:
    """The catalogue facts of one layer an image records (a `visualizer.models.catalogue.LayerInfo`)."""
    facts = info.to_json()
    return {
        key: facts[key]
        for key in (
            "id",
            "aliases",
            "kind",
            "channels",
            "kernel",
            "stride",
            "receptive_field",
            "grid_stride",
            "graph_index",
            "conv",
        )
    }


def network_info(meta: dict[str, Any], layer: str) -> dict[str, Any]:
    """The network facts an image of `layer` records: its snapshot meta's `INFO_KEYS`, and its layer's facts.

    `visualizer.atlas.job` adds them to each snapshot's meta (with ``layer_facts``,
    {layer id: facts} of the layers it renders). An InceptionV1 image records
    none: its ``width`` says it is InceptionV1 (`network_of_info`), the catalog
    always holds its layer table, and its images stay as they were.
    """
    if meta.get("network") in (None, INCEPTION_V1):
        return {}
    info = {key: meta[key] for key in INFO_KEYS if meta.get(key) is not None}
    facts = (meta.get("layer_facts") or {}).get(layer)
    if facts:
        info["layer"] = facts
    return info
