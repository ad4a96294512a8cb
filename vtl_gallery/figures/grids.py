"""The custom grids of ``vtl figure``: rows layers x channels, columns models or their snapshots.

Every name is checked against the atlas before anything is drawn: a layer
(its id or an alias: short id, slim scope, frozen-graph op), a channel, a
model, a snapshot or a method the atlas lacks stops with a `FigureError`
that names it and the valid choices. A cell whose image the atlas lacks
(that model never rendered that layer, say) stays in the grid as an empty,
labelled cell and is listed in `Grid.missing`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vtl_gallery.catalog import Atlas, ImageRow, LayerRow, SnapshotRow
from vtl_gallery.figures.spec import FigureError, FigureSpec, Panel, Tile

__all__ = ["Grid", "GridRequest", "compact_ranges", "grid_figure", "parse_channels", "parse_names"]

_MAX_LISTED = 40  # valid choices named in an error, at most


@dataclass(frozen=True)
class GridRequest:
    """What ``vtl figure`` was asked for; empty lists take the defaults.

    Attributes:
        layers: layer ids or aliases.
        channels: channel indices.
        models: model names (default: every model with images of the layers).
        snapshots: snapshot names, or ``["all"]`` (default: each model's final snapshot).
        method: the render method (default: the gallery's, `lucid` where there is one).
        name: the figure's file stem.
    """

    layers: list[str]
    channels: list[int]
    models: list[str] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    method: str = ""
    name: str = "figure"


@dataclass
class Grid:
    """The figure, and the cells it shows empty (``"layer:channel in model@snapshot"``)."""

    spec: FigureSpec
    missing: list[str]
    layers: list[str]
    models: list[str]
    method: str


def parse_names(text: str | None) -> list[str]:
    """``"a,b, c"`` -> ``["a", "b", "c"]`` (empty items dropped; None gives [])."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def parse_channels(text: str) -> list[int]:
    """``"3,7"`` or ``"0-3,7"`` -> channel indices, in the order given, without repeats.

    Raises:
        FigureError: naming an item that is not a whole number >= 0 or a range of them.
    """
    channels: list[int] = []
    for item in parse_names(text):
        first, dash, last = item.partition("-")
        try:
            values = range(int(first), int(last) + 1) if dash else [int(item)]
        except ValueError:
            values = []
        if not values or (dash and int(first) > int(last)) or min(values, default=-1) < 0:
            raise FigureError(
                f"channel {item!r} is not a channel index (a whole number >= 0, or a range such as 0-3)"
            )
        channels += [value for value in values if value not in channels]
    if not channels:
        raise FigureError("no channel given: pass --channels, e.g. --channels 0,3 or --channels 0-3")
    return channels


def compact_ranges(values: list[int]) -> str:
    """``[0, 1, 2, 3, 7]`` -> ``"0-3, 7"``."""
    runs: list[list[int]] = []
    for value in sorted(set(values)):
        if runs and value == runs[-1][-1] + 1:
            runs[-1].append(value)
        else:
            runs.append([value])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def _choices(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_LISTED])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_LISTED else "")


def _aliases(layer: LayerRow) -> list[str]:
    """Every name of a layer; ``<network>/<id>`` too, which tells apart two networks' layers of one id."""
    names = (layer.id, layer.short_id, layer.slim_scope, layer.graph_op, *layer.aliases)
    return [name for name in names if name] + [f"{layer.network}/{layer.id}"]


def _resolve_layers(atlas: Atlas, names: list[str], method: str) -> list[LayerRow]:
    present = {image.layer for image in atlas.images if image.method == method}
    with_images = [layer.id for layer in atlas.layers.values() if layer.id in present]
    if not names:
        raise FigureError(f"no layer given: pass --layers, one or more of {_choices(with_images)}")
    by_alias = {alias: layer for layer in atlas.layers.values() for alias in _aliases(layer)}
    chosen: list[LayerRow] = []
    for name in names:
        layer = by_alias.get(name)
        if layer is None or layer.id not in present:
            why = f"has no {method} images" if layer is not None else "is not a layer id or alias"
            raise FigureError(f"layer {name!r} {why}; layers with {method} images: {_choices(with_images)}")
        if layer not in chosen:
            chosen.append(layer)
    return chosen


def _resolve_method(atlas: Atlas, method: str) -> str:
    from vtl_gallery.config import SiteConfig
    from vtl_gallery.pages import choose_primary

    primary, methods = choose_primary(atlas, SiteConfig())
    if not methods:
        raise FigureError(f"the atlas {atlas.root} has no images")
    if not method:
        return primary
    if method not in methods:
        raise FigureError(
            f"method {method!r} has no images in this atlas; methods with images: {', '.join(methods)}"
        )
    return method


def _resolve_models(atlas: Atlas, names: list[str], layers: list[LayerRow], method: str) -> list[str]:
    ids = {layer.id for layer in layers}
    keys = {layer.key for layer in layers}  # a model of another network has other layers of these names
    present = {
        image.model
        for image in atlas.images
        if (atlas.network_of(image.model), image.layer) in keys and image.method == method
    }
    with_images = [model for model in atlas.models if model in present]
    if not names:
        if not with_images:
            raise FigureError(f"no model has {method} images of {', '.join(sorted(ids))}")
        return with_images
    for name in names:
        if name not in atlas.models:
            raise FigureError(f"model {name!r} is not in this atlas; models: {', '.join(atlas.models)}")
    return list(dict.fromkeys(names))


def _snapshot_short(snapshot: SnapshotRow, temporal: bool) -> str:
    if snapshot.is_final and not temporal:
        return "final"
    return f"it. {snapshot.iteration}" if snapshot.iteration is not None else snapshot.snapshot


def _resolve_snapshots(atlas: Atlas, models: list[str], names: list[str]) -> list[tuple[str, SnapshotRow]]:
    """The grid's columns: (model, snapshot), model by model."""
    columns = []
    if names and names != ["all"]:
        known = {s.snapshot for m in models for s in atlas.snapshots.get(m, [])}
        for name in names:
            if name not in known:
                listed = "; ".join(
                    f"{m}: {', '.join(s.snapshot for s in atlas.snapshots.get(m, [])) or '(none)'}"
                    for m in models
                )
                raise FigureError(
                    f"snapshot {name!r} is in none of the models {', '.join(models)}; snapshots: {listed}"
                )
    for model in models:
        snapshots = atlas.snapshots.get(model, [])
        if names == ["all"]:
            chosen = snapshots
        elif names:
            # Every model gets every named snapshot; one it lacks is a column of empty cells.
            own = {s.snapshot: s for s in snapshots}
            chosen = [own.get(name, SnapshotRow(model, name, None, False, None, None)) for name in names]
        else:
            finals = [s for s in snapshots if s.is_final]
            chosen = (finals or snapshots)[-1:]
        columns += [(model, snapshot) for snapshot in chosen]
    return columns


def _check_channels(
    atlas: Atlas, channels: list[int], layers: list[LayerRow], models: list[str], method: str
) -> None:
    rendered = {(i.layer, i.channel) for i in atlas.images if i.method == method and i.model in models}
    for channel in channels:
        if not any((layer.id, channel) in rendered for layer in layers):
            per_layer = "; ".join(
                f"{layer.id}: {compact_ranges([c for lid, c in rendered if lid == layer.id]) or 'none'}"
                for layer in layers
            )
            raise FigureError(
                f"channel {channel} has no {method} image in {', '.join(layer.id for layer in layers)} "
                f"for {', '.join(models)}; rendered channels: {per_layer}"
            )


def _caption(request_channels: list[int], layers: list[LayerRow], columns, method: str) -> str:
    models = list(dict.fromkeys(model for model, _ in columns))
    several = len(columns) > len(models)
    what = "model and snapshot" if several else "model"
    return (
        f"Feature visualizations ({method}) of channel{'s' if len(request_channels) > 1 else ''} "
        f"{compact_ranges(request_channels)} of {', '.join(layer.id for layer in layers)} "
        f"in {', '.join(models)}. Rows: layer and channel; columns: {what}"
    )


def grid_figure(atlas: Atlas, request: GridRequest) -> Grid:
    """The figure of `request`: rows layers x channels, columns each model's snapshots.

    Raises:
        FigureError: a layer, channel, model, snapshot or method the atlas lacks,
            with the valid choices.
    """
    method = _resolve_method(atlas, request.method)
    layers = _resolve_layers(atlas, request.layers, method)
    models = _resolve_models(atlas, request.models, layers, method)
    columns = _resolve_snapshots(atlas, models, request.snapshots)
    channels = list(request.channels)
    _check_channels(atlas, channels, layers, models, method)
    images: dict[tuple, ImageRow] = {
        (i.model, i.snapshot, i.layer, i.channel): i
        for i in atlas.images
        if i.method == method and not i.variant
    }
    several = len(columns) > len(models)
    labels = []
    for model, snapshot in columns:
        temporal = len(atlas.snapshots.get(model, [])) > 1
        labels.append(f"{model} {_snapshot_short(snapshot, temporal)}" if several else model)
    rows, tiles, missing = [], [], []
    for layer in layers:
        for channel in channels:
            rows.append(f"{layer.short_id or layer.id}:{channel}")
            row = []
            for model, snapshot in columns:
                image = images.get((model, snapshot.snapshot, layer.id, channel))
                if image is None:
                    missing.append(f"{layer.id}:{channel} in {model}@{snapshot.snapshot}")
                    row.append(Tile(None))
                    continue
                source = atlas.source(image)
                row.append(Tile(source, _png_size(source), image.sha256))
            tiles.append(tuple(row))
    panel = Panel("", tuple(labels), tuple(rows), tuple(tiles))
    spec = FigureSpec(request.name, (panel,), _caption(channels, layers, columns, method))
    return Grid(spec, missing, [layer.id for layer in layers], models, method)


def _png_size(path) -> tuple[int, int]:
    """(width, height) of a PNG, from its header."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size
