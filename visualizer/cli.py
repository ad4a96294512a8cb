"""The ``vtl`` command line: one subcommand per stage of the flow.

    vtl layers [--model PATH]   the layer catalogue (table, or --json)
    vtl train  --config     train the models and snapshots a config describes
    vtl plan   --config     count what a render would do
    vtl render --config     render the atlas
    vtl catalog rebuild|check --atlas DIR
    vtl analyse --atlas DIR --before M1 --after M2   the paper's observations, measured
    vtl prior  --generator --model      channels through a StyleGAN2 generative prior
    vtl ablate --model --channel        a channel with its largest weights negated
    vtl site   --atlas DIR --out dist
    vtl figure --atlas DIR --layers --channels --out   a publication figure (PDF/PNG)

Heavy imports (Keras, TensorFlow) happen inside the subcommands, so
``vtl --help`` and ``vtl layers`` answer at once.

A user's or the environment's error (a bad config, a missing or read-only
file, a full disk) prints one line, ``vtl <command>: ...``, and exits with 2;
set ``VTL_DEBUG=1`` to see its traceback. Other exceptions are bugs and keep
their traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

__all__ = ["main"]


def _cmd_model_layers(args: argparse.Namespace) -> int:
    from visualizer.models.catalogue import catalogue_of_file, table_lines

    if args.model.lower().endswith(".pb"):  # a frozen graph
        from visualizer.errors import VtlError
        from visualizer.models.frozen_source import graph_file_catalogue

        if args.dense:
            raise VtlError("--dense applies to Keras models; a frozen graph's catalogue lists convolutions.")

        rows = graph_file_catalogue(args.model, args.input, order=args.order)
    else:
        rows = catalogue_of_file(args.model, dense=args.dense, order=args.order)
    if args.json:
        json.dump([row.to_json() for row in rows], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print("\n".join(table_lines(rows, args.order)))
    return 0


def _cmd_layers(args: argparse.Namespace) -> int:
    if args.model:
        return _cmd_model_layers(args)
    from visualizer.models.layers import LAYERS, PAPER_ORDER

    rows = PAPER_ORDER if args.order == "paper" else LAYERS
    if args.json:
        records = [
            {
                "id": layer.id,
                "slim_scope": layer.slim_scope,
                "short_id": layer.short_id,
                "graph_op": layer.graph_op,
                "block": layer.block,
                "channels": layer.channels,
                "kernel": layer.kernel,
                "graph_index": layer.graph_index,
                "paper_index": layer.paper_index,
            }
            for layer in rows
        ]
        json.dump(records, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    header = ("#", "id", "short", "slim scope", "channels")
    table = [
        (str(i + 1), layer.id, layer.short_id, layer.slim_scope, str(layer.channels))
        for i, layer in enumerate(rows)
    ]
    widths = [max(len(row[col]) for row in [header, *table]) for col in range(len(header))]
    for row in [header, *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    print(f"{len(rows)} layers, {sum(layer.channels for layer in rows)} channels ({args.order} order)")
    return 0


def _not_built(stage: str, issue: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        print(
            f"vtl {stage}: not built yet ({issue}). Nothing was done.",
            file=sys.stderr,
        )
        return 2

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vtl", description="Visualizing transfer learning: train, render, publish."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    layers = commands.add_parser(
        "layers", help="print the layer catalogue (InceptionV1's, or with --model a model file's)"
    )
    layers.add_argument("--json", action="store_true", help="machine-readable output")
    layers.add_argument(
        "--order", choices=("graph", "paper"), default="graph", help="graph order or the paper's order"
    )
    layers.add_argument(
        "--model", metavar="PATH", help="a .keras or .h5 model file, or a frozen graph .pb: its own catalogue"
    )
    layers.add_argument(
        "--input", metavar="NAME", help="with --model x.pb: the image placeholder (needed if it has several)"
    )
    layers.add_argument(
        "--dense", action="store_true", help="with --model: also list Dense layers applied to a feature map"
    )
    layers.set_defaults(run=_cmd_layers)
    return parser


# Stage modules that add their own subcommands. Each has a light
# `register(subparsers)` (no heavy imports at module level) that adds its
# parsers and sets `run`; a stage not built yet answers that it is not built.
_STAGE_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("visualizer.train.command", ("train",)),
    ("visualizer.atlas.command", ("plan", "render", "catalog")),
    ("visualizer.analysis.command", ("analyse",)),
    ("visualizer.prior.command", ("prior", "ablate")),
    ("vtl_gallery.command", ("site",)),
    ("vtl_gallery.figure_command", ("figure",)),
)


def _register(parser: argparse.ArgumentParser) -> None:
    """Attach the subcommands implemented in the stage modules."""
    import importlib

    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for module_name, names in _STAGE_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name is None or not module_name.startswith(error.name):
                raise
            module = None
        if module is not None:
            module.register(commands)
        for name in names:
            if name not in commands.choices:
                sub = commands.add_parser(name, help="(not built yet)")
                sub.add_argument("rest", nargs=argparse.REMAINDER)
                sub.set_defaults(run=_not_built(name, f"{module_name} is missing"))


def _debug() -> bool:
    """True when ``VTL_DEBUG`` asks for tracebacks of expected errors too."""
    return os.environ.get("VTL_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def _command_name(args: argparse.Namespace) -> str:
    """``render``, or ``catalog check`` for a subcommand with an action."""
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if isinstance(action, str) else str(args.command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``vtl`` command line; returns the process exit status.

    An expected error (`visualizer.errors.is_expected`: a bad config, a
    missing or unwritable file, a full disk, a refused pickle...) prints one
    line, ``vtl <command>: <what went wrong>``, and returns 2; with
    ``VTL_DEBUG=1`` it is raised with its traceback instead. Any other
    exception is a bug and propagates with its traceback. Ctrl-C returns 130.
    """
    from visualizer.errors import describe, is_expected

    # TensorFlow's C++ logging below errors; the lines its libraries print while
    # they load are filtered by `visualizer._QuietTensorFlowImport` (visualizer/__init__.py).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = _parser()
    _register(parser)
    args = parser.parse_args(argv)
    command = _command_name(args)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:  # e.g. `vtl layers | head`
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"vtl {command}: interrupted; stopped before finishing.", file=sys.stderr)
        return 130
    except Exception as error:
        if not is_expected(error) or _debug():
            raise
        print(f"vtl {command}: {describe(error, getattr(args, 'atlas', None))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
