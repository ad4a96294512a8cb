"""Benchmark the generative prior and weight ablation.

    python benchmarks/prior.py [--resolution 256] [--batches 1 4] [--steps 3] [--ks 8]

1. Seconds per ascent step of `render_with_prior` through a config-F
   StyleGAN2 (random weights, `--resolution` px) into InceptionV1 (full
   width, 224 px, Mixed_5c_Branch_3_b_1x1), per batch size, and per image.
2. `ablate` rendering `--ks` variants of one channel in one optimization
   (Lucid's method, 128 px) against the same variants rendered one network
   at a time (`ablated_copy` + `render_channels`), compile time included,
   as a researcher would run them.

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(ROOT))

import visualizer  # noqa: E402, F401  (before Keras: turns oneDNN on)
from benchmarks.machine import describe_cpu  # noqa: E402
from visualizer.models import inception_v1  # noqa: E402
from visualizer.prior.ablation import ablate, ablated_copy  # noqa: E402
from visualizer.prior.generative import render_with_prior  # noqa: E402
from visualizer.prior.stylegan2 import StyleGAN2, StyleGAN2Config  # noqa: E402
from visualizer.render.render import render_channels  # noqa: E402

LAYER = "Mixed_5c_Branch_3_b_1x1"
ABLATION_LAYER = "Mixed_4c_Branch_2_b_3x3"


def time_prior(model, generator, batch: int, steps: int) -> float:
    """Seconds per step at `batch` channels: (steps+1 updates) - (1 update), both compiled."""
    channels = list(range(batch))
    common = {"lam": 0.01, "progress": False, "center": generator.stored_center()}
    render_with_prior(model, LAYER, channels, generator, steps=1, **common)  # compile
    start = time.perf_counter()
    render_with_prior(model, LAYER, channels, generator, steps=1, **common)
    one = time.perf_counter() - start
    start = time.perf_counter()
    render_with_prior(model, LAYER, channels, generator, steps=steps + 1, **common)
    return (time.perf_counter() - start - one) / steps


def time_ablation(model, count: int, steps: int) -> tuple[float, float]:
    """(seconds for one batched `ablate`, seconds for the variants one network at a time)."""
    ks = list(range(0, 4 * count, 4))
    start = time.perf_counter()
    ablate(model, ABLATION_LAYER, 3, ks, steps=steps, progress=False)
    batched_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for k in ks:
        render_channels(
            ablated_copy(model, ABLATION_LAYER, 3, k), ABLATION_LAYER, [3], steps=steps, progress=False
        )
    return batched_seconds, time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batches", type=int, nargs="*", default=[1, 4])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--ks", type=int, default=8)
    parser.add_argument("--ablation-steps", type=int, default=64)
    args = parser.parse_args()

    print(f"machine: {describe_cpu()}")
    model = inception_v1.build(input_size=224)
    generator = StyleGAN2.random(StyleGAN2Config(resolution=args.resolution), seed=0, noise_strength=0.1)
    print("| measurement | batch | seconds | per image |")
    print("|---|---|---|---|")
    for batch in args.batches:
        seconds = time_prior(model, generator, batch, args.steps)
        label = f"prior step, {args.resolution} px generator -> 224 px {LAYER}"
        print(f"| {label} | {batch} | {seconds:.2f} | {seconds / batch:.2f} |")
    any_size = inception_v1.build(input_size=None)  # Lucid's renderer feeds 128 px images
    batched, separate = time_ablation(any_size, args.ks, args.ablation_steps)
    label = f"ablate, {args.ks} ks in one optimization ({args.ablation_steps} steps, 128 px)"
    print(f"| {label} | {args.ks} | {batched:.1f} | {batched / args.ks:.2f} |")
    print(f"| the same ks one network at a time | 1 | {separate:.1f} | {separate / args.ks:.2f} |")
    print(f"one optimization against one network at a time: {separate / batched:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
