"""Benchmark the renderer against Lucid's strategy and a naive one, with a FLOP floor.

Strategies, on the full-width InceptionV1 (random weights), per layer and size:

- (a) lucid: one channel per optimization, compiled graph up to the target
  layer only, the model's own layers (what Lucid's ``render_vis`` does with
  a TF1 graph);
- (b) naive: one channel, eager, the whole network every step;
- (c) ours: many channels per optimization (batched), truncated, compiled,
  differentiating the fused rendering copy (`visualizer.render.fused`).

Two more, on request with ``--strategies``, split (c)'s gain: lucid+fused
(batch 1 with the fused copy) and batched (batch B with the model's own
layers).

And one checks (a) against Lucid's own code: **lucid-0.3.10** runs Lucid
0.3.10's step (``make_vis_T``: its parameterization, transforms, Adam and
redirected-ReLU override, in TF1 graph mode) on the same network frozen at
the layer (`visualizer.models.frozen_graph.export_frozen_graph`), in a
process of its own (``tests/helpers/lucid_oracle.py time``) that waits while
the others run. Lucid draws its scale at random each step, so its windows
are 33 updates (three per scale on average) instead of one per scale. It
needs TensorFlow and the ``lucid`` package (``make install`` puts it in the
virtualenv); the default strategies include it where both are present.

All use the same parameterization, transforms and Adam. Each strategy is
timed in steady state (after the redirected-ReLU phase) over windows of 11
updates, one at each scale of the standard transforms, after one warm-up
window; the best window counts, since other work on a shared machine only
ever slows a window down. Images per second assume 512-step renders
(``--paper``: 1024 steps at 256 px).

The FLOP floor counts the convolutions and dense layers of the forward pass
up to the layer and the same again for the input gradient (weights need no
gradient), at the mean input size the transforms produce; (c)'s GFLOP/s count
it too, though channel selection leaves (c) less of the target layer to do.

On TensorFlow, (a)'s and (c)'s convolutions are also timed without the rest
of the step (``--no-convs`` skips it): the gap between the two ratios shows
how much of (c)'s gain comes from the convolutions and how much from the
work around them.

Where JAX is installed, a TensorFlow run also times (c) under JAX, in a
process of its own (the backend is fixed per process; ``--no-jax`` skips
it): the same layers, sizes and batch, on the fixed canvas, with the number
of step compilations and their seconds, against TensorFlow's (c) of the same
run.

Other networks: EfficientNet-Lite0 (`visualizer.models.efficientnet_lite`)
and keras.applications' MobileNetV2, both with random weights (the same
speed as trained ones), are timed on a few layers each at 128 px, batch
``--batch`` as the atlas renders: the fused copy (``fused``) against the
model's own layers (``unfused``), both truncated and compiled, the same
windows as above; images per second for 256-step renders (the atlas of
``configs/efficientnet.toml``). Their FLOPs come from the counter for any
model in `visualizer.models.flops` (forward + input gradient, mean
transformed size), and each row checks that the fused copy's objective
equals the model's own on the same random images (relative difference,
<= 1e-5 to pass). ``--networks``
picks them (none: ``--networks``), ``--no-inception`` leaves out the
InceptionV1 rows, ``--json PATH`` writes every row.

``--onednn on|off`` sets ``TF_ENABLE_ONEDNN_OPTS`` (the project turns it on);
oneDNN's kernel cache is raised to 32768 so that it holds every strategy's
kernels at once (the renderer alone needs fewer: ``visualizer/__init__.py``).

Usage::

    python benchmarks/render.py [--quick] [--backend jax] [--size 128 224] [--windows 3]
    python benchmarks/render.py --strategies lucid lucid+fused batched ours --batch 8
    python benchmarks/render.py --paper --backend jax --batch 64 --layers Mixed_4d_Branch_2_b_3x3  # a GPU
    python benchmarks/render.py --quick --strategies ours --no-convs  # with the JAX row
    python benchmarks/render.py --no-inception --json build/bench-render.json  # the other networks only
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAYERS = ("Conv2d_2c_3x3", "Mixed_4d_Branch_2_b_3x3", "Mixed_5c_Branch_3_b_1x1")
PAPER_LAYERS = (
    "Conv2d_2c_3x3",
    "Mixed_3c_Branch_1_b_3x3",
    "Mixed_4d_Branch_2_b_3x3",
    "Mixed_5c_Branch_3_b_1x1",
)
LUCID_ITSELF = "lucid-0.3.10"
STRATEGIES = (LUCID_ITSELF, "lucid", "naive", "lucid+fused", "batched", "ours")
LUCID_ORACLE = Path(__file__).resolve().parents[1] / "tests" / "helpers" / "lucid_oracle.py"
LUCID_WINDOW = 33  # updates per window of Lucid's own step (it draws one of 11 scales at random)
# Other networks (random weights) and the layers timed on each: early, middle and late.
NETWORKS = {
    "efficientnet-lite0": ("block2b_activation", "block4c_project_bn", "block6a_expand_activation"),
    "mobilenetv2": ("block_3_depthwise_relu", "block_8_project_BN", "block_13_expand_relu"),
}
NETWORK_SIZE = 128
NETWORK_STEPS = 256  # configs/efficientnet.toml's atlas: 128 px, 256 steps
AGREEMENT = 1e-5  # the largest relative difference of fused and unfused objectives that passes
ATLAS_IMAGES = 4 * 7280  # the paper's atlas: 4 models x 7,280 channels
STEADY = 1 << 30  # an update index past the redirected-ReLU warm-up


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one layer, 128 px, 5 timed steps")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"), help="Keras backend")
    parser.add_argument("--size", type=int, nargs="+", default=[128, 224], help="image sizes")
    parser.add_argument("--windows", type=int, default=3, help="timed windows of 11 steps (one per scale)")
    parser.add_argument("--batch", type=int, default=8, help="channels per optimization for (c)")
    parser.add_argument(
        "--layers", nargs="+", help="target layers (default: three; --quick: Mixed_4d; --paper: four)"
    )
    parser.add_argument(
        "--strategies",
        nargs="+",
        choices=STRATEGIES,
        help=f"which to time (default: {LUCID_ITSELF} where it can run, lucid naive ours; --paper: ours)",
    )
    parser.add_argument("--paper", action="store_true", help="estimate the paper's atlas: 256 px, 1024 steps")
    parser.add_argument(
        "--onednn",
        choices=("on", "off"),
        help="TensorFlow's oneDNN CPU kernels (default: the project's, on)",
    )
    parser.add_argument(
        "--no-convs",
        dest="convs",
        action="store_false",
        help="skip timing (a)'s and (c)'s convolutions alone (TensorFlow only)",
    )
    parser.add_argument(
        "--no-jax",
        dest="jax",
        action="store_false",
        help="skip the JAX row (timed in a process of its own where JAX is installed)",
    )
    parser.add_argument(
        "--networks",
        nargs="*",
        choices=tuple(NETWORKS),
        default=list(NETWORKS),
        help="other networks timed fused against unfused at 128 px (default: all; none: --networks)",
    )
    parser.add_argument(
        "--no-inception", dest="inception", action="store_false", help="skip InceptionV1's rows"
    )
    parser.add_argument("--json", type=Path, help="write every row to this JSON file")
    parser.add_argument("--jax-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layers = list(LAYERS)
    if args.quick:
        args.size, args.windows, layers = [128], 1, ["Mixed_4d_Branch_2_b_3x3"]
    if args.paper:
        args.size, layers = [256], list(PAPER_LAYERS)
    args.layers = args.layers or layers  # layers named on the command line win
    return args


def conv_flops(model, size: int) -> float:
    """FLOPs (multiply and add counted apart) of forward + input gradient of `model` at `size` px."""
    import keras
    import numpy as np

    probes = [layer for layer in model.layers if isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense))]
    probe = keras.Model(model.inputs[0], [layer.output for layer in probes])
    outputs = probe(np.zeros((1, size, size, 3), dtype="float32"))
    total = 0.0
    for layer, output in zip(probes, outputs):
        kernel = layer.kernel.shape  # (kh, kw, cin, cout) or (in, out)
        positions = int(np.prod(output.shape[1:-1])) if len(output.shape) > 2 else 1
        total += 2.0 * positions * float(np.prod(kernel))
    return 2.0 * total  # the input gradient of a conv costs what its forward does


def convs_alone_seconds(model, size: int, batch: int, selected: bool, adjoint: bool) -> float:
    """Seconds per step that the convolutions of `model` take without the rest of the step.

    One compiled function runs every convolution of `model` for `batch`
    images at `size` px, forwards and for its input gradient, on stored
    inputs (so nothing else of a step runs: no pooling, activations,
    parameterization or transforms); best of 5 calls. With `adjoint`, input
    gradients are computed as the fused copy computes them at batch 2 and
    more: for stride-1 "same" odd kernels a forward convolution with the
    adjoint kernel, for strided "same" ones the phased convolution, otherwise
    TensorFlow's backward-data convolution. With `selected` the last
    convolution computes `batch` channels (what channel selection leaves).
    TensorFlow only.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from visualizer.render.fused import (
        adjoint_gradient_applies,
        adjoint_kernel,
        phased_gradient_applies,
        strided_input_gradient,
    )

    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    probe = keras.Model(model.inputs[0], [layer.input for layer in convs])
    shapes = [tuple(t.shape[1:]) for t in probe(np.zeros((1, size, size, 3), dtype="float32"))]
    work = []  # (kernel, strides, padding, input, upstream gradient, adjoint kernel or None, phased)
    for index, (layer, shape) in enumerate(zip(convs, shapes)):
        kernel = tf.constant(layer.kernel.numpy())
        if selected and index == len(convs) - 1:
            kernel = kernel[..., :batch]
        strides, padding = layer.strides, layer.padding.upper()
        images = tf.random.uniform((batch, *shape))
        upstream = tf.nn.conv2d(images, kernel, strides, padding)
        # The fused copy's own rules, so the timer computes what the renderer does.
        settings = (layer.strides, layer.padding, layer.dilation_rate)
        same = adjoint_gradient_applies(tuple(layer.kernel.shape), *settings)
        phased = adjoint and phased_gradient_applies(*settings)
        adjoint_k = adjoint_kernel(kernel) if adjoint and same else None
        work.append((kernel, strides, padding, images, upstream, adjoint_k, phased))

    @tf.function
    def run() -> list:
        outputs = []
        for kernel, strides, padding, images, upstream, adjoint_k, phased in work:
            outputs.append(tf.nn.conv2d(images, kernel, strides, padding))
            if adjoint_k is not None:
                outputs.append(tf.nn.conv2d(upstream, adjoint_k, 1, "SAME"))
            elif phased:
                outputs.append(strided_input_gradient(upstream, kernel, images, strides))
            else:
                outputs.append(tf.nn.conv2d_transpose(upstream, kernel, images.shape, strides, padding))
        return outputs

    run()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def transformed_sizes(size: int) -> list[int]:
    """The network input sizes Lucid's standard transforms produce from a `size` image."""
    from visualizer.render.transforms import STANDARD_SCALES, scaled_size

    return [scaled_size(size + 24 - 8, s) - 4 for s in STANDARD_SCALES]


class StepTimer:
    """Runs steady-state updates (plain ReLU gradient) of one renderer, a window at a time.

    A window runs one update at each scale of the standard transforms, so
    every strategy sees the same image sizes; the first window (at
    construction) is a warm-up that has run every size once.
    """

    def __init__(self, renderer, channels: list[int]):
        import numpy as np
        from keras import ops

        from visualizer.render.fused import refresh_fused
        from visualizer.render.transforms import STANDARD_SCALES

        if renderer.compute.fuse:
            refresh_fused(renderer.net)
        self.renderer, self.loop, self.batch = renderer, renderer.loop, len(channels)
        initial = self.loop.initial(channels, 0, 0)
        self.size = self.loop.view_size(initial)
        self.loop.stepper.start(initial, self.loop.weights)
        self.ids = ops.convert_to_tensor(np.asarray(channels, dtype="int32"))
        self.rng = np.random.default_rng(0)
        self.scale_slots = [i for i, t in enumerate(renderer.pipeline.transforms) if t.shape_changing]
        self.count = len(STANDARD_SCALES) if self.scale_slots else 3
        self.window()

    def window(self) -> float:
        """Seconds per update over one window."""
        import numpy as np
        from keras import ops

        start = time.perf_counter()
        values = None
        for index in range(self.count):
            draws = list(self.loop.transforms.sample(self.rng, self.batch, self.loop.per_image_transforms))
            for slot in self.scale_slots:
                draws[slot] = np.asarray([index], dtype="int32")
            values = self.loop.step(STEADY, self.ids, tuple(draws), (), self.size)
        ops.convert_to_numpy(values)  # wait for the device
        return (time.perf_counter() - start) / self.count


def lucid_available() -> bool:
    """Whether Lucid's own step can be timed here: the TensorFlow backend and the ``lucid`` package."""
    import keras

    return keras.config.backend() == "tensorflow" and importlib.util.find_spec("lucid") is not None


class LucidTimer:
    """Lucid 0.3.10's own step on `layer` of `net`, one image, timed in a process of its own.

    The network is frozen from its input to `layer` into a GraphDef under
    `workdir`; ``lucid_oracle.py time`` builds Lucid's step on it, warms up
    and then runs a window of `LUCID_WINDOW` updates per request, while this
    process waits. Call `close` when done.
    """

    batch = 1

    def __init__(self, net, layer: str, size: int, workdir: Path):
        from visualizer.models.frozen_graph import export_frozen_graph

        graph = workdir / f"{layer}.pb"
        tensor = export_frozen_graph(net, layer, graph)
        self.log = workdir / f"lucid-{layer}-{size}.log"
        command = [sys.executable, str(LUCID_ORACLE), "time", "--graph", str(graph), "--layer", tensor]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*command, "--size", str(size)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        self._expect_line("ready")

    def _expect_line(self, expected: str | None = None) -> str:
        line = self.process.stdout.readline().strip()
        if not line or (expected and line != expected):
            self.process.kill()
            tail = self.log.read_text().strip().splitlines()[-15:]
            raise RuntimeError("Lucid's timing process stopped; the end of its log:\n" + "\n".join(tail))
        return line

    def window(self) -> float:
        """Seconds per update over one window of `LUCID_WINDOW` updates."""
        self.process.stdin.write(f"{LUCID_WINDOW}\n")
        self.process.stdin.flush()
        return float(self._expect_line())

    def close(self) -> None:
        """End the Lucid process."""
        if self.process.poll() is None:
            self.process.stdin.write("\n")
            self.process.stdin.flush()
            self.process.wait(timeout=60)


def measure(net, layer: str, size: int, args: argparse.Namespace, strategies: list[str]) -> list[dict]:
    """Time each strategy on one layer at one size, best of `args.windows` interleaved windows.

    The strategies take turns window by window, so a burst of other work on a
    shared machine slows all of them alike instead of one.
    """
    import keras

    from visualizer.render.fused import FAST_GRADIENT_MIN_BATCH
    from visualizer.render.render import ChannelRenderer, resolve_model_layer, truncate

    layer = resolve_model_layer(net, layer)
    settings = {
        LUCID_ITSELF: dict(batch=1, compile=True, truncate_model=True),
        "lucid": dict(batch=1, compile=True, truncate_model=True, fuse=False),
        "naive": dict(batch=1, compile=False, truncate_model=False, fuse=False),
        "lucid+fused": dict(batch=1, compile=True, truncate_model=True, fuse=True),
        "batched": dict(batch=args.batch, compile=True, truncate_model=True, fuse=False),
        "ours": dict(batch=args.batch, compile=True, truncate_model=True, fuse=True),
    }
    timers = {}
    best = {name: float("inf") for name in strategies}
    workdir = Path(tempfile.mkdtemp(prefix="vtl-bench-"))  # Lucid's frozen graph and log
    try:
        for name in strategies:
            config, started = settings[name], time.perf_counter()
            if name == LUCID_ITSELF:
                timers[name] = LucidTimer(net, layer, size, workdir)
            else:
                renderer = ChannelRenderer.from_keywords(
                    net,
                    layer,
                    size=size,
                    compile=config["compile"],
                    truncate_model=config["truncate_model"],
                    fuse=config["fuse"],
                )
                timers[name] = StepTimer(renderer, list(range(min(config["batch"], renderer.channel_count))))
            print(
                f"  {layer} {size}px {name}: ready in {time.perf_counter() - started:.0f} s (compiled, warm)",
                file=sys.stderr,
                flush=True,
            )
        for window in range(args.windows):
            for name in strategies:
                if window == 0 or settings[name]["compile"]:  # one window for the slow eager one
                    best[name] = min(best[name], timers[name].window())
    finally:
        for timer in timers.values():
            if isinstance(timer, LucidTimer):
                timer.close()
        shutil.rmtree(workdir, ignore_errors=True)

    sizes = transformed_sizes(size)
    truncated = truncate(net, layer)
    convs_alone = {}
    if args.convs and keras.config.backend() == "tensorflow":
        for name in {"lucid", "ours"} & set(strategies):
            timer = timers[name]
            adjoint = timer.renderer.compute.fuse and timer.batch >= FAST_GRADIENT_MIN_BATCH
            convs_alone[name] = convs_alone_seconds(
                truncated, sizes[len(sizes) // 2], timer.batch, timer.renderer.selects_channels, adjoint
            )

    def mean_flops(model) -> float:
        return statistics.mean(conv_flops(model, s) for s in (min(sizes), max(sizes)))

    truncated_flops = mean_flops(truncated)
    whole_flops = mean_flops(net) if any(not settings[n]["truncate_model"] for n in strategies) else None
    rows = []
    for name in strategies:
        seconds, batch = best[name], timers[name].batch
        flops = truncated_flops if settings[name]["truncate_model"] else whole_flops
        rows.append(
            {
                "layer": layer,
                "size": size,
                "strategy": name,
                "batch": batch,
                "ms_per_step": 1000 * seconds,
                "flops_per_image_step": flops,
                "gflops": flops * batch / seconds / 1e9,
                "step_seconds": seconds,
                "convs_seconds": convs_alone.get(name),
            }
        )
        print(
            f"  {layer} {size}px {name:11s} batch {batch:3d}: {1000 * seconds:8.1f} ms/step",
            file=sys.stderr,
            flush=True,
        )
    return rows


def build_network(name: str):  # noqa: ANN201 (a keras.Model)
    """One of `NETWORKS`, random weights (seed 0), for images of any size, without its classifier."""
    import keras

    keras.utils.set_random_seed(0)
    if name == "efficientnet-lite0":
        from visualizer.models import efficientnet_lite

        return efficientnet_lite.build(weights=None, include_top=False)
    if name == "mobilenetv2":
        return keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(None, None, 3))
    raise ValueError(f"Unknown network {name!r}; choose from {sorted(NETWORKS)}.")


def objective_agreement(net, layer: str, renderer, channels: list[int], size: int) -> float:
    """Largest relative difference of `renderer`'s network and `net`'s own layers on the channel objective.

    Both read the same random images in [0, 1] (seed 0); the objective is
    each image's channel mean, image b reading ``channels[b]``.
    """
    import numpy as np
    from keras import ops

    from visualizer.render.render import truncate

    images = np.random.default_rng(0).uniform(size=(len(channels), size, size, 3)).astype("float32")
    own = ops.convert_to_numpy(truncate(net, layer)(images, training=False))
    expected = np.array([own[b, ..., c].mean() for b, c in enumerate(channels)], dtype="float64")
    if renderer.selects_channels:  # the network computes each image's own channel only
        ids = np.asarray(channels, dtype="int32")
        acts = ops.convert_to_numpy(renderer.net([images, ids], training=False))
        values = acts[..., 0].reshape(len(channels), -1).mean(axis=1)
    else:
        acts = renderer.net(images, training=False)
        acts = ops.convert_to_numpy(acts[0] if isinstance(acts, (list, tuple)) else acts)
        values = np.array([acts[b, ..., c].mean() for b, c in enumerate(channels)])
    return float(np.abs(values - expected).max() / max(np.abs(expected).max(), 1e-30))


def measure_network(network: str, net, layer: str, size: int, args: argparse.Namespace) -> list[dict]:
    """Time the fused copy against the model's own layers on one layer of another network.

    Both batch `args.batch` channels, truncated and compiled; best of
    `args.windows` interleaved windows, as `measure` does. Each row carries
    the FLOPs per image-step (`visualizer.models.flops.model_render_step_flops`
    at the mean transformed size) and the fused copy's objective agreement.
    """
    from visualizer.models.flops import model_render_step_flops
    from visualizer.render.fused import refresh_fused
    from visualizer.render.render import ChannelRenderer

    paths = {"fused": True, "unfused": False}
    timers, best = {}, dict.fromkeys(paths, float("inf"))
    for path, fuse in paths.items():
        started = time.perf_counter()
        renderer = ChannelRenderer.from_keywords(net, layer, size=size, fuse=fuse)
        timers[path] = StepTimer(renderer, list(range(min(args.batch, renderer.channel_count))))
        print(
            f"  {network} {layer} {size}px {path}: ready in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    for _ in range(args.windows):
        for path in paths:
            best[path] = min(best[path], timers[path].window())
    sizes = transformed_sizes(size)
    flops = statistics.mean(model_render_step_flops(net, layer, s) for s in (min(sizes), max(sizes)))
    fused = timers["fused"].renderer
    refresh_fused(fused.net)
    channels = list(range(timers["fused"].batch))
    agreement = objective_agreement(net, fused.layer, fused, channels, size)
    rows = []
    for path in paths:
        seconds, batch = best[path], timers[path].batch
        rows.append(
            {
                "network": network,
                "layer": timers[path].renderer.layer,
                "size": size,
                "strategy": path,
                "batch": batch,
                "ms_per_step": 1000 * seconds,
                "step_seconds": seconds,
                "flops_per_image_step": flops,
                "gflops": flops * batch / seconds / 1e9,
                "objective_rel_diff": agreement if path == "fused" else 0.0,
                "selects_channels": timers[path].renderer.selects_channels,
            }
        )
        print(
            f"  {network} {layer} {size}px {path:7s} batch {batch}: {1000 * seconds:8.1f} ms/step",
            file=sys.stderr,
        )
    return rows


def network_table(rows: list[dict], render_steps: int) -> str:
    """A Markdown table of the other networks: fused against unfused per layer, and the objective check."""
    lines = [
        f"| network | layer | px | path | batch | ms/step | images/s ({render_steps} steps) | GFLOP/s "
        "| fused vs unfused | objective rel. diff |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r["network"], r["layer"], r["size"], r["strategy"]): r for r in rows}
    for r in rows:
        rate = r["batch"] / (render_steps * r["step_seconds"])
        unfused = by_key.get((r["network"], r["layer"], r["size"], "unfused"))
        speedup = "-"
        if r["strategy"] == "fused" and unfused:
            speedup = f"{unfused['step_seconds'] / r['step_seconds']:.2f}x"
        check = "-"
        if r["strategy"] == "fused":
            verdict = "ok" if r["objective_rel_diff"] <= AGREEMENT else "FAIL"
            check = f"{r['objective_rel_diff']:.1e} {verdict}"
        lines.append(
            f"| {r['network']} | {r['layer']} | {r['size']} | {r['strategy']} | {r['batch']} | "
            f"{r['ms_per_step']:.1f} | {rate:.4f} | {r['gflops']:.1f} | {speedup} | {check} |"
        )
    return "\n".join(lines)


def network_rows(args: argparse.Namespace) -> list[dict]:
    """Every row of `NETWORKS` named in `args.networks` (``--quick``: the middle layer of each)."""
    rows = []
    for network in args.networks:
        net = build_network(network)
        layers = NETWORKS[network][1:2] if args.quick else NETWORKS[network]
        for layer in layers:
            rows += measure_network(network, net, layer, NETWORK_SIZE, args)
    return rows


def jax_worker(args: argparse.Namespace) -> None:
    """Under JAX: time (c) on the fixed canvas per layer and size, printing one ``JAXROW {json}`` line each.

    Each row holds the step compilations and their seconds (the renderer's
    construction and warm-up window) and the best window's seconds per step.
    """
    import keras

    from visualizer.models import inception_v1
    from visualizer.render.compile_stats import compile_log
    from visualizer.render.render import ChannelRenderer

    keras.utils.set_random_seed(0)
    net = inception_v1.build(head="dense")
    log = compile_log()
    for size in args.size:
        for layer in args.layers:
            before = log.snapshot()
            renderer = ChannelRenderer.from_keywords(net, layer, size=size)
            timer = StepTimer(renderer, list(range(min(args.batch, renderer.channel_count))))
            compiled = log.snapshot() - before
            seconds = min(timer.window() for _ in range(args.windows))
            row = {
                "layer": renderer.layer,
                "size": size,
                "batch": timer.batch,
                "step_seconds": seconds,
                "compiles": compiled.steps,
                "compile_seconds": compiled.step_seconds,
                "scale_canvas": renderer.scale_canvas,
                "kernels": machine(),
            }
            print("JAXROW " + json.dumps(row), flush=True)


def jax_rows(args: argparse.Namespace) -> list[dict]:
    """Run `jax_worker` in a process of its own on this machine's CPU (or its GPU); its rows."""
    command = [sys.executable, str(Path(__file__).resolve()), "--backend", "jax", "--jax-worker"]
    command += ["--size", *map(str, args.size), "--layers", *args.layers]
    command += ["--batch", str(args.batch), "--windows", str(args.windows)]
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    marker = "JAXROW "
    rows = [json.loads(line[len(marker) :]) for line in done.stdout.splitlines() if line.startswith(marker)]
    if done.returncode != 0 or not rows:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise RuntimeError(f"The JAX timing process failed ({done.returncode}); the end of its log:\n{tail}")
    return rows


def jax_table(rows: list[dict], jax: list[dict]) -> str:
    """A Markdown table of (c) under JAX against (c) under TensorFlow of the same run."""
    lines = [
        "| layer | px | batch | TF ms/step | JAX ms/step | JAX / TF | JAX GFLOP/s | JAX step compilations "
        "| their seconds |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    ours = {(r["layer"], r["size"]): r for r in rows if r["strategy"] == "ours"}
    for j in jax:
        tf = ours.get((j["layer"], j["size"]))
        ratio = f"{j['step_seconds'] / tf['step_seconds']:.2f}x" if tf and tf["batch"] == j["batch"] else "-"
        flops = tf["flops_per_image_step"] * j["batch"] / j["step_seconds"] / 1e9 if tf else float("nan")
        cells = [
            j["layer"],
            j["size"],
            j["batch"],
            f"{tf['ms_per_step']:.1f}" if tf else "-",
            f"{1000 * j['step_seconds']:.1f}",
            ratio,
            f"{flops:.1f}",
            j["compiles"],
            f"{j['compile_seconds']:.1f}",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    """A one-line description of the machine and backend."""
    import keras

    from benchmarks.machine import cpu_name
    from visualizer.render.backend import kernel_library

    cores, cpu = os.cpu_count(), cpu_name()
    device = "CPU"
    if keras.config.backend() == "jax":
        import jax

        device = ", ".join(sorted({d.device_kind for d in jax.devices()}))
    elif keras.config.backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        device = f"{len(gpus)} GPU" if gpus else "CPU"
    return f"{cpu}, {cores} cores; device {device}; Keras {keras.__version__} on {kernel_library()}"


def table(rows: list[dict], render_steps: int) -> str:
    """A Markdown table with speedups per image-step against (a), and against Lucid's own code when timed."""
    baselines = ["lucid"] + ([LUCID_ITSELF] if any(r["strategy"] == LUCID_ITSELF for r in rows) else [])
    headers = {"lucid": "vs (a)", LUCID_ITSELF: f"vs {LUCID_ITSELF}"}
    lines = [
        "| layer | px | strategy | batch | ms/step | images/s | GFLOP/s | "
        + " | ".join(headers[b] for b in baselines)
        + " |",
        "|---|---|---|---|---|---|---|" + "---|" * len(baselines),
    ]
    by_key = {(r["layer"], r["size"], r["strategy"]): r for r in rows}
    for r in rows:
        rate = r["batch"] / (render_steps * r["step_seconds"])
        ratios = []
        for baseline in baselines:
            reference = by_key.get((r["layer"], r["size"], baseline))
            ratios.append(
                f"{r['batch'] * reference['step_seconds'] / r['step_seconds']:.2f}x" if reference else "-"
            )
        lines.append(
            f"| {r['layer']} | {r['size']} | {r['strategy']} | {r['batch']} | {r['ms_per_step']:.1f} | "
            f"{rate:.4f} | {r['gflops']:.1f} | " + " | ".join(ratios) + " |"
        )
    return "\n".join(lines)


def convs_table(rows: list[dict]) -> str:
    """A Markdown table of (a) and (c) against their convolutions timed alone."""
    lines = [
        "| layer | px | (a) ms | (a) convs alone | (c) ms | (c) convs alone | convs: (c) vs (a) "
        "| step: (c) vs (a) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    by_key = {(r["layer"], r["size"], r["strategy"]): r for r in rows}
    for r in rows:
        lucid = by_key.get((r["layer"], r["size"], "lucid"))
        if (
            r["strategy"] != "ours"
            or not lucid
            or not r.get("convs_seconds")
            or not lucid.get("convs_seconds")
        ):
            continue
        convs_ratio = r["batch"] * lucid["convs_seconds"] / r["convs_seconds"]
        step = r["batch"] * lucid["step_seconds"] / r["step_seconds"]
        cells = [
            r["layer"],
            r["size"],
            f"{lucid['ms_per_step']:.1f}",
            f"{1000 * lucid['convs_seconds']:.1f}",
            f"{r['ms_per_step']:.1f}",
            f"{1000 * r['convs_seconds']:.1f}",
            f"{convs_ratio:.2f}x",
            f"{step:.2f}x",
        ]
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.backend:
        os.environ["KERAS_BACKEND"] = args.backend
    if args.onednn:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if args.onednn == "on" else "0"
    # The strategies take turns, so oneDNN's kernel cache holds all of their working sets at once.
    os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "32768")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import visualizer  # noqa: F401  (before TensorFlow: the project's oneDNN default)

    # isort: split
    import keras

    from visualizer.models import inception_v1

    if args.jax_worker:
        jax_worker(args)
        return
    keras.utils.set_random_seed(0)
    # The dense head (global pooling) accepts every input size; the logits head needs 224 px.
    net = inception_v1.build(head="dense")
    if args.strategies and LUCID_ITSELF in args.strategies and not lucid_available():
        raise SystemExit(
            f"{LUCID_ITSELF} needs the TensorFlow backend and the lucid package "
            "(make install puts lucid==0.3.10 in the virtualenv); choose other --strategies."
        )
    default = ([LUCID_ITSELF] if lucid_available() else []) + ["lucid", "naive", "ours"]
    strategies = args.strategies or (["ours"] if args.paper else default)
    render_steps = 1024 if args.paper else 512
    print(f"Machine: {machine()}", flush=True)
    print(
        f"Date: {time.strftime('%Y-%m-%d')}; best of {args.windows} windows of 11 steps; "
        f"images/s for {render_steps}-step renders"
    )
    rows = []
    for size in args.size if args.inception else []:
        for layer in args.layers:
            rows += measure(net, layer, size, args, strategies)
    if rows:
        print(table(rows, render_steps))
    if any(r.get("convs_seconds") for r in rows):
        print(
            "\nConvolutions without the rest of the step (all of them in one compiled function, forward + "
            "input gradient as the strategy computes them, middle scale), per step:"
        )
        print(convs_table(rows))
    with_jax = args.jax and keras.config.backend() == "tensorflow" and importlib.util.find_spec("jax")
    if with_jax and any(r["strategy"] == "ours" for r in rows):
        print(f"\n(c) under JAX (a process of its own, fixed canvas), batch {args.batch}:")
        print(jax_table(rows, jax_rows(args)))
    floors = [r for r in rows if r["strategy"] == "ours"]
    if floors:
        print("\nFLOP floor (forward + input gradient, mean transformed size), GFLOP per image-step:")
    for r in floors:
        print(f"  {r['layer']} {r['size']}px: {r['flops_per_image_step'] / 1e9:.2f}")
    others = [] if args.paper else network_rows(args)
    if others:
        print(
            f"\nOther networks (random weights), {NETWORK_SIZE} px, batch {args.batch}: the fused copy "
            f"against the model's own layers; objective rel. diff: fused against the model, same images "
            f"(<= {AGREEMENT:g} passes):"
        )
        print(network_table(others, NETWORK_STEPS))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "machine": machine(),
            "render_steps": render_steps,
            "rows": rows,
            "network_render_steps": NETWORK_STEPS,
            "networks": others,
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    if args.paper:
        rate = statistics.mean(r["batch"] / (render_steps * r["step_seconds"]) for r in floors)
        print(
            f"\nPaper estimate: {rate:.2f} images/s averaged over {len(floors)} layers at 256 px, "
            f"{render_steps} steps; the {ATLAS_IMAGES}-image atlas takes about "
            f"{ATLAS_IMAGES / rate / 3600:.1f} h."
        )


if __name__ == "__main__":
    main()
