"""``vtl train``: train the models and snapshots a config describes.

Only argparse at import time; Keras and TensorFlow load when the command runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser(
        "train",
        help="train the demo or paper models with snapshots",
        description=(
            "Train every model of a config (parents first) and write its snapshots to the runs "
            "directory. Finished models are skipped; an interrupted model resumes from its last snapshot."
        ),
    )
    parser.add_argument(
        "--config", default="configs/demo.toml", help="experiment TOML (default: %(default)s)"
    )
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--runs", help="runs directory (overrides project.runs_dir)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    """Train the config's models; `visualizer.cli.main` says a bad config or a failed run in one line."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from visualizer.config import load_config
    from visualizer.train.plan import MissingInputsError, training_plan

    overrides = {"project.runs_dir": args.runs} if args.runs else {}
    models = [name for name in (args.models or "").split(",") if name] or None
    config = load_config(args.config, overrides)
    try:
        training_plan(config, models)  # every check before the heavy imports
    except MissingInputsError as error:
        print(f"vtl train: {error}", file=sys.stderr)  # a list of the downloads, one a line
        return 2

    from visualizer.train.trainer import train_all

    start = time.perf_counter()
    try:
        results = train_all(config, models, progress=not args.quiet)
    except KeyboardInterrupt:
        print("vtl train: interrupted; run the same command again to resume.", file=sys.stderr)
        return 130
    print(f"\n{'model':<18} {'status':<16} {'steps':>6} {'seconds':>8}  validation")
    for result in results:
        if result.metric is None:
            score = "-"
        else:
            score = f"{result.metric_name} {result.metric:.3f}"
            if result.baseline is not None:
                score += f" (constant guess {result.baseline:.3f})"
        print(f"{result.model:<18} {result.status:<16} {result.steps:>6} {result.seconds:>8.1f}  {score}")
    skipped = sum(result.skipped_images for result in results)
    if skipped:
        print(f"{skipped} unreadable image(s) skipped.")
    print(f"runs in {config.resolve_path(config.project.runs_dir)} ({time.perf_counter() - start:.0f} s)")
    return 0
