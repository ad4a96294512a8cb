"""The static search index and the per-layer data of the comparison view.

The index is small on purpose: one entry per layer (with every alias:
paper id, slim scope, short id, frozen-graph op, block and Lucid block name),
per model and per dataset. Channels need no entries: the script resolves
``<any alias>:<index>`` through the layer entry, which knows the rendered
channels (and says so when a channel was not rendered). Per-layer image
tables are separate chunks (``data/layer/<id>.js``), loaded only by the
comparison view when it needs that layer; each lists the pairs of every
channel that the channel pages offer.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vtl_gallery import urls
from vtl_gallery.files import write_if_changed
from vtl_gallery.jsdata import js_call
from vtl_gallery.pages import LayerView, Site

__all__ = ["SEARCH_INDEX", "layer_data", "search_index", "write_script_data"]

SEARCH_INDEX = "search/index.js"


def search_index(site: Site) -> dict:
    """The search index as a JSON-ready dict (URLs are site paths)."""
    return {
        "layers": [
            {
                "id": layer.id,
                "url": layer.url,
                "names": layer.names,
                "paper": layer.paper_position,
                "graph": layer.graph_position,
                "channels": [c.index for c in layer.channels],
                "models": [m.name for m in layer.models],
            }
            for layer in site.layers
            if layer.has_images
        ],
        "models": [
            {
                "name": m.name,
                "url": m.url,
                "dataset": m.dataset,
                "parent": m.parent_name,
                "snapshots": [{"key": s.key, "label": s.label} for s in m.snapshots],
            }
            for m in site.models
        ],
        "datasets": [{"name": name, "models": [m.name for m in models]} for name, models in site.datasets],
        "channelUrl": urls.channel("LAYER", 0).replace("LAYER", "{layer}").replace("/0/", "/{channel}/"),
        "pretty": site.config.pretty_urls,
    }


def layer_data(site: Site, layer: LayerView) -> dict:
    """One layer's primary images per snapshot and the pairs of each channel, for the comparison view."""
    found: dict[str, dict[str, list]] = defaultdict(dict)
    for channel in layer.channels:
        for row in channel.images:
            if row.method == site.primary_method and row.variant == "":
                picture = site.picture(row)
                found[f"{row.model}@{row.snapshot}"][str(channel.index)] = [
                    picture.view,
                    *picture.view_size,
                    picture.original,
                ]
    snapshots = [
        {
            "key": snap.key,
            "label": f"{model.name}, {snap.label} — {model.dataset_label}",
            "short": f"{model.name} {snap.short_label}",
        }
        for model in layer.models
        for snap in model.snapshots
        if snap.key in found
    ]
    return {
        "layer": layer.id,
        "channels": [c.index for c in layer.channels],
        "snapshots": snapshots,
        "images": found,
        # The pairs the channel pages link to, by channel: [A key, B key, label] (`pages.compare_pairs`).
        "pairs": {str(c.index): [[p.a.key, p.b.key, p.label] for p in c.pairs] for c in layer.channels},
    }


def write_script_data(site: Site, dist: Path) -> tuple[list[str], int]:
    """Write the search index and every layer chunk.

    Returns:
        The site paths written or kept, and how many files changed.
    """
    paths = [SEARCH_INDEX]
    changed = int(write_if_changed(dist / SEARCH_INDEX, js_call("search", search_index(site))))
    for layer in site.layers_with_images:
        path = layer.data_url
        changed += write_if_changed(
            urls.safe_output_path(dist, path), js_call("layer", layer_data(site, layer))
        )
        paths.append(path)
    return paths, changed
