"""``vtl analyse``: quantitative checks of the paper's observations on an atlas."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

__all__ = ["register"]


def _run(args: argparse.Namespace) -> int:
    from visualizer.analysis.transfer import depth_trend, scale_stability
    from visualizer.errors import is_expected

    try:
        scales = scale_stability(
            args.atlas, args.before, args.after, args.method, args.before_snapshot, args.after_snapshot
        )
    except ValueError as error:  # models that share no measured channel
        if is_expected(error):
            raise  # `visualizer.cli.main` says it in one line
        print(f"vtl analyse: {error}", file=sys.stderr)
        return 2
    trend = depth_trend(scales)
    if args.json:
        print(json.dumps({"layers": [dataclasses.asdict(s) for s in scales], "depth_trend": trend}, indent=2))
        return 0
    print(f"spatial scale, {args.before}/{args.before_snapshot} -> {args.after}/{args.after_snapshot}")
    print(f"{'layer':<26} {'n':>4} {'period before':>14} {'after':>8} {'log corr':>9} {'within 2x':>10}")
    for s in scales:
        corr = "-" if s.correlation is None else f"{s.correlation:.2f}"
        print(
            f"{s.layer:<26} {s.channels:>4} {s.median_before:>12.1f}px {s.median_after:>6.1f}px "
            f"{corr:>9} {s.within_2x:>9.0%}"
        )
    total = sum(s.channels for s in scales)
    within = sum(s.within_2x * s.channels for s in scales) / total
    print(f"{total} channels; {within:.0%} keep their period within a factor 2")
    if trend is not None:
        print(f"depth trend (Spearman, layer depth vs median period before transfer): {trend:.2f}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``analyse`` subcommand."""
    parser = commands.add_parser(
        "analyse", help="measure spatial-scale stability through transfer in an atlas"
    )
    parser.add_argument("--atlas", default="atlas/demo", help="atlas directory (default: %(default)s)")
    parser.add_argument("--before", default="imagenet", help="model before transfer (default: %(default)s)")
    parser.add_argument("--after", default="celeba", help="model after transfer (default: %(default)s)")
    parser.add_argument("--before-snapshot", default="final")
    parser.add_argument("--after-snapshot", default="final")
    parser.add_argument("--method", default="lucid")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(run=_run)
