"""Benchmark the per-unit atlas methods (lucid, neuron, negative, diversity) against Lucid's channel images.

    python benchmarks/methods.py [--size 128] [--images 32] [--layers ...] [--width 1.0]

For each layer, one compiled optimization of `--images` images per method, on
an InceptionV1 with random weights: ``lucid`` (one channel per image),
``neuron``, ``negative`` (on the layer's pre-ReLU values) and ``diversity``
(`--images` / 4 channels, four images each, Lucid's diversity term within
each channel's group). Each row gives milliseconds a step (the time of
1 + `--steps` steps minus the time of 1 step, over `--steps`, best of
`--windows`) and the ratio to ``lucid``. ``diversity`` reads the whole layer
for its Gram matrices, so its target convolution computes every channel
where the others compute one per image.

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
from visualizer.render.render import ChannelRenderer, pre_relu_layer  # noqa: E402

LAYERS = ["Conv2d_2c_3x3", "Mixed_4d_Branch_2_b_3x3"]
METHODS = ("lucid", "neuron", "negative", "diversity")
DIVERSITY_IMAGES = 4


def method_render(
    model, layer: str, method: str, size: int, images: int
) -> tuple[ChannelRenderer, list[int]]:
    """The renderer and the channel list that render `images` images of `method` on `layer`."""
    count = inception_v1.channel_count(model, layer)
    if method == "diversity":
        channels = [c % count for c in range(images // DIVERSITY_IMAGES) for _ in range(DIVERSITY_IMAGES)]
        renderer = ChannelRenderer.from_keywords(
            model, layer, size=size, diversity=100.0, diversity_group=DIVERSITY_IMAGES
        )
        return renderer, channels
    channels = [c % count for c in range(images)]
    if method == "negative":
        return ChannelRenderer.from_keywords(
            model, pre_relu_layer(model, layer), size=size, objective="negative"
        ), channels
    objective = "neuron" if method == "neuron" else "channel"
    return ChannelRenderer.from_keywords(model, layer, size=size, objective=objective), channels


def seconds_per_step(renderer: ChannelRenderer, channels: list[int], steps: int, windows: int) -> float:
    """Best over `windows` of (time of 1 + `steps` steps - time of 1 step) / `steps`, after compiling."""
    renderer.render(channels, steps=1, progress=False)
    best = float("inf")
    for _ in range(windows):
        start = time.perf_counter()
        renderer.render(channels, steps=1, progress=False)
        one = time.perf_counter() - start
        start = time.perf_counter()
        renderer.render(channels, steps=1 + steps, progress=False)
        best = min(best, (time.perf_counter() - start - one) / steps)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--images", type=int, default=32, help="images per optimization (a multiple of 4)")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per window")
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--layers", nargs="+", default=LAYERS)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    args = parser.parse_args(argv)
    if args.images < DIVERSITY_IMAGES or args.images % DIVERSITY_IMAGES:
        parser.error(f"--images must be a positive multiple of {DIVERSITY_IMAGES}; received {args.images}")

    print(f"machine: {describe_cpu()}")
    model = inception_v1.build(width=args.width, head="single_dense", num_classes=10)
    print(f"{args.images} images per optimization at {args.size} px, width {args.width}\n")
    print("| layer | method | ms/step | ms per image-step | vs lucid |")
    print("|---|---|---|---|---|")
    for layer in args.layers:
        baseline = None
        for method in args.methods:
            renderer, channels = method_render(model, layer, method, args.size, args.images)
            seconds = seconds_per_step(renderer, channels, args.steps, args.windows)
            baseline = seconds if method == "lucid" else baseline
            ratio = f"{seconds / baseline:.2f}x" if baseline else "-"
            per_image = 1000 * seconds / args.images
            print(f"| {layer} | {method} | {1000 * seconds:.1f} | {per_image:.2f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
