"""What the analysis reads from an atlas's catalog: its images, periods, models, snapshots and layers.

Read-only (`readonly.connect_read_only`), in one pass when the index is
made, so the analysis never holds the catalog open while it computes.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from visualizer.analysis.depth import is_inception_layer, stage
from visualizer.analysis.readonly import connect_read_only

__all__ = ["INCEPTION_V1", "AtlasIndex", "ImageRef", "NetworkLayers", "network_facts"]

INCEPTION_V1 = "inception_v1"  # `visualizer.atlas.networks.INCEPTION_V1` (the atlas layer is above this one)


@dataclass(frozen=True)
class ImageRef:
    """One image of the atlas: its path (relative to the atlas) and checksum."""

    path: str
    sha256: str


class AtlasIndex:
    """The catalog's images (default variant), periods, models, snapshots and layer facts.

    Raises:
        FileNotFoundError: the atlas has no ``catalog.sqlite``.
    """

    def __init__(self, atlas_dir: str | os.PathLike):
        self.root = Path(atlas_dir)
        path = self.root / "catalog.sqlite"
        if not path.is_file():
            raise FileNotFoundError(
                f"No catalog at {path}; run `vtl catalog rebuild --atlas {atlas_dir}` first."
            )
        self._images: dict[tuple[str, str, str], dict[tuple[str, int], ImageRef]] = {}
        self._periods: dict[str, float] = {}
        with contextlib.closing(connect_read_only(path)) as db:
            for path_, model, snapshot, method, layer, channel, sha in db.execute(
                "SELECT path, model, snapshot, method, layer, channel, sha256 FROM images WHERE variant = ''"
            ):
                self._images.setdefault((model, snapshot, method), {})[(layer, int(channel))] = ImageRef(
                    path_, sha
                )
            self._periods = {
                path_: float(value)
                for path_, value in db.execute("SELECT path, value FROM metrics WHERE name = 'period_px'")
                if value is not None and value > 0
            }
            self.layers = NetworkLayers.read(db)
            self.paper_index = self.layers.paper_index
            self.parents: dict[str, str | None] = dict(db.execute("SELECT name, parent FROM models"))
            self.iterations: dict[tuple[str, str], int] = {
                (model, snapshot): int(iteration or 0)
                for model, snapshot, iteration in db.execute(
                    "SELECT model, snapshot, iteration FROM snapshots"
                )
            }
            self._channels: dict[tuple[str, str], int] = {
                (model, layer): int(count)
                for model, layer, count in db.execute("SELECT model, layer, channels FROM model_layers")
            }

    @property
    def models(self) -> list[str]:
        """Model names with images, sorted."""
        return sorted({model for model, _, _ in self._images})

    def images(self, model: str, snapshot: str, method: str) -> dict[tuple[str, int], ImageRef]:
        """{(layer, channel): image} of one model, snapshot and method."""
        return dict(self._images.get((model, snapshot, method), {}))

    def period(self, image: ImageRef) -> float | None:
        """The image's dominant period in px (None when not measured or infinite)."""
        return self._periods.get(image.path)

    def snapshots(self, model: str, method: str) -> list[tuple[str, int]]:
        """(snapshot, iteration) of a model's snapshots that have images of `method`, by iteration."""
        found = {snapshot for m, snapshot, meth in self._images if m == model and meth == method}
        return sorted(
            ((s, self.iterations.get((model, s), 0)) for s in found), key=lambda item: (item[1], item[0])
        )

    def layer_channels(self, model: str) -> dict[str, int]:
        """{layer: channels of the layer in this model} from the catalog's ``model_layers``."""
        return {layer: count for (m, layer), count in self._channels.items() if m == model}

    def children(self, parent: str) -> list[str]:
        """Models transferred from `parent`, sorted."""
        return sorted(model for model, of in self.parents.items() if of == parent)

    def network(self, model: str) -> str | None:
        """The model's network id (`NetworkLayers.network`)."""
        return self.layers.network(model)

    def is_inception(self, model: str) -> bool:
        """Whether the model is the slim InceptionV1 or transferred from it."""
        return self.layers.network(model) == INCEPTION_V1

    def order(self, layer: str, network: str | None = INCEPTION_V1) -> int:
        """The layer's depth order (`NetworkLayers.order`)."""
        return self.layers.order(layer, network)


class NetworkLayers:
    """The catalog's facts on networks and their layers: each model's network, each layer's depth order.

    Attributes:
        paper_index: {InceptionV1 layer: its index in the paper's order}.
        networks: {model: network id}, recorded or inferred (`network_facts`).
        sizes: {network: its catalogue's size}.
        graph_indices: {(network, layer): graph_index} for networks other than InceptionV1.
    """

    def __init__(
        self,
        paper_index: dict[str, int],
        networks: dict[str, str | None],
        sizes: dict[str, int],
        graph_indices: dict[tuple[str, str], int],
    ):
        self.paper_index = paper_index
        self.networks = networks
        self.sizes = sizes
        self.graph_indices = graph_indices

    @classmethod
    def read(cls, db: sqlite3.Connection) -> NetworkLayers:
        """The facts of an open catalog (empty where it has no ``layers`` or ``models`` table)."""
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"layers", "models", "images"} <= tables:
            return cls({}, {}, {}, {})
        paper_index = {
            layer: int(index)
            # InceptionV1's rows: another network's layers have no paper index (docs/formats.md)
            for layer, index in db.execute("SELECT id, paper_index FROM layers WHERE paper_index IS NOT NULL")
        }
        return cls(paper_index, *network_facts(db))

    def network(self, model: str) -> str | None:
        """The model's network id (`visualizer.atlas.networks`): recorded, or inferred (`network_facts`)."""
        return self.networks.get(model)

    def network_layers(self, network: str | None) -> list[str]:
        """The layers the catalog lists for a network other than InceptionV1, in graph order."""
        found = [(index, layer) for (net, layer), index in self.graph_indices.items() if net == network]
        return [layer for _, layer in sorted(found)]

    def order(self, layer: str, network: str | None = INCEPTION_V1) -> int:
        """The layer's depth order: the paper's order for InceptionV1, the graph order (``graph_index``)
        for another network; large for an unknown layer."""
        if network == INCEPTION_V1:
            return self.paper_index.get(layer, 10**6)
        return self.graph_indices.get((network, layer), 10**6)

    def graph_index(self, layer: str, network: str | None) -> int | None:
        """The layer's position in its network's catalogue (None for InceptionV1 or an unknown layer)."""
        return None if network == INCEPTION_V1 else self.graph_indices.get((network, layer))

    def depth_fraction(self, layer: str, network: str | None) -> float | None:
        """The layer's depth in graph order as a fraction of its network's catalogue (0 first, 1 last);
        None for InceptionV1 (staged by its blocks) or an unknown layer."""
        index = self.graph_index(layer, network)
        size = self.sizes.get(network) if network is not None else None
        if index is None or not size:
            return None
        return index / max(1, size - 1)

    def stage(self, layer: str, network: str | None) -> str:
        """The layer's stage (`visualizer.analysis.depth`): InceptionV1's blocks, else thirds of the depth."""
        if network == INCEPTION_V1:
            return stage(layer)
        return stage(layer, self.depth_fraction(layer, network))


def network_facts(
    db: sqlite3.Connection,
) -> tuple[dict[str, str | None], dict[str, int], dict[tuple[str, str], int]]:
    """({model: network}, {network: catalogue size}, {(network, layer): graph_index}) of a catalog.

    A NULL network is inferred as docs/formats.md says: the parent's network; for a root
    `INCEPTION_V1` when it records a width or all its images' layers are InceptionV1's, else
    the root's name. The catalogue size is ``models.network_layers``, else the largest recorded
    ``graph_index`` plus one.
    """
    columns = {row[1] for row in db.execute("PRAGMA table_info(models)")}
    has_network = "network" in columns
    rows = db.execute(
        "SELECT name, parent, width"
        + (", network, network_layers" if has_network else ", NULL, NULL")
        + " FROM models"
    ).fetchall()
    parents = {name: parent for name, parent, *_ in rows}
    recorded = {name: network for name, _, _, network, _ in rows if network}
    widths = {name for name, _, width, _, _ in rows if width is not None}
    sizes: dict[str, int] = {}
    for _, _, _, network, count in rows:
        if network and count:
            sizes[network] = int(count)
    layer_columns = {row[1] for row in db.execute("PRAGMA table_info(layers)")}
    graph_index: dict[tuple[str, str], int] = {}
    if "network" in layer_columns:
        for network, layer, index in db.execute(
            "SELECT network, id, graph_index FROM layers WHERE network IS NOT NULL AND network != ? "
            "AND graph_index IS NOT NULL",
            (INCEPTION_V1,),
        ):
            graph_index[(network, layer)] = int(index)
    for (network, _), index in graph_index.items():
        sizes[network] = max(sizes.get(network, 0), index + 1)
    image_layers: dict[str, set[str]] = {}
    for model, layer in db.execute("SELECT DISTINCT model, layer FROM images"):
        image_layers.setdefault(model, set()).add(layer)

    def network_of(name: str, seen: frozenset[str] = frozenset()) -> str | None:
        if name in recorded:
            return recorded[name]
        parent = parents.get(name)
        if parent and parent not in seen and parent in parents:
            return network_of(parent, seen | {name})
        if name in widths or all(is_inception_layer(layer) for layer in image_layers.get(name, ())):
            return INCEPTION_V1
        return name

    models = set(parents) | set(image_layers)
    return {name: network_of(name) for name in models}, sizes, graph_index
