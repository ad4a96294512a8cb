"""What a publication figure shows: panels of labelled tiles, and the paper sizes it comes in.

A `FigureSpec` is plain data: which source PNG goes in which cell, the row
and column labels, panel titles and a caption. `vtl_gallery.figures.layout`
places it on a page of one or two columns, `vtl_gallery.figures.draw` turns
that into PDF or PNG bytes. Sizes are the common two-column journal and
proceedings sizes: one column 3.5 in (89 mm), two columns 7.0 in (180 mm).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from visualizer.errors import VtlError

__all__ = [
    "AUTO_CHANNELS",
    "COLUMNS",
    "DPI",
    "FIGURE_MODES",
    "FORMATS",
    "MM",
    "WIDTH_IN",
    "FigureError",
    "FigureSpec",
    "Panel",
    "Tile",
]

DPI = 300
"""Print resolution of the PNG files (dots per inch)."""
WIDTH_IN: dict[int, float] = {1: 3.5, 2: 7.0}
"""Figure width in inches, by the number of text columns it spans."""
MM: dict[int, int] = {1: 89, 2: 180}
"""The same widths in millimetres, as journals state them."""
COLUMNS: tuple[int, ...] = (1, 2)
FORMATS: tuple[str, ...] = ("pdf", "png")
FIGURE_MODES: tuple[str, ...] = ("auto", "all", "pages", "none")
"""Which figures a site build writes. ``all``: the figure pages' and every channel's; ``pages``: figure
6's and figure 7's only; ``none``; ``auto``: ``all`` for an atlas of at most `AUTO_CHANNELS` channels,
else ``pages``."""
AUTO_CHANNELS = 200
"""The most channels for which ``auto`` writes every channel's figure (four files each)."""


class FigureError(VtlError):
    """A figure that cannot be made as asked: a layer, channel, model or snapshot the atlas lacks."""


@dataclass(frozen=True)
class Tile:
    """One cell of a panel: an atlas image, or an empty cell that says why it is empty.

    Attributes:
        source: the PNG file; None for an empty cell.
        size: the source's (width, height) in pixels; (0, 0) for an empty cell.
        sha256: the source's checksum, so that a changed image changes the figure's digest.
        missing: the label of an empty cell.
    """

    source: Path | None
    size: tuple[int, int] = (0, 0)
    sha256: str = ""
    missing: str = "not rendered"

    @property
    def empty(self) -> bool:
        """True when the cell has no image."""
        return self.source is None


@dataclass(frozen=True)
class Panel:
    """A titled grid: `tiles[row][column]`, with a label per row and per column.

    Attributes:
        title: above the grid (may be empty).
        columns: one label per column.
        rows: one label per row; all empty: no row labels.
        tiles: the cells, row by row.
    """

    title: str
    columns: tuple[str, ...]
    rows: tuple[str, ...]
    tiles: tuple[tuple[Tile, ...], ...]

    def __post_init__(self) -> None:
        if len(self.tiles) != len(self.rows) or any(len(row) != len(self.columns) for row in self.tiles):
            raise ValueError(
                f"panel {self.title!r}: {len(self.rows)} row labels and {len(self.columns)} column labels "
                f"for a grid of {[len(row) for row in self.tiles]} tiles"
            )


@dataclass(frozen=True)
class FigureSpec:
    """A whole figure: its panels (laid out left to right, then in bands), file stem and caption.

    Attributes:
        name: the file stem (``figure-6``, ``Mixed_4c_Branch_2_b_3x3-17``).
        panels: at least one.
        caption: what the figure shows, in plain text (LaTeX-escaped where it is used).
    """

    name: str
    panels: tuple[Panel, ...]
    caption: str

    @property
    def tiles(self) -> list[Tile]:
        """Every tile, panel by panel, row by row."""
        return [tile for panel in self.panels for row in panel.tiles for tile in row]

    @property
    def missing(self) -> int:
        """How many cells are empty."""
        return sum(tile.empty for tile in self.tiles)
