"""``vtl plan``, ``vtl render`` and ``vtl catalog``: the atlas subcommands.

Only argparse at import time; the work is imported when a command runs.
Expected errors (a bad config, a busy, missing or full atlas) propagate to
`visualizer.cli.main`, which prints them as one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from visualizer.errors import VtlError

__all__ = ["register"]

# The time estimate of one process on a 2-core CPU (BENCHMARKS.md, "vtl plan's
# estimate"): the full-width renderer runs at about 100 GFLOP/s at 224 px
# (benchmarks/render.py), and the demo atlas, whose steps are mostly small
# operations, took 358.8 s for 9,472 steps (benchmarks/atlas.py). Pass
# --seconds-per-tflop and --seconds-per-step for another machine (a GPU is far faster).
DEFAULT_SECONDS_PER_TFLOP = 10.0
DEFAULT_SECONDS_PER_STEP = 0.035


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="configs/demo.toml", help="experiment TOML (default: %(default)s)"
    )
    parser.add_argument("--models", help="comma-separated model names to restrict to")
    parser.add_argument("--shard", help="render shard i/N of the plan (1-based), e.g. 3/16")
    parser.add_argument("--atlas", help="atlas directory (overrides project.atlas_dir)")
    parser.add_argument("--size", type=int, help="image size (overrides render.size)")
    parser.add_argument("--steps", type=int, help="optimization steps (overrides render.steps)")


def _non_negative(text: str) -> float:
    """An argparse type: a finite number of at least 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")  # fails the range check below
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number of at least 0, received {text!r}")
    return value


def _load(args: argparse.Namespace):
    from visualizer.atlas.plan import parse_shard
    from visualizer.config import load_config

    overrides = {}
    if args.atlas:
        overrides["project.atlas_dir"] = args.atlas
    if args.size is not None:
        overrides["render.size"] = args.size
    if args.steps is not None:
        overrides["render.steps"] = args.steps
    config = load_config(args.config, overrides)
    models = [m for m in (args.models or "").split(",") if m]
    try:
        shard = parse_shard(args.shard) if args.shard else None
    except ValueError as error:
        raise _ArgumentError(str(error)) from error
    return config, models or None, shard


class _ArgumentError(VtlError):
    """A bad ``--shard`` or ``--workers`` value (the message names it and the valid forms)."""


def _cmd_plan(args: argparse.Namespace) -> int:
    from visualizer.atlas.job import plan_summary
    from visualizer.atlas.plan import make_plan

    config, models, shard = _load(args)
    plan = make_plan(config, models=models)
    if shard:
        plan = plan.shard(*shard)
    summary = plan_summary(config, plan, args.seconds_per_tflop, args.seconds_per_step)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    hours = summary["seconds"] / 3600
    print(f"plan {config.path}{' shard ' + args.shard if args.shard else ''}")
    print(
        f"  images     {summary['images']:>9,}  in {summary['batches']:,} batches"
        f" ({plan.size} px, {plan.steps} steps)"
    )
    print(f"  existing   {summary['existing']:>9,}")
    print(f"  remaining  {summary['remaining']:>9,}")
    print(f"  compute    {summary['tflops']:>9,.1f} TFLOP and {summary['remaining_steps']:,} steps remaining")
    print(
        f"  estimate   {hours:>9,.2f} h in one process at {args.seconds_per_tflop:g} s/TFLOP"
        f" + {1000 * args.seconds_per_step:g} ms a step (--seconds-per-tflop, --seconds-per-step to change)"
    )
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    from visualizer.atlas.job import render_atlas
    from visualizer.atlas.workers import resolve_workers

    try:
        workers = resolve_workers(args.workers)
    except ValueError as error:
        raise _ArgumentError(str(error)) from error
    config, models, shard = _load(args)
    try:
        summary = render_atlas(
            config,
            shard=shard,
            models=models,
            progress=not args.quiet,
            workers=workers,
            verify=args.verify,
            wait=not args.no_wait,
        )
    except KeyboardInterrupt:
        print("vtl render: interrupted; what was rendered is kept, rerun to resume.", file=sys.stderr)
        return 130
    repaired = f" ({summary.repaired} of them to repair damaged ones)" if summary.repaired else ""
    print(
        f"rendered {summary.rendered} image(s){repaired}, {summary.existing} already present, "
        f"{summary.failed} failed, of {summary.planned} planned, in {summary.seconds:.1f} s"
    )
    return 1 if summary.failed else 0


def _cmd_catalog(args: argparse.Namespace) -> int:
    from visualizer.atlas import catalog
    from visualizer.atlas.lock import atlas_lock

    if args.action == "rebuild":
        if not Path(args.atlas).is_dir():
            raise catalog.AtlasNotFoundError(f"No atlas at {args.atlas}: the folder does not exist")
        wait = None if args.no_wait else (lambda message: print(message, file=sys.stderr))
        with atlas_lock(args.atlas, wait=not args.no_wait, on_wait=wait):
            count, unreadable = catalog.rebuild(args.atlas)
        print(f"indexed {count} image(s) into {args.atlas}/{catalog.CATALOG_NAME}")
        for path in unreadable:
            print(f"unreadable: {path}", file=sys.stderr)
        return 1 if unreadable else 0
    report = catalog.check(args.atlas)
    for label, paths in (
        ("missing", report.missing),
        ("extra", report.extra),
        ("unreadable", report.unreadable),
        ("checksum mismatch", report.mismatched),
    ):
        for path in paths:
            print(f"{label}: {path}")
    print(
        f"{report.images} image file(s): {len(report.missing)} missing, {len(report.extra)} extra, "
        f"{len(report.unreadable)} unreadable, {len(report.mismatched)} mismatched, "
        f"{report.temporary} temporary file(s)"
        + (f"; no {catalog.CATALOG_NAME}" if report.catalog_missing else "")
    )
    for line in report.fixes(args.atlas):
        print(f"fix {line}")
    return 0 if report.ok else 1


def register(commands: argparse._SubParsersAction) -> None:
    """Add the plan, render and catalog subcommands to `commands`."""
    plan = commands.add_parser("plan", help="count the images a render would make, and estimate its time")
    _common(plan)
    plan.add_argument("--json", action="store_true", help="machine-readable output")
    plan.add_argument(
        "--seconds-per-tflop",
        type=_non_negative,
        default=DEFAULT_SECONDS_PER_TFLOP,
        help="seconds per TFLOP for the estimate (default: %(default)g, a 2-core CPU)",
    )
    plan.add_argument(
        "--seconds-per-step",
        type=_non_negative,
        default=DEFAULT_SECONDS_PER_STEP,
        help="seconds added per optimization step (default: %(default)g, a 2-core CPU)",
    )
    plan.set_defaults(run=_cmd_plan)

    render = commands.add_parser("render", help="render the atlas a config describes (resumable)")
    _common(render)
    render.add_argument("--quiet", action="store_true", help="no progress bar")
    render.add_argument(
        "--verify",
        action="store_true",
        help="decode and checksum every image already present (by default only those whose size or "
        "modification time changed); damaged ones are rendered again",
    )
    render.add_argument(
        "--no-wait",
        action="store_true",
        help="refuse, instead of waiting, when another vtl process is writing to the atlas",
    )
    render.add_argument(
        "--workers",
        default="1",
        help="processes rendering side by side, each with an equal share of the CPUs: a number, or 'auto' "
        "for one per CPU (faster on CPUs; keep 1 on a GPU and use --shard per GPU). Default: %(default)s",
    )
    render.set_defaults(run=_cmd_render)

    cat = commands.add_parser("catalog", help="rebuild or check an atlas catalog")
    cat.add_argument("action", choices=("rebuild", "check"))
    cat.add_argument("--atlas", default="atlas/demo", help="atlas directory (default: %(default)s)")
    cat.add_argument(
        "--no-wait", action="store_true", help="rebuild: refuse instead of waiting for another writer"
    )
    cat.set_defaults(run=_cmd_catalog)
