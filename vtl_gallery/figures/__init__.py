"""Publication figures from an atlas: PDF with text labels and PNG at 300 dpi, one or two columns wide.

    spec.py     what a figure shows (panels of tiles, labels, caption) and the paper sizes
    layout.py   where everything goes, in whole dots of 1/300 in
    draw.py     matplotlib (no pyplot): PDF and PNG bytes, the same for the same input
    render.py   a figure's files, with the digest of their inputs inside
    latex.py    the LaTeX snippet that puts a figure in a paper
    grids.py    the custom grids of ``vtl figure`` (layers x channels by models or snapshots)
    site.py     the gallery's figures: figure 6, figure 7 and each channel's strip

matplotlib is imported only when a figure is drawn.
"""

from vtl_gallery.figures.spec import COLUMNS, DPI, FORMATS, MM, WIDTH_IN, FigureError, FigureSpec, Panel, Tile

__all__ = ["COLUMNS", "DPI", "FORMATS", "MM", "WIDTH_IN", "FigureError", "FigureSpec", "Panel", "Tile"]
