"""Place a `FigureSpec` on a page one or two columns wide, in whole print dots.

Everything is measured in dots of the PNG (1/300 in), as integers, so the
PNG puts every source pixel on a block of whole dots and the PDF (which
divides by the same 300) puts its images exactly where the PNG does.

The cell size is a whole multiple of the largest source image: images are
enlarged by whole factors only (nearest neighbour, in `draw`), never by a
fraction. A source too large for its cell even at 1x is shrunk by a whole
factor in the PNG (the mean of each block of pixels); the PDF always embeds
every image at its own pixels. Panels go left to right in bands; the number
per band is the one that gives the largest cells within `MAX_HEIGHT_IN`.
Labels are DejaVu Sans (the copy shipped with matplotlib), measured here
with the same font the drawing uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from vtl_gallery.figures.spec import DPI, WIDTH_IN, FigureError, FigureSpec, Panel, Tile

__all__ = ["FONT_PT", "MAX_HEIGHT_IN", "Box", "Layout", "Text", "font_file", "layout"]

FONT_PT: dict[int, float] = {1: 7.0, 2: 8.0}
"""Label size in points, by figure width (journals ask for 6-9 pt at print size)."""
MAX_HEIGHT_IN = 9.0
"""The tallest figure the layout aims for (the text height of a two-column page)."""

_MARGIN = 12  # dots, around the figure
_GAP = 6  # between cells
_PANEL_GAP = 36  # between panels of a band
_BAND_GAP = 30  # between bands
_LABEL_PAD = 10  # between a label and its cells
_MIN_MISSING_PT = 3.0
_MIN_CELL = 12  # dots (1 mm): narrower cells show nothing


def font_file() -> Path:
    """The DejaVu Sans file that ships with matplotlib (the same on every machine with that version).

    One face only: each face a PDF uses is one more font subset to embed, the slowest step of a PDF.
    """
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


@lru_cache(maxsize=1)
def _text_to_path():
    from matplotlib.textpath import TextToPath

    return TextToPath()


@lru_cache(maxsize=4096)
def _width_dots(text: str, size: float) -> int:
    """Width of one line of `text` at `size` points, in dots (rounded up)."""
    from matplotlib.font_manager import FontProperties

    prop = FontProperties(fname=str(font_file()), size=size)
    width, _height, _descent = _text_to_path().get_text_width_height_descent(text, prop, ismath=False)
    return math.ceil(width / 72 * DPI)


def _descent_dots(size: float) -> int:
    """Room below the baseline of a line at `size` points (DejaVu Sans descends 0.24 em), in dots."""
    return math.ceil(size * 0.24 / 72 * DPI)


def _line_dots(size: float) -> int:
    """Height of one line of text at `size` points, in dots."""
    return math.ceil(size * 1.25 / 72 * DPI)


@dataclass(frozen=True)
class Text:
    """A label. `x`, `y` in dots from the top left; `ha`/`va` as matplotlib's alignments."""

    x: int
    y: int
    text: str
    size: float
    ha: str = "center"
    va: str = "center"
    rotation: int = 0
    muted: bool = False  # the grey label of an empty cell


@dataclass(frozen=True)
class Box:
    """A cell's image (or an empty cell): its tile and the rectangle, in dots from the top left.

    Attributes:
        scale: the whole factor the PNG enlarges the source by (1 when it shrinks it).
        shrink: the whole factor the PNG shrinks the source by (1 when it enlarges it).
    """

    tile: Tile
    x: int
    y: int
    width: int
    height: int
    scale: int = 1
    shrink: int = 1


@dataclass
class Layout:
    """Where everything goes, in dots; the figure is `width` x `height` dots."""

    width: int
    height: int
    images: list[Box] = field(default_factory=list)
    empties: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)

    @property
    def inches(self) -> tuple[float, float]:
        """The figure's size in inches."""
        return self.width / DPI, self.height / DPI


@dataclass(frozen=True)
class _Label:
    """A column label fitted to its cell: one or two lines (a point smaller if need be), or turned."""

    lines: tuple[str, ...]
    rotated: bool
    extent: int  # dots it needs above the cells
    size: float


def _splits(text: str) -> list[tuple[str, str]]:
    """Ways to cut a label in two lines: at a space (most even first), else after an underscore."""
    words = text.split(" ")
    cuts = sorted(range(1, len(words)), key=lambda i: abs(2 * i - len(words)))
    pairs = [(" ".join(words[:i]), " ".join(words[i:])) for i in cuts]
    unders = [i + 1 for i, char in enumerate(text) if char == "_" and 0 < i < len(text) - 1]
    pairs += [(text[:i], text[i:]) for i in sorted(unders, key=lambda i: abs(2 * i - len(text)))]
    return pairs


def _level(text: str, cell: int, size: float, split: bool) -> _Label | None:
    """`text` level within `cell`: on one line, or (`split`) on two where it can be cut; else None."""
    if not text:
        return _Label((), False, 0, size)
    if split:
        for first, second in _splits(text):
            if max(_width_dots(first, size), _width_dots(second, size)) <= cell:
                return _Label((first, second), False, 2 * _line_dots(size), size)
    if _width_dots(text, size) <= cell:
        return _Label((text,), False, _line_dots(size), size)
    return None


@lru_cache(maxsize=1024)
def _column_labels(columns: tuple[str, ...], cell: int, size: float) -> tuple[_Label, ...]:
    """A panel's column labels, all set alike: level on one line, else each cut in two lines where it
    can be (a point smaller if need be), else all turned a quarter."""
    for fitted in (size, size - 1):
        for split in (False, True):
            labels = [_level(text, cell, fitted, split) for text in columns]
            if all(label is not None for label in labels):
                return tuple(labels)
    return tuple(
        _Label((text,), True, _width_dots(text, size) + _LABEL_PAD // 2, size)
        if text
        else _Label((), False, 0, size)
        for text in columns
    )


def _pieces(word: str, width: int, size: float) -> list[str]:
    """A word too wide for `width`, cut after underscores (layer names), else whole."""
    if _width_dots(word, size) <= width or "_" not in word:
        return [word]
    parts = [part + "_" for part in word.split("_")]
    parts[-1] = parts[-1][:-1]
    lines = [""]
    for part in parts:
        if lines[-1] and _width_dots(lines[-1] + part, size) > width:
            lines.append(part)
        else:
            lines[-1] += part
    return lines


def _wrap(text: str, width: int, size: float) -> list[str]:
    """Greedy word wrap of `text` to `width` dots; a word wider than that is cut after an underscore."""
    lines: list[str] = []
    for word in text.split(" "):
        for piece in _pieces(word, width, size):
            if lines and not lines[-1].endswith("_") and _width_dots(lines[-1] + " " + piece, size) <= width:
                lines[-1] += " " + piece
            else:
                lines.append(piece)
    return [line for line in lines if line]


def _row_label_width(panel: Panel, size: float) -> int:
    widths = [_width_dots(label, size) for label in panel.rows if label]
    return max(widths) + _LABEL_PAD if widths else 0


def _snap(raw: float, largest: int) -> int:
    """The cell: the largest whole multiple of `largest` within `raw`, else `largest` shrunk by a factor."""
    factor = math.floor(raw / largest)
    if factor >= 1:
        return factor * largest
    shrink = math.ceil(largest / raw)
    while math.ceil(largest / shrink) > raw:  # the rounded-up cell must fit too
        shrink += 1
    return math.ceil(largest / shrink)


def _fit_tile(tile: Tile, cell: int) -> tuple[int, int, int, int]:
    """(width, height, scale, shrink) of a tile's image in a cell of `cell` dots."""
    width, height = tile.size
    side = max(width, height)
    if side <= cell:
        scale = cell // side
        return width * scale, height * scale, scale, 1
    shrink = math.ceil(side / cell)
    return math.ceil(width / shrink), math.ceil(height / shrink), 1, shrink


@dataclass
class _Plan:
    per_band: int
    cell: int
    height: int


def _bands(panels: tuple[Panel, ...], per_band: int) -> list[tuple[Panel, ...]]:
    return [panels[i : i + per_band] for i in range(0, len(panels), per_band)]


def _raw_cell(band: tuple[Panel, ...], width: int, size: float) -> float:
    columns = sum(len(p.columns) for p in band)
    room = width - 2 * _MARGIN - (len(band) - 1) * _PANEL_GAP
    room -= sum(_row_label_width(p, size) + _GAP * (len(p.columns) - 1) for p in band)
    return room / max(columns, 1)


def _title_lines(panel: Panel, cell: int, size: float) -> list[str]:
    return _wrap(panel.title, max(_panel_width(panel, cell, size), cell), size)


def _panel_width(panel: Panel, cell: int, size: float) -> int:
    return _row_label_width(panel, size) + len(panel.columns) * cell + (len(panel.columns) - 1) * _GAP


def _header(panel: Panel, cell: int, size: float) -> int:
    extents = [label.extent for label in _column_labels(panel.columns, cell, size)]
    return max(extents, default=0) + (_LABEL_PAD // 2 if any(extents) else 0)


def _band_height(band: tuple[Panel, ...], cell: int, size: float) -> tuple[int, int, int]:
    """(title height, header height, grid height) of a band."""
    title = max((len(_title_lines(p, cell, size)) for p in band), default=0) * _line_dots(size)
    header = max(_header(p, cell, size) for p in band)
    rows = max(len(p.rows) for p in band)
    return title + (_LABEL_PAD // 2 if title else 0), header, rows * cell + (rows - 1) * _GAP


def _plan(spec: FigureSpec, width: int, size: float, largest: int) -> _Plan:
    plans = []
    for per_band in range(1, len(spec.panels) + 1):
        bands = _bands(spec.panels, per_band)
        raw = min(_raw_cell(band, width, size) for band in bands)
        if raw < _MIN_CELL:
            continue
        cell = _snap(raw, largest)
        height = 2 * _MARGIN + (len(bands) - 1) * _BAND_GAP
        height += sum(sum(_band_height(band, cell, size)) for band in bands)
        plans.append(_Plan(per_band, cell, height))
    if not plans:
        widest = max(len(panel.columns) for panel in spec.panels)
        raise FigureError(
            f"{widest} columns do not fit a figure {width / DPI:.1f} in wide (cells of at least "
            f"{_MIN_CELL} dots): ask for fewer models or snapshots, or two columns (--columns 2)"
        )
    fitting = [p for p in plans if p.height <= MAX_HEIGHT_IN * DPI]
    if fitting:
        return max(fitting, key=lambda p: (p.cell, -p.per_band))
    return min(plans, key=lambda p: (p.height, p.per_band))


def _missing_text(tile: Tile, box: Box, size: float) -> Text:
    label, fitted = tile.missing or "missing", size - 1
    while fitted > _MIN_MISSING_PT and _width_dots(label, fitted) > box.width - 4:
        fitted -= 0.5
    if _width_dots(label, fitted) > box.width - 4:
        label = "–"
    return Text(box.x + box.width // 2, box.y + box.height // 2, label, fitted, muted=True)


def layout(spec: FigureSpec, columns: int) -> Layout:
    """Place `spec` on a figure `columns` text columns wide (`WIDTH_IN`).

    Args:
        spec: the figure.
        columns: 1 or 2.

    Returns:
        The `Layout`, in dots of `DPI`.
    """
    width = round(WIDTH_IN[columns] * DPI)
    size = FONT_PT[columns]
    largest = max((max(t.size) for t in spec.tiles if not t.empty), default=64)
    plan = _plan(spec, width, size, largest)
    cell = plan.cell
    result = Layout(width, plan.height)
    y = _MARGIN
    for band in _bands(spec.panels, plan.per_band):
        title_h, header_h, grid_h = _band_height(band, cell, size)
        band_width = sum(_panel_width(p, cell, size) for p in band) + (len(band) - 1) * _PANEL_GAP
        x = (width - band_width) // 2
        for panel in band:
            _place_panel(result, panel, x, y, (title_h, header_h), cell, size)
            x += _panel_width(panel, cell, size) + _PANEL_GAP
        y += title_h + header_h + grid_h + _BAND_GAP
    return result


def _place_panel(
    result: Layout, panel: Panel, x: int, y: int, heights: tuple[int, int], cell: int, size: float
) -> None:
    title_h, header_h = heights
    for number, line in enumerate(_title_lines(panel, cell, size)):
        result.texts.append(Text(x, y + number * _line_dots(size), line, size, "left", "top"))
    left = x + _row_label_width(panel, size)
    top = y + title_h + header_h
    for column, fitted in enumerate(_column_labels(panel.columns, cell, size)):
        if not fitted.lines:
            continue
        center = left + column * (cell + _GAP) + cell // 2
        bottom = top - _LABEL_PAD // 2
        if fitted.rotated:  # its end sits on the cells
            result.texts.append(Text(center, bottom, fitted.lines[0], fitted.size, "center", "bottom", 90))
            continue
        baseline = bottom - _descent_dots(fitted.size)  # lines share a baseline, with or without descenders
        for number, line in enumerate(reversed(fitted.lines)):
            y = baseline - number * _line_dots(fitted.size)
            result.texts.append(Text(center, y, line, fitted.size, "center", "baseline"))
    for row, label in enumerate(panel.rows):
        cell_top = top + row * (cell + _GAP)
        if label:
            result.texts.append(Text(left - _LABEL_PAD, cell_top + cell // 2, label, size, "right", "center"))
        for column, tile in enumerate(panel.tiles[row]):
            cell_left = left + column * (cell + _GAP)
            if tile.empty:
                box = Box(tile, cell_left, cell_top, cell, cell)
                result.empties.append(box)
                result.texts.append(_missing_text(tile, box, size))
                continue
            w, h, scale, shrink = _fit_tile(tile, cell)
            box = Box(tile, cell_left + (cell - w) // 2, cell_top + (cell - h) // 2, w, h, scale, shrink)
            result.images.append(box)
