"""Make a figure's files: lay out, load the source pixels once, draw each size and format."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from vtl_gallery.figures.spec import FigureSpec

__all__ = ["figure_digest", "render_figure"]

_VERSION = 1  # bump when the drawing changes in a way the code digest cannot see
_DRAWING = ("spec.py", "layout.py", "draw.py", "render.py")  # the modules that decide a file's bytes


@lru_cache(maxsize=1)
def _code_digest() -> str:
    """Digest of the drawing code and matplotlib's version: a new drawing makes new files."""
    import matplotlib

    h = hashlib.sha256(f"{_VERSION}|{matplotlib.__version__}".encode())
    for name in _DRAWING:
        h.update(name.encode())
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()


def figure_digest(spec: FigureSpec, columns: int, fmt: str) -> str:
    """Digest of everything one file of `spec` is made from (labels, image checksums, size, format, code)."""
    panels = [
        [
            panel.title,
            list(panel.columns),
            list(panel.rows),
            [[[t.sha256 or str(t.source), list(t.size), t.missing] for t in row] for row in panel.tiles],
        ]
        for panel in spec.panels
    ]
    payload = json.dumps([spec.name, spec.caption, panels, columns, fmt, _code_digest()], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def render_figure(
    spec: FigureSpec, wanted: Iterable[tuple[int, str]], title: str = ""
) -> dict[tuple[int, str], bytes]:
    """The bytes of each (columns, format) of `spec` asked for, with its digest recorded inside.

    Args:
        spec: the figure.
        wanted: (1 or 2, ``"pdf"`` or ``"png"``) pairs.
        title: the PDF's document title.

    Raises:
        OSError: a source PNG that cannot be read.
    """
    from vtl_gallery.figures.draw import load_pixels, render_pdf, render_png
    from vtl_gallery.figures.layout import layout

    pixels = {tile.source: load_pixels(tile.source) for tile in spec.tiles if not tile.empty}
    layouts = {}
    result = {}
    for columns, fmt in wanted:
        placed = layouts.setdefault(columns, layout(spec, columns))
        digest = figure_digest(spec, columns, fmt)
        if fmt == "pdf":
            result[(columns, fmt)] = render_pdf(placed, pixels, digest, title or spec.caption)
        else:
            result[(columns, fmt)] = render_png(placed, pixels, digest)
    return result
