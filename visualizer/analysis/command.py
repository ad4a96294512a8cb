"""``vtl analyse``: quantitative checks of the paper's observations on an atlas."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

__all__ = ["register"]


def _scale_table(args: argparse.Namespace, scales: list, trend: float | None) -> None:
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


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _observation_table(analysis: Any) -> None:
    print()
    print(f"observations, {analysis.subject}")
    print(f"{'id':<24} {'holds':>5} {'value':>7} {'95% CI':>16} {'null':>7} {'p':>6} {'n':>5}")
    for entry in analysis.observations:
        holds = {True: "yes", False: "no", None: "-"}[entry.holds]
        ci = f"[{_number(entry.ci[0])}, {_number(entry.ci[1])}]" if entry.ci else "-"
        print(
            f"{entry.id:<24} {holds:>5} {_number(entry.value):>7} {ci:>16} {_number(entry.null):>7} "
            f"{_number(entry.p, 3):>6} {entry.n:>5}"
        )
        if entry.reason:
            print(f"{'':<24} {entry.reason}")
    print(f"{analysis.computed} parts measured, {analysis.reused} unchanged since the last run")


def _analyse(args: argparse.Namespace, log) -> Any:  # noqa: ANN001, ANN401
    from visualizer.analysis.pipeline import Settings, analyse

    config = None
    if args.config:
        from visualizer.config import load_config

        config = load_config(args.config)
    settings = Settings(method=args.method, size=args.size, held_out=args.held_out)
    return analyse(
        args.atlas,
        args.before,
        args.after,
        before_snapshot=args.before_snapshot,
        after_snapshot=args.after_snapshot,
        settings=settings,
        runs_dir=args.runs,
        config=config,
        temporal=args.temporal,
        small=args.small,
        large=args.large,
        write=not args.no_write,
        log=log,
    )


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
    analysis = None
    if not args.scale_only:
        quiet = args.json or args.quiet
        analysis = _analyse(
            args, (lambda line: None) if quiet else (lambda line: print(line, file=sys.stderr))
        )
    if args.json:
        data: dict[str, Any] = {"layers": [dataclasses.asdict(s) for s in scales], "depth_trend": trend}
        if analysis is not None:
            full = analysis.as_dict()
            data.update(
                subject=full["subject"],
                observations=full["observations"],
                layer_metrics=full["layers"],
                channel_metrics=full["channels"],
                circuits=full["circuits"],
                snapshots=full["snapshots"],
                notes=full["notes"],
            )
        print(json.dumps(data, indent=2))
        return 0
    _scale_table(args, scales, trend)
    if analysis is not None:
        _observation_table(analysis)
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``analyse`` subcommand."""
    parser = commands.add_parser(
        "analyse",
        help="measure the paper's observations (spatial scale, reuse, redundancy, ...) in an atlas",
        description="Measure per-channel and per-layer transfer metrics of a model pair, test the paper's "
        "six observations, and store the results in the atlas (docs/analysis.md, docs/observations.md).",
    )
    parser.add_argument("--atlas", default="atlas/demo", help="atlas directory (default: %(default)s)")
    parser.add_argument("--before", default="imagenet", help="model before transfer (default: %(default)s)")
    parser.add_argument("--after", default="celeba", help="model after transfer (default: %(default)s)")
    parser.add_argument("--before-snapshot", default="final")
    parser.add_argument("--after-snapshot", default="final")
    parser.add_argument("--method", default="lucid")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--config", help="the atlas's config: its runs directory, held-out images and dataset sizes"
    )
    parser.add_argument(
        "--runs", help="runs directory with the models (default: the config's, or runs/<atlas name>)"
    )
    parser.add_argument("--temporal", help="temporal run for early adaptation (default: found in the atlas)")
    parser.add_argument("--small", help="small-data model for redundancy (default: from the config)")
    parser.add_argument("--large", help="large-data model for redundancy (default: from the config)")
    parser.add_argument(
        "--size", type=int, default=128, help="downsample larger images to this side (default: %(default)s)"
    )
    parser.add_argument(
        "--held-out",
        type=int,
        default=512,
        help="validation images for CKA and redundancy (default: %(default)s)",
    )
    parser.add_argument(
        "--no-write", action="store_true", help="compute without storing results in the atlas"
    )
    parser.add_argument("--scale-only", action="store_true", help="only the spatial-scale table (no models)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    parser.set_defaults(run=_run)
