"""``vtl figure``: a publication figure composed from an atlas, as PDF and/or PNG.

    vtl figure --atlas atlas/demo --layers Mixed_4c_Branch_2_b_3x3,4e_1_b_3x3 --channels 0-3 \\
        --models imagenet,celeba [--snapshots all] [--method lucid] [--columns 1|2] \\
        [--format pdf|png|both] --out fig.pdf

Rows are layers x channels, columns each model's snapshots (its final one
unless ``--snapshots`` names others, or ``all``). A name the atlas lacks is
an error that names the valid choices; a cell whose image is missing is
drawn empty and labelled, and listed on stderr. The files written and a
LaTeX snippet are printed on stdout.

Light at import time: the atlas reader and matplotlib load only when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]

_SUFFIXES = {".pdf": "pdf", ".png": "png"}


def _targets(out: str, fmt: str | None) -> list[tuple[str, Path]]:
    """(format, file) of each file to write.

    Raises:
        FigureError: an --out whose suffix contradicts --format, or says no format.
    """
    from vtl_gallery.figures.spec import FigureError

    path = Path(out)
    implied = _SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        if implied is None:
            raise FigureError(
                f"--out {out!r} ends in neither .pdf nor .png: name one, or pass --format pdf|png|both"
            )
        return [(implied, path)]
    if fmt == "both":
        stem = path.with_suffix("") if implied else path
        return [("pdf", stem.with_name(stem.name + ".pdf")), ("png", stem.with_name(stem.name + ".png"))]
    if implied is not None and implied != fmt:
        raise FigureError(f"--out {out!r} is a .{implied} file but --format is {fmt}")
    return [(fmt, path if implied else path.with_name(path.name + "." + fmt))]


def _run(args: argparse.Namespace) -> int:
    from vtl_gallery.catalog import read_atlas
    from vtl_gallery.figures.grids import GridRequest, grid_figure, parse_channels, parse_names
    from vtl_gallery.figures.latex import latex_snippet
    from vtl_gallery.figures.render import render_figure
    from vtl_gallery.files import make_dirs, write_atomic

    targets = _targets(args.out, args.format)
    channels = parse_channels(args.channels)
    atlas = read_atlas(args.atlas)
    request = GridRequest(
        layers=parse_names(args.layers),
        channels=channels,
        models=parse_names(args.models),
        snapshots=parse_names(args.snapshots),
        method=args.method or "",
        name=targets[0][1].stem,
    )
    grid = grid_figure(atlas, request)
    for cell in grid.missing:
        print(f"vtl figure: no {grid.method} image of {cell}; drawn as an empty cell", file=sys.stderr)
    made = render_figure(grid.spec, [(args.columns, fmt) for fmt, _ in targets], grid.spec.name)
    for fmt, target in targets:
        make_dirs(target.parent.resolve())
        write_atomic(target, made[(args.columns, fmt)])
        print(f"wrote {target} ({len(made[(args.columns, fmt)]) / 1e3:.0f} kB)")
    print()
    print(
        latex_snippet(
            graphic=targets[0][1].name,
            columns=args.columns,
            caption=grid.spec.caption,
            page_url="",
            file_url="",
            label=f"fig:vtl-{grid.spec.name}",
        )
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``figure`` subcommand to the ``vtl`` parser."""
    parser = subparsers.add_parser(
        "figure",
        help="compose a publication figure (PDF/PNG) of layers x channels from an atlas",
        description=(
            "A grid of an atlas's images for a paper: rows layers x channels, columns models (or their "
            "snapshots), with row and column labels. PDF: labels as text, images at their own pixels; "
            "PNG: 300 dpi, pixels enlarged by whole factors. One column is 3.5 in (89 mm) wide, "
            "two 7.0 in (180 mm)."
        ),
    )
    parser.add_argument("--atlas", required=True, help="atlas directory (catalog.sqlite + images/)")
    parser.add_argument(
        "--layers", required=True, help="comma-separated layer ids or aliases (short id, slim scope)"
    )
    parser.add_argument("--channels", required=True, help="comma-separated channels or ranges: 3,7 or 0-3")
    parser.add_argument(
        "--models", default=None, help="comma-separated models (default: every model with images)"
    )
    parser.add_argument(
        "--snapshots",
        default=None,
        help="comma-separated snapshots, or all (default: each model's final one)",
    )
    parser.add_argument(
        "--method", default=None, help="render method (default: lucid, or the gallery's method)"
    )
    parser.add_argument(
        "--columns", type=int, choices=(1, 2), default=1, help="width: 1 column 3.5 in, 2 columns 7.0 in"
    )
    parser.add_argument(
        "--format",
        choices=("pdf", "png", "both"),
        default=None,
        help="file format (default: from --out's suffix)",
    )
    parser.add_argument(
        "--out", required=True, help="output file (fig.pdf; with --format both, fig.pdf and fig.png)"
    )
    parser.set_defaults(run=_run)
