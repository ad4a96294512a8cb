"""The static search index and the per-layer data of the comparison view.

The index is small on purpose: one entry per layer (with every alias:
paper id, slim scope, short id, frozen-graph op, block and Lucid block name),
per model and per dataset. Channels need no entries: the script resolves
``<any alias>:<index>`` through the layer entry, which knows the rendered
channels (and says so when a channel was not rendered). An atlas of several
networks has an entry per (network, layer), naming its network: a query
``conv2d:3`` lists channel 3 of each network's ``conv2d``, each on its own page.
Per-layer image tables are separate chunks (``data/layer/<id>.js``, or
``data/network/<network>/layer/<id>.js`` outside InceptionV1), loaded only by the
comparison view when it needs that layer; each lists the pairs of every
channel that the channel pages offer.

Search results show a thumbnail of each channel (and of a layer's first
channel). Listing one file per channel would make the index as long as the
atlas, so each layer entry carries a path pattern, ``{channel}`` standing for
the zero-padded index, verified against every channel, plus the paths of the
channels that do not follow it.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vtl_gallery import urls
from vtl_gallery.files import write_if_changed
from vtl_gallery.jsdata import js_call
from vtl_gallery.pages import LayerView, Site

__all__ = [
    "SEARCH_INDEX",
    "channel_thumbs",
    "layer_data",
    "search_index",
    "thumb_pattern",
    "write_script_data",
]

SEARCH_INDEX = "search/index.js"
_PADS = (4, 0)  # zero-padded as the atlas's path_format writes ``{channel:04d}``, else plain


def channel_thumbs(site: Site, layer: LayerView) -> dict[int, str]:
    """The thumbnail shown for each channel of `layer`: its primary image in the first model that has it.

    Models count in the layer's order (parents first), and a model's final snapshot before its others.
    A channel without a primary image has no entry. Paths are site paths without the cache query
    (the search index lists a pattern, which cannot carry one hash per file).
    """
    model_rank = {model.name: i for i, model in enumerate(layer.models)}
    finals = {model.name: model.final.name for model in layer.models if model.final}
    thumbs: dict[int, str] = {}
    for channel in layer.channels:
        rows = [r for r in channel.images if r.method == site.primary_method and r.variant == ""]
        if not rows:
            continue
        best = min(
            rows,
            key=lambda r: (
                model_rank.get(r.model, len(model_rank)),
                r.snapshot != finals.get(r.model),
                r.snapshot,
            ),
        )
        thumbs[channel.index] = site.picture(best).thumb.split("?", 1)[0]
    return thumbs


def thumb_pattern(thumbs: dict[int, str], channels: list[int]) -> dict | None:
    """`thumbs` as a path pattern (``{channel}``: the index padded to ``pad`` digits) and its exceptions.

    The pattern comes from the first channel's path and is checked against every channel: ``except``
    maps the channels it does not give (their own path, or "" for a channel without a thumbnail).
    None when no channel has a thumbnail.
    """
    if not thumbs:
        return None
    first = min(thumbs)
    best: dict | None = None
    for pad in _PADS:
        token = f"{first:0{pad}d}"
        at = thumbs[first].rfind(token)
        if at < 0:
            continue
        pattern = thumbs[first][:at] + "{channel}" + thumbs[first][at + len(token) :]
        exceptions = {
            str(c): thumbs.get(c, "")
            for c in channels
            if thumbs.get(c, "") != pattern.replace("{channel}", f"{c:0{pad}d}")
        }
        if best is None or len(exceptions) < len(best["except"]):
            best = {"pattern": pattern, "pad": pad, "except": exceptions}
    return best or {"pattern": "", "pad": 0, "except": {str(c): thumbs.get(c, "") for c in channels}}


def search_index(site: Site) -> dict:
    """The search index as a JSON-ready dict (URLs are site paths)."""
    return {
        "layers": [
            {
                "id": layer.id,
                "key": layer.key,
                "network": layer.network.label if site.several_networks else "",
                "url": layer.url,
                "data": layer.data_url,
                "names": layer.names,
                "paper": layer.paper_position,
                "graph": layer.graph_position,
                "channels": [c.index for c in layer.channels],
                "models": [m.name for m in layer.models],
                "thumb": thumb_pattern(channel_thumbs(site, layer), [c.index for c in layer.channels]),
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
        "layer": layer.key,
        "id": layer.id,
        "url": layer.url,
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
