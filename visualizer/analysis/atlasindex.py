"""What the analysis reads from an atlas's catalog: its images, periods, models, snapshots and layers.

Read-only (`readonly.connect_read_only`), in one pass when the index is
made, so the analysis never holds the catalog open while it computes.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from visualizer.analysis.readonly import connect_read_only

__all__ = ["AtlasIndex", "ImageRef"]


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
            self.paper_index: dict[str, int] = {
                layer: int(index) for layer, index in db.execute("SELECT id, paper_index FROM layers")
            }
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

    def order(self, layer: str) -> int:
        """The layer's position in the paper's order (large for an unknown layer)."""
        return self.paper_index.get(layer, 10**6)
