"""Draw a `Layout` to PDF or PNG bytes with matplotlib, the same bytes for the same input.

No pyplot: each figure is a `matplotlib.figure.Figure` of its own, drawn
under a fixed `RC` (DejaVu Sans from matplotlib's own files, TrueType fonts
in the PDF so that labels stay text, no composited images) and saved
without dates or version strings that change between builds.

PDF: labels are text (Type 42, with a ToUnicode map: searchable and
copyable); each image is embedded once at its own pixels
(``interpolation="none"``, which vector backends leave unsampled) and
placed on its cell. PNG: labels are drawn by Agg at 300 dpi, then each image
is pasted in as whole blocks of dots (`numpy.repeat`), so every source
pixel becomes a `scale` x `scale` block of exactly its colour; a source
larger than its cell is shrunk by a whole factor (block means). The PNG is
saved with a palette when it has at most 256 colours, else as RGB.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from vtl_gallery.figures.layout import Box, Layout, Text, font_file
from vtl_gallery.figures.spec import DPI

__all__ = ["DIGEST_KEY", "RC", "load_pixels", "render_pdf", "render_png"]

RC: dict[str, object] = {
    "font.family": "DejaVu Sans",
    "pdf.fonttype": 42,
    "ps.fonttype": 42,
    "svg.fonttype": "none",
    "svg.hashsalt": "vtl-figure",
    "pdf.compression": 9,
    "image.composite_image": False,
    "text.usetex": False,
    "text.antialiased": True,
    "axes.unicode_minus": False,
}
"""matplotlib settings every figure is drawn under."""

DIGEST_KEY = "vtl-figure-digest"
"""PDF Keywords / PNG text key that records the digest of a figure's inputs (for incremental builds)."""

# Labels are searchable text: "flowers17" must not become an "fl" glyph that a PDF search does not find.
_NO_LIGATURES = ("-liga", "-clig", "-dlig")
_EMPTY_FILL = "#f1f1f1"
_EMPTY_EDGE = "#9a9a9a"
_EMPTY_TEXT = "#555555"
_TEXT = "#000000"


def load_pixels(path: Path) -> np.ndarray:
    """A PNG's pixels as ``uint8 [height, width, 3]``; transparency is laid on white."""
    with Image.open(path) as image:
        image.load()
        if "A" in image.getbands() or "transparency" in image.info:
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.asarray(image.convert("RGB"))


def _font(text: Text):
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(font_file()), size=text.size)


def _figure(layout: Layout):
    """A figure with the labels and empty cells of `layout` (no images)."""
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    width, height = layout.width, layout.height
    figure = Figure(figsize=layout.inches, dpi=DPI, facecolor="white")
    for box in layout.empties:
        figure.add_artist(
            Rectangle(
                (box.x / width, 1 - (box.y + box.height) / height),
                box.width / width,
                box.height / height,
                transform=figure.transFigure,
                facecolor=_EMPTY_FILL,
                edgecolor=_EMPTY_EDGE,
                linewidth=0.5,
            )
        )
    for text in layout.texts:
        figure.text(
            text.x / width,
            1 - text.y / height,
            text.text,
            fontproperties=_font(text),
            ha=text.ha,
            va=text.va,
            rotation=text.rotation,
            rotation_mode="default",
            multialignment="center",
            parse_math=False,
            fontfeatures=_NO_LIGATURES,
            color=_EMPTY_TEXT if text.muted else _TEXT,
        )
    return figure


def _block(pixels: np.ndarray, box: Box) -> np.ndarray:
    """The source pixels as they go into the PNG: each repeated `scale` times, or shrunk by `shrink`."""
    if box.shrink > 1:
        reduced = Image.fromarray(pixels).reduce(box.shrink)
        return np.asarray(reduced)
    return np.repeat(np.repeat(pixels, box.scale, axis=0), box.scale, axis=1)


def render_png(layout: Layout, pixels: dict[Path, np.ndarray], digest: str = "") -> bytes:
    """The figure as a PNG at `DPI`, its pHYs chunk saying so.

    Args:
        layout: where everything goes.
        pixels: each source's pixels (`load_pixels`), by path.
        digest: recorded in a ``vtl-figure-digest`` text chunk.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    with matplotlib.rc_context(RC):
        figure = _figure(layout)
        canvas = FigureCanvasAgg(figure)
        canvas.draw()
        canvas_pixels = np.asarray(canvas.buffer_rgba())[..., :3].copy()
    if canvas_pixels.shape[:2] != (layout.height, layout.width):
        raise RuntimeError(f"Agg drew {canvas_pixels.shape[:2]}, expected {(layout.height, layout.width)}")
    for box in layout.images:
        block = _block(pixels[box.tile.source], box)
        canvas_pixels[box.y : box.y + block.shape[0], box.x : box.x + block.shape[1]] = block
    return _png_bytes(canvas_pixels, digest)


def _png_bytes(array: np.ndarray, digest: str) -> bytes:
    image = Image.fromarray(array, "RGB")
    info = PngInfo()
    if digest:
        info.add_text(DIGEST_KEY, digest)
    if image.getcolors(256) is not None:
        # An exact palette (never quantized): flat labels and few colours.
        keys = (
            (array[..., 0].astype(np.uint32) << 16) | (array[..., 1].astype(np.uint32) << 8) | array[..., 2]
        )
        palette, codes = np.unique(keys.ravel(), return_inverse=True)
        indexed = Image.fromarray(codes.reshape(array.shape[:2]).astype(np.uint8), "P")
        indexed.putpalette(
            np.stack([palette >> 16, (palette >> 8) & 255, palette & 255], 1).astype(np.uint8).tobytes()
        )
        image = indexed
    buffer = io.BytesIO()
    # zlib level 6: level 9 (and optimize) take ten times as long on enlarged pixels for 0.3 % less.
    image.save(buffer, format="PNG", compress_level=6, dpi=(DPI, DPI), pnginfo=info)
    return buffer.getvalue()


def render_pdf(layout: Layout, pixels: dict[Path, np.ndarray], digest: str = "", title: str = "") -> bytes:
    """The figure as a one-page PDF of `layout.inches`, labels as text, images at their own pixels.

    Args:
        layout: where everything goes.
        pixels: each source's pixels (`load_pixels`), by path.
        digest: recorded in the document's Keywords.
        title: the document's Title.
    """
    import matplotlib

    width, height = layout.width, layout.height
    with matplotlib.rc_context(RC):
        figure = _figure(layout)
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_axis_off()
        for box in layout.images:
            axes.imshow(
                pixels[box.tile.source],
                extent=(box.x, box.x + box.width, height - box.y - box.height, height - box.y),
                interpolation="none",
                resample=False,
                origin="upper",
                aspect="auto",
            )
        axes.set_xlim(0, width)
        axes.set_ylim(0, height)
        buffer = io.BytesIO()
        metadata = {
            "Title": title or None,
            "Creator": "vtl figure",
            "Producer": None,
            "CreationDate": None,
            "ModDate": None,
            "Keywords": f"{DIGEST_KEY} {digest}" if digest else None,
        }
        figure.savefig(buffer, format="pdf", dpi=DPI, metadata=metadata)
    return buffer.getvalue()
