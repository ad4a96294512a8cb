"""``vtl prior`` and ``vtl ablate``: the generative prior and weight ablation from the command line.

    vtl prior  --generator G.pkl --model M.keras --layer L --channels 0 1 2 --out DIR
    vtl ablate --model M.keras --layer L --channel 7 [--ks 0-39] [--generator G.pkl] --out DIR

Each writes one PNG per image (its settings in the PNG's text chunks) and a
JSON summary; `ablate` also writes the row-major grid of the paper's figure 5.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # numpy is imported when a command runs: registering stays instant
    import numpy as np

__all__ = ["parse_ks", "register"]

GRID_COLUMNS = 8


def parse_ks(items: list[str]) -> list[int]:
    """``["0-39"]`` or ``["0", "5", "10"]`` (or a mix) -> the list of k."""
    ks: list[int] = []
    for item in items:
        first, _, last = item.partition("-")
        try:
            ks += list(range(int(first), int(last) + 1)) if last else [int(first)]
        except ValueError:
            raise ValueError(f"Bad --ks value {item!r}; use integers or ranges such as 0-39.") from None
    return ks


def _check_model_path(path: str) -> None:
    if not Path(path).exists():
        raise FileNotFoundError(f"No Keras model at {path!r} (a snapshot's model.keras, for example).")


def _load_model(path: str):
    import keras

    import visualizer.models.inception_v1  # noqa: F401  (registers the model's custom layers)

    _check_model_path(path)
    return keras.models.load_model(path, compile=False)


def _write(out: Path, name: str, image: np.ndarray, settings: dict[str, Any]) -> str:
    """Write `image` (float in [0, 1], or uint8) to ``out/name`` as a PNG with `settings`; return `name`.

    Written atomically (`visualizer.pngio.write_png_atomic`), `settings` as the
    ``settings`` text chunk.

    Raises:
        AtlasWriteError: the folder cannot be created or written (naming the
            path); nothing is left behind.
    """
    from visualizer.pngio import write_png_atomic

    write_png_atomic(out / name, image, {"settings": json.dumps(settings, sort_keys=True)})
    return name


def _grid(images: np.ndarray, columns: int = GRID_COLUMNS) -> np.ndarray:
    import numpy as np

    count, height, width, _ = images.shape
    columns = min(columns, count)
    rows = math.ceil(count / columns)
    grid = np.ones((rows * height, columns * width, 3), dtype="float32")
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        grid[row * height : (row + 1) * height, column * width : (column + 1) * width] = image
    return grid


def _floats(values: np.ndarray) -> list[float | None]:
    import numpy as np

    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype="float64")]


def _run_prior(args: argparse.Namespace) -> int:
    from visualizer.prior.generative import render_with_prior
    from visualizer.prior.weights import load_generator

    # Both inputs are checked before the model is built: the file names first, then the generator.
    _check_model_path(args.model)
    generator = load_generator(args.generator)
    model = _load_model(args.model)
    result = render_with_prior(
        model,
        args.layer,
        args.channels,
        generator,
        size=args.size,
        steps=args.steps,
        lam=args.lam,
        learning_rate=args.learning_rate,
        seed=args.seed,
        randomize_noise=args.noise == "random",
        batch_size=args.batch_size,
    )
    out = Path(args.out)
    settings = result.settings | {"model": args.model, "generator": args.generator, "layer": result.layer}
    files = [
        _write(out, f"{result.layer}_{c}.png", image, settings | {"channel": c})
        for c, image in zip(result.channels, result.images)
    ]
    summary = {
        "settings": settings,
        "channels": result.channels,
        "files": files,
        "objectives": _floats(result.objectives),
        "start_objectives": _floats(result.start_objectives),
        "distances": _floats(result.distances),
        "failed": result.failed,
        "seconds": result.seconds,
    }
    (out / "prior.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(
        f"wrote {len(files)} images and prior.json to {out}"
        + (f"; failed: {result.failed}" if result.failed else "")
    )
    return 0


def _run_ablate(args: argparse.Namespace) -> int:
    from visualizer.prior.ablation import ablate
    from visualizer.prior.weights import load_generator

    ks = parse_ks(args.ks)
    _check_model_path(args.model)
    generator = load_generator(args.generator) if args.generator else None
    model = _load_model(args.model)
    settings: dict[str, Any] = {"steps": args.steps, "seed": args.seed}
    if args.size:
        settings["size"] = args.size
    result = ablate(model, args.layer, args.channel, ks, generator=generator, **settings)
    out = Path(args.out)
    stem = f"{result.layer}_{result.channel}"
    meta = result.rendering.settings | {
        "model": args.model,
        "generator": args.generator,
        "layer": result.layer,
    }
    files = [
        _write(out, f"{stem}_k{k}.png", image, meta | {"channel": result.channel, "k": k})
        for k, image in zip(result.ks, result.images)
    ]
    grid = _write(out, f"{stem}_grid.png", _grid(result.images), meta | {"ks": result.ks})
    summary = {
        "settings": meta,
        "channel": result.channel,
        "ks": result.ks,
        "files": files,
        "grid": grid,
        "objectives": _floats(result.objectives),
        "weight_order": result.order.tolist(),
    }
    (out / "ablation.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"wrote {len(files)} images, {grid} and ablation.json to {out}")
    return 0


def _guarded(run):
    """`run`, with a bad argument (a layer, channel or k the model lacks) said in one line.

    Other expected errors (a refused or garbage generator file, an unwritable
    folder) reach `visualizer.cli.main`, which says them in one line too.
    """

    def guarded(args: argparse.Namespace) -> int:
        from visualizer.errors import describe, is_expected

        try:
            return run(args)
        except (KeyError, ValueError) as error:
            if is_expected(error):  # main says it (or, with VTL_DEBUG=1, shows its traceback)
                raise
            print(f"vtl {args.command}: {describe(error)}", file=sys.stderr)
            return 2

    return guarded


def register(commands: argparse._SubParsersAction) -> None:
    """Add the ``prior`` and ``ablate`` subcommands."""
    prior = commands.add_parser("prior", help="visualize channels through a StyleGAN2 generative prior")
    prior.add_argument("--generator", required=True, help="StyleGAN2 weights: NVlabs' TF1 .pkl, or .npz")
    prior.add_argument("--model", required=True, help="a Keras model file (a snapshot's model.keras)")
    prior.add_argument("--layer", required=True, help="layer id, alias or Keras layer name")
    prior.add_argument("--channels", required=True, nargs="+", type=int, help="channel indices")
    prior.add_argument("--out", required=True, help="output folder for the PNGs and prior.json")
    prior.add_argument("--steps", type=int, default=256, help="Adam updates (default: %(default)s)")
    prior.add_argument(
        "--lam", type=float, default=0.01, help="weight of ||w - w_hat||^2 (default: %(default)s)"
    )
    prior.add_argument("--learning-rate", type=float, default=0.02, help="Adam's step (default: %(default)s)")
    prior.add_argument("--seed", type=int, default=0, help="seed of the noise inputs (default: %(default)s)")
    prior.add_argument("--size", type=int, default=None, help="classifier input side (default: the model's)")
    prior.add_argument(
        "--batch-size", type=int, default=None, help="channels per optimization (default: all)"
    )
    prior.add_argument(
        "--noise", choices=("random", "const"), default="random", help="noise inputs (default: %(default)s)"
    )
    prior.set_defaults(run=_guarded(_run_prior))

    ablation = commands.add_parser(
        "ablate", help="visualize a channel with its largest filter weights negated"
    )
    ablation.add_argument("--model", required=True, help="a Keras model file (a snapshot's model.keras)")
    ablation.add_argument("--layer", required=True, help="layer id, alias or Keras layer name")
    ablation.add_argument("--channel", required=True, type=int, help="the channel to ablate")
    ablation.add_argument("--ks", nargs="+", default=["0-39"], help="k values or ranges (default: 0-39)")
    ablation.add_argument(
        "--generator", default=None, help="render through this StyleGAN2 (default: Lucid's method)"
    )
    ablation.add_argument("--out", required=True, help="output folder")
    ablation.add_argument("--steps", type=int, default=256, help="updates (default: %(default)s)")
    ablation.add_argument("--seed", type=int, default=0, help="seed (default: %(default)s)")
    ablation.add_argument("--size", type=int, default=None, help="image side (default: the method's)")
    ablation.set_defaults(run=_guarded(_run_ablate))
