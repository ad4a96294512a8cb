"""Benchmark dataset examples (the atlas method ``examples``).

    python benchmarks/examples.py [--images 512] [--size 224] [--layers ...] [--width 1.0]

For each layer, the seconds `dataset_examples` takes to score `--images`
random images for every channel of the layer and cut the contact sheets, on
an InceptionV1 with random weights, after one warm-up call; the images
scored per second; and, for scale, the seconds one Lucid optimization step
of the whole layer takes at the same size (a compiled render of 3 steps
minus one of 1 step, halved). An examples batch costs about as much as that many steps.

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

import numpy as np  # noqa: E402

import visualizer  # noqa: E402, F401  (before Keras: turns oneDNN on)
from benchmarks.machine import describe_cpu  # noqa: E402
from visualizer.analysis.examples import dataset_examples  # noqa: E402
from visualizer.models import inception_v1  # noqa: E402
from visualizer.render.render import ChannelRenderer  # noqa: E402

LAYERS = ["Conv2d_2c_3x3", "Mixed_4d_Branch_2_b_3x3", "Mixed_5c_Branch_3_b_1x1"]


def time_examples(model, layer: str, images: np.ndarray, top: int) -> float:
    """Seconds for every channel of `layer`, after a warm-up call on a few images."""
    channels = list(range(inception_v1.channel_count(model, layer)))
    dataset_examples(model, layer, channels, images[: max(top, 32)], top=top)
    start = time.perf_counter()
    dataset_examples(model, layer, channels, images, top=top)
    return time.perf_counter() - start


def time_render_step(model, layer: str, size: int) -> float:
    """Seconds of one compiled Lucid step of the whole layer (3 steps minus 1, after compiling)."""
    channels = list(range(inception_v1.channel_count(model, layer)))
    renderer = ChannelRenderer.from_keywords(model, layer, size=size)
    renderer.render(channels, steps=1, progress=False)
    start = time.perf_counter()
    renderer.render(channels, steps=1, progress=False)
    one = time.perf_counter() - start
    start = time.perf_counter()
    renderer.render(channels, steps=3, progress=False)
    return (time.perf_counter() - start - one) / 2


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--top", type=int, default=9)
    parser.add_argument("--layers", nargs="+", default=LAYERS)
    parser.add_argument("--no-render", action="store_true", help="skip the Lucid step for scale")
    args = parser.parse_args()

    print(f"machine: {describe_cpu()}")
    model = inception_v1.build(width=args.width, input_size=args.size, head="single_dense", num_classes=10)
    images = np.random.default_rng(0).random((args.images, args.size, args.size, 3)).astype("float32")
    print(f"{args.images} random images at {args.size} px, width {args.width}, top {args.top}\n")
    print("| layer | channels | examples s | images/s | Lucid step s (whole layer) | examples / step |")
    print("|---|---|---|---|---|---|")
    for layer in args.layers:
        seconds = time_examples(model, layer, images, args.top)
        count = inception_v1.channel_count(model, layer)
        step = float("nan") if args.no_render else time_render_step(model, layer, args.size)
        rate = args.images / seconds
        print(
            f"| {layer} | {count} | {seconds:.2f} | {rate:.0f} | {step:.2f} | {seconds / step:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
