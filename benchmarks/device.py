"""The renderer's device check: one figure-7 layer at the paper's settings, two models in one process.

Under JAX on a GPU (``benchmarks/device_check.sh`` runs it there), it renders
the channels of one figure-7 layer at 256 px for 1024 steps, a batch sized
to the card, for two models of one architecture (the full-width InceptionV1
with NumPy-seeded weights, `tests.helpers.frozen_models`, the same on every
machine) and prints, as text and as one ``DEVICE {json}`` line:

- the step compilations and their seconds for each model (the second model
  should compile nothing: its weights are arguments of the first's step);
- the steady-state images per second (the second model's render, whole) and
  the share of the FLOP floor (`visualizer.models.flops.render_step_flops`,
  the paper's nominal FLOPs) at the card's dense TF32 or BF16 peak;
- the objective ratio against a CPU render of the same seed: the first four
  channels' final objectives against ``device_reference.json``, made on a
  CPU by ``--reference`` with the same settings (TensorFlow's kernels, the
  fixed canvas), with the Lucid parity test's tolerances (median gap below
  15%, every channel within 50%: Lucid's own seed-to-seed spread);
- optionally (``--bf16-steps``) the speed of the same render in bfloat16.

It exits non-zero when a second model compiles again or the objectives leave
the tolerances.

Usage::

    KERAS_BACKEND=jax python benchmarks/device.py [--batch auto] [--steps 1024] [--bf16-steps 128]
    python benchmarks/device.py --reference   # on a CPU, once: writes benchmarks/device_reference.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(__file__).resolve().parent / "device_reference.json"
LAYER = "Mixed_4e_Branch_1_b_3x3"  # a figure-7 layer, mid-network
REFERENCE_CHANNELS = 4
DEAD = 1e-6  # an objective this small is a channel that never came alive
MEDIAN_GAP_TOLERANCE = 0.15
CHANNEL_GAP_TOLERANCE = 0.50
# Dense peaks in TFLOP/s (TF32, BF16), by a name fragment of the device, from the vendors' data sheets.
PEAKS = {
    "H200": (494.7, 989.4),
    "H100 PCIe": (378.0, 756.0),
    "H100": (494.7, 989.4),
    "A100": (156.0, 312.0),
    "L40S": (183.0, 366.0),
    "L4": (60.0, 121.0),
    "A10": (62.5, 125.0),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layer", default=LAYER)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=1024)
    parser.add_argument(
        "--batch", default="auto", help="channels per optimization, or auto (sized to the card)"
    )
    parser.add_argument("--bf16-steps", type=int, default=0, help="also time this many steps in bfloat16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true", help="write the CPU reference and stop")
    return parser.parse_args(argv)


def device() -> tuple[str, float]:
    """The device's name and its memory in GB (0 where unknown: a CPU)."""
    import keras

    if keras.config.backend() != "jax":
        return "cpu", 0.0
    import jax

    first = jax.devices()[0]
    stats = first.memory_stats() if hasattr(first, "memory_stats") else None
    memory = (stats or {}).get("bytes_limit", 0) / 1e9
    return f"{first.platform}:{first.device_kind}", memory


def peaks(name: str) -> tuple[float, float] | None:
    """The card's dense (TF32, BF16) peaks in TFLOP/s, or None where unknown."""
    for fragment, values in PEAKS.items():
        if fragment in name:
            return values
    return None


def batch_size(setting: str, channels: int, memory_gb: float) -> int:
    """The batch: the number given; else the whole layer on a card of 40 GB or more, 64 below, 4 on a CPU."""
    if setting != "auto":
        return min(int(setting), channels)
    if memory_gb >= 40:
        return channels
    return min(channels, 64 if memory_gb > 0 else REFERENCE_CHANNELS)


def models() -> list:
    """Two full-width InceptionV1s with NumPy-seeded weights (the same on every machine and backend)."""
    sys.path.insert(0, str(ROOT))
    from tests.helpers.frozen_models import build_model

    return [build_model(width=1.0, seed=seed) for seed in (0, 1)]


def render(model, args: argparse.Namespace, batch: int, steps: int, precision: str = "float32") -> dict:
    """One render of channels 0..batch-1, timed, with its compilations."""
    import numpy as np

    from visualizer.render import render_channels
    from visualizer.render.compile_stats import compile_log

    log = compile_log()
    before = log.snapshot() if log else None
    started = time.perf_counter()
    rendering = render_channels(
        model,
        args.layer,
        list(range(batch)),
        size=args.size,
        steps=steps,
        seed=args.seed,
        progress=False,
        scale_canvas="fixed",
        precision=precision,
    )
    seconds = time.perf_counter() - started
    stats = (log.snapshot() - before) if log else None
    return {
        "seconds": seconds,
        "compiles": stats.steps if stats else None,
        "compile_seconds": stats.step_seconds if stats else None,
        "objectives": [float(v) for v in rendering.objectives[:REFERENCE_CHANNELS]],
        "finite": bool(np.isfinite(rendering.objectives).all()),
        "failed": list(rendering.failed),
    }


def write_reference(args: argparse.Namespace) -> None:
    """Render the reference channels of both models here (a CPU) and write them to `REFERENCE`."""
    from visualizer.render.backend import kernel_library

    entries = []
    for index, model in enumerate(models()):
        result = render(model, args, REFERENCE_CHANNELS, args.steps)
        entries.append({"model_seed": index, "objectives": result["objectives"]})
        print(f"model {index}: {result['objectives']} in {result['seconds']:.0f} s", flush=True)
    settings = {"layer": args.layer, "size": args.size, "steps": args.steps, "seed": args.seed}
    reference = {
        "settings": settings,
        "kernels": kernel_library(),
        "scale_canvas": "fixed",
        "models": entries,
    }
    REFERENCE.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {REFERENCE}")


def compare(objectives: list[float], reference: list[float]) -> dict:
    """Per-channel gaps |device - cpu| / |cpu|, their median and largest, and the mean ratio.

    A channel the CPU left dead (objective 0: no image moved it) counts only
    if the device's is not 0 too, as an infinite gap.
    """
    import statistics

    pairs = [(d, c) for d, c in zip(objectives, reference) if abs(c) > DEAD or abs(d) > DEAD]
    gaps = [abs(d - c) / abs(c) if abs(c) > DEAD else float("inf") for d, c in pairs]
    ratios = [d / c for d, c in pairs if abs(c) > DEAD]
    if not ratios:  # nothing alive on either side to compare
        inf = float("inf")
        return {"gaps": gaps, "median_gap": inf, "largest_gap": inf, "mean_ratio": float("nan")}
    return {
        "gaps": gaps,
        "median_gap": statistics.median(gaps),
        "largest_gap": max(gaps),
        "mean_ratio": statistics.mean(ratios),
    }


def check(args: argparse.Namespace) -> int:
    """The device run; see the module docstring. Returns the exit status."""
    from visualizer.models.flops import render_step_flops
    from visualizer.models.graph import resolve_model_layer

    name, memory = device()
    nets = models()
    channels = int(nets[0].get_layer(resolve_model_layer(nets[0], args.layer)).output.shape[-1])
    batch = batch_size(args.batch, channels, memory)
    print(f"device {name} ({memory:.0f} GB); {args.layer}, {args.size} px, {args.steps} steps, batch {batch}")
    runs = [render(model, args, batch, args.steps) for model in nets]
    flops = float(render_step_flops(args.layer, args.size)) * batch * args.steps  # one render's nominal FLOPs
    steady = runs[1]["seconds"]
    report = {
        "device": name,
        "layer": args.layer,
        "size": args.size,
        "steps": args.steps,
        "batch": batch,
        "runs": runs,
        "images_per_second": batch / steady,
        "tflops": flops / steady / 1e12,
    }
    card = peaks(name)
    if card:
        report["floor_share_tf32"] = flops / card[0] / 1e12 / steady
        report["floor_share_bf16"] = flops / card[1] / 1e12 / steady
    for index, run in enumerate(runs):
        print(
            f"model {index}: {run['seconds']:.1f} s, {run['compiles']} step compilations "
            f"in {run['compile_seconds'] or 0:.1f} s; finite {run['finite']}, failed {run['failed']}"
        )
    share = ""
    if card:
        share = f"; FLOP floor at the dense peak: {report['floor_share_tf32']:.1%} (TF32), "
        share += f"{report['floor_share_bf16']:.1%} (BF16)"
    print(f"steady state: {report['images_per_second']:.2f} images/s, {report['tflops']:.1f} TFLOP/s{share}")
    if args.bf16_steps:
        bf16 = render(nets[1], args, batch, args.bf16_steps, precision="bf16")
        per_step = flops / args.steps
        report["bf16"] = {**bf16, "tflops": per_step * args.bf16_steps / bf16["seconds"] / 1e12}
        print(
            f"bf16: {args.bf16_steps} steps in {bf16['seconds']:.1f} s ({bf16['compiles']} compilations "
            f"in {bf16['compile_seconds'] or 0:.1f} s): {report['bf16']['tflops']:.1f} TFLOP/s with compiling"
        )
    problems = []
    if runs[1]["compiles"]:
        problems.append(f"the second model compiled {runs[1]['compiles']} step(s) again")
    if not all(run["finite"] for run in runs):
        problems.append("non-finite objectives")
    reference = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else None
    same = reference and reference["settings"] == {
        "layer": args.layer,
        "size": args.size,
        "steps": args.steps,
        "seed": args.seed,
    }
    if same:
        report["against_cpu"] = []
        for run, entry in zip(runs, reference["models"]):
            gaps = compare(run["objectives"], entry["objectives"])
            report["against_cpu"].append(gaps)
            print(
                f"against the CPU ({reference['kernels']}): median gap {gaps['median_gap']:.1%}, largest "
                f"{gaps['largest_gap']:.1%}, mean ratio {gaps['mean_ratio']:.3f}"
            )
            if gaps["median_gap"] >= MEDIAN_GAP_TOLERANCE or gaps["largest_gap"] >= CHANNEL_GAP_TOLERANCE:
                problems.append(f"objectives off the CPU's: {gaps}")
    else:
        print("no CPU reference for these settings (benchmarks/device.py --reference makes one)")
    print("DEVICE " + json.dumps(report), flush=True)
    for problem in problems:
        print(f"device check: {problem}", file=sys.stderr)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    if args.reference:
        write_reference(args)
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
