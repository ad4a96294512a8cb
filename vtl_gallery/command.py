"""``vtl site``: build the static gallery from an atlas.

    vtl site --atlas atlas/demo --out dist [--base-url URL] [--site-src DIR]
             [--downloads none|originals|zip|all] [--views lossless|lossy] [--originals-url URL]
             [--figures auto|all|pages|none]

Without ``--site-src`` the bundled ``site_src/`` is used; a ``--site-src`` or
``--templates`` folder that does not exist is an error, not a build without
pages.

Light at import time: the generator is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys

from vtl_gallery.figures.spec import AUTO_CHANNELS, FIGURE_MODES
from vtl_gallery.publish import DOWNLOADS, LOSSLESS_BUDGET, VIEWS

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from vtl_gallery.build import DEFAULT_SITE_SRC, build_site
    from vtl_gallery.catalog import AtlasError
    from vtl_gallery.config import ConfigError
    from vtl_gallery.publish import Publishing

    try:
        publishing = Publishing(args.downloads, args.views, args.originals_url or "")
        build_site(
            args.atlas,
            args.out,
            site_src=DEFAULT_SITE_SRC if args.site_src is None else args.site_src,
            templates=args.templates,
            base_url=args.base_url,
            workers=args.workers,
            publishing=publishing,
            figures=args.figures,
            log=lambda line: print(line, file=sys.stderr),
        )
    except (AtlasError, ConfigError, FileNotFoundError, ValueError) as error:
        print(f"vtl site: {error}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``site`` subcommand to the ``vtl`` parser."""
    parser = subparsers.add_parser(
        "site",
        help="build the static gallery site from an atlas",
        description="Turn an atlas directory into a static site (works from file:// and any static host).",
    )
    parser.add_argument("--atlas", required=True, help="atlas directory (catalog.sqlite + images/)")
    parser.add_argument("--out", default="dist", help="output directory (default: dist)")
    parser.add_argument(
        "--base-url", default=None, help="absolute http(s) URL the site is served from (sitemap, citations)"
    )
    parser.add_argument(
        "--site-src",
        default=None,
        help="Markdown pages and site.toml; must exist (default: the bundled site_src/)",
    )
    parser.add_argument(
        "--templates", default=None, help="templates overriding the defaults (default: <site-src>/templates)"
    )
    parser.add_argument("--workers", type=int, default=None, help="processes for thumbnails (default: 2)")
    parser.add_argument(
        "--downloads",
        choices=DOWNLOADS,
        default=DOWNLOADS[0],
        help="copies of the original PNGs in the site: none (default; the views, images.csv and the "
        "catalog carry every image), originals (each PNG, linked from its channel page), zip (one ZIP "
        "per model and layer), all (both)",
    )
    parser.add_argument(
        "--views",
        choices=VIEWS,
        default=VIEWS[0],
        help="the full-size image of each channel page: lossless WebP (the atlas's pixels exactly), "
        "lossy WebP (a tenth of the bytes or less, for atlases too large for a host otherwise), or auto "
        f"(default: lossless while the atlas's PNGs total at most {LOSSLESS_BUDGET / 1e6:,.0f} MB)",
    )
    parser.add_argument(
        "--originals-url",
        default=None,
        help="absolute URL where the atlas folder is published: channel pages and the manifest link each "
        "original PNG there (URL + its path images/...); with --downloads none or zip",
    )
    parser.add_argument(
        "--figures",
        choices=FIGURE_MODES,
        default="auto",
        help="publication figures (PDF and 300 dpi PNG, one and two columns wide) beside the pages: "
        "all (figures 6 and 7 and every channel), pages (figures 6 and 7), none, or auto (default: "
        f"all for an atlas of at most {AUTO_CHANNELS} channels, else pages)",
    )
    parser.set_defaults(run=_run)
