"""``vtl site``: build the static gallery from an atlas.

    vtl site --atlas atlas/demo --out dist [--base-url URL] [--site-src DIR]

Without ``--site-src`` the bundled ``site_src/`` is used; a ``--site-src`` or
``--templates`` folder that does not exist is an error, not a build without
pages.

Light at import time: the generator is imported only when the command runs.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from vtl_gallery.build import DEFAULT_SITE_SRC, build_site
    from vtl_gallery.catalog import AtlasError
    from vtl_gallery.config import ConfigError

    try:
        build_site(
            args.atlas,
            args.out,
            site_src=DEFAULT_SITE_SRC if args.site_src is None else args.site_src,
            templates=args.templates,
            base_url=args.base_url,
            workers=args.workers,
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
    parser.set_defaults(run=_run)
