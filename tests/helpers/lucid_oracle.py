"""Lucid 0.3.10 as a reference oracle, run as a subprocess (never imported by tests).

It installs `lucid_shim` (``tensorflow`` becomes ``tensorflow.compat.v1``) in
its own process, then does one of two things:

``render``: optimize one image per channel with Lucid's own ``render_vis``:

    python lucid_oracle.py render --graph model.pb --layer 'Mixed_3b:0' \\
        --channels 0,3,5 --size 64 --steps 128 --seed 0 --out lucid.npz

with ``param.image(size, batch=N)`` (FFT, decorrelated, sigmoid), the
objective ``sum_i channel(layer, channels[i], batch=i)``,
``transform.standard_transforms``, ``AdamOptimizer(0.05)`` and
``thresholds=(steps,)`` (so ``steps + 1`` Adam updates, as Lucid counts),
with the redirected-ReLU gradient override on (Lucid's default). The
parameterization's initial spectrum is drawn from ``np.random`` seeded with
`seed`, and the TF graph seed is set to `seed` before any random op of the
transforms is built, so a run is reproducible. The graph is imported by a
`lucid.modelzoo.vision_base.Model` subclass with the given input name and
``image_value_range``. Writes ``images`` ``[N, size, size, 3]`` float32 in
(0, 1), ``channels`` and ``seconds`` (wall time of ``render_vis``).

``time``: time Lucid's own optimization step, window by window, for the
render benchmark (``benchmarks/render.py``, strategy ``lucid-0.3.10``):

    python lucid_oracle.py time --graph model.pb --layer 'Mixed_4d:0' --channel 0 --size 224

builds what ``render_vis`` builds for one image (``make_vis_T`` with the
objective ``channel(layer, channel)``, the same parameterization, transforms,
optimizer and redirected-ReLU override as ``render``), runs ``--warmup``
updates, prints ``ready`` and then serves stdin: each line holding a number N
runs N updates as ``render_vis`` does (``session.run([loss, vis_op])``) and
answers with the seconds per update; an empty line or end of input ends it.
The benchmark's own strategies run while this process waits for its next
line, so the two never compete for the cores.

``spectrum``: evaluate Lucid's parameterization on a given spectrum:

    python lucid_oracle.py spectrum --spectrum spectrum.npy --size 64 --out image.npz

builds ``param.spatial.fft_image((B, H, W, 3))`` and
``param.color.to_valid_rgb(..., decorrelate=True, sigmoid=True)``, assigns the
``(2, B, 3, H, W//2 + 1)`` float32 array (real, imaginary) to the FFT variable
and writes ``images`` (the RGB image) and ``spatial`` (``fft_image``'s output,
before colour decorrelation and sigmoid).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lucid_shim  # noqa: E402

__all__ = ["main", "render", "serve_step_timing", "spectrum_image"]


def _import_lucid():
    """Install the shim and import the Lucid modules the oracle uses."""
    lucid_shim.install()
    import tensorflow as tf  # tensorflow.compat.v1, by the shim
    from lucid.modelzoo.vision_base import Model
    from lucid.optvis import objectives, param, render, transform

    return tf, Model, objectives, param, render, transform


def render(
    graph: Path,
    layer: str,
    channels: list[int],
    size: int,
    steps: int,
    seed: int,
    input_name: str = "input",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> tuple[np.ndarray, float]:
    """Render `channels` of `layer` with Lucid's ``render_vis``; see the module docstring.

    Returns:
        The images ``[len(channels), size, size, 3]`` after ``steps + 1``
        updates, and the seconds ``render_vis`` took.
    """
    tf, Model, objectives, param, render_module, transform = _import_lucid()

    model = _frozen_graph_model(Model, tf, graph, input_name, value_range)

    objective = sum(
        (objectives.channel(layer, channel, batch=slot) for slot, channel in enumerate(channels)),
        0,
    )

    np.random.seed(seed)
    start = time.perf_counter()
    images = render_module.render_vis(
        model,
        objective,
        thresholds=(steps,),
        verbose=False,
        **_lucid_settings(tf, param, transform, size, len(channels), seed),
    )
    seconds = time.perf_counter() - start
    return np.asarray(images[-1], dtype=np.float32), seconds


def _lucid_settings(tf, param, transform, size: int, batch: int, seed: int) -> dict:
    """``render_vis`` and ``make_vis_T`` arguments: FFT decorrelated image, Adam 0.05, standard transforms."""

    def param_f():
        # Lucid calls param_f first inside the graph it builds, so seeding here
        # fixes every random op the transforms create afterwards.
        tf.set_random_seed(seed)
        return param.image(size, batch=batch, fft=True, decorrelate=True)

    return dict(
        param_f=param_f,
        optimizer=tf.train.AdamOptimizer(0.05),
        transforms=list(transform.standard_transforms),
        relu_gradient_override=True,
    )


def _frozen_graph_model(Model, tf, graph: Path, input_name: str, value_range: tuple[float, float]):
    """A Lucid `Model` for the frozen GraphDef at `graph`, read directly (no Lucid I/O or cache)."""

    class FrozenGraphModel(Model):
        model_path = str(graph)
        image_shape = (None, None, 3)
        image_value_range = value_range

    FrozenGraphModel.input_name = input_name
    model = FrozenGraphModel()
    graph_def = tf.GraphDef.FromString(Path(graph).read_bytes())
    for node in graph_def.node:
        node.device = ""
    model._graph_def = graph_def
    return model


def serve_step_timing(
    graph: Path,
    layer: str,
    channel: int,
    size: int,
    seed: int = 0,
    warmup: int = 33,
    input_name: str = "input",
    value_range: tuple[float, float] = (0.0, 1.0),
) -> None:
    """Time Lucid's optimization step on stdin's request; see the module docstring (``time``)."""
    tf, Model, objectives, param, render_module, transform = _import_lucid()
    model = _frozen_graph_model(Model, tf, graph, input_name, value_range)
    np.random.seed(seed)
    with tf.Graph().as_default(), tf.Session() as session:
        T = render_module.make_vis_T(
            model, objectives.channel(layer, channel), **_lucid_settings(tf, param, transform, size, 1, seed)
        )
        fetches = [T("loss"), T("vis_op")]
        tf.global_variables_initializer().run()
        for _ in range(warmup):  # past the 16 redirected-ReLU steps, through many transform sizes
            session.run(fetches)
        print("ready", flush=True)
        for line in sys.stdin:
            if not line.strip():
                break
            updates = int(line)
            start = time.perf_counter()
            for _ in range(updates):
                session.run(fetches)
            print((time.perf_counter() - start) / updates, flush=True)


def spectrum_image(
    spectrum: np.ndarray, size: int, width: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate Lucid's FFT parameterization and colour decorrelation on `spectrum`.

    Args:
        spectrum: float32 ``(2, B, 3, H, Wf)``, real and imaginary parts.
        size: image height H.
        width: image width (defaults to `size`).

    Returns:
        ``(images, spatial)``: the RGB image ``[B, H, W, 3]`` from
        ``to_valid_rgb(decorrelate=True, sigmoid=True)`` and ``fft_image``'s
        output before it.
    """
    tf, _, _, param, _, _ = _import_lucid()
    from lucid.optvis.param.color import to_valid_rgb
    from lucid.optvis.param.spatial import fft_image

    width = width or size
    batch = spectrum.shape[1]
    with tf.Graph().as_default(), tf.Session() as session:
        spatial = fft_image((batch, size, width, 3))
        (variable,) = tf.global_variables()
        if tuple(variable.shape.as_list()) != spectrum.shape:
            raise ValueError(
                f"Spectrum shape {spectrum.shape} does not match Lucid's FFT buffer "
                f"{tuple(variable.shape.as_list())} for a {size}x{width} image."
            )
        images = to_valid_rgb(spatial[..., :3], decorrelate=True, sigmoid=True)
        session.run(tf.global_variables_initializer())
        session.run(variable.assign(spectrum.astype(np.float32)))
        images_value, spatial_value = session.run([images, spatial])
    return images_value.astype(np.float32), spatial_value.astype(np.float32)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    modes = parser.add_subparsers(dest="mode", required=True)
    run = modes.add_parser("render", help="render channels with lucid.optvis.render.render_vis")
    run.add_argument("--graph", type=Path, required=True, help="frozen GraphDef (.pb)")
    run.add_argument("--layer", required=True, help="tensor name in the graph, e.g. 'Mixed_3b:0'")
    run.add_argument("--channels", required=True, help="comma-separated channel indices")
    run.add_argument("--size", type=int, default=128)
    run.add_argument("--steps", type=int, default=512, help="thresholds=(steps,): steps + 1 updates")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--input-name", default="input")
    run.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"))
    run.add_argument("--out", type=Path, required=True)
    timing = modes.add_parser("time", help="time Lucid's step, a window of updates per line of stdin")
    timing.add_argument("--graph", type=Path, required=True, help="frozen GraphDef (.pb)")
    timing.add_argument("--layer", required=True, help="tensor name in the graph, e.g. 'Mixed_4d:0'")
    timing.add_argument("--channel", type=int, default=0)
    timing.add_argument("--size", type=int, default=128)
    timing.add_argument("--seed", type=int, default=0)
    timing.add_argument("--warmup", type=int, default=33, help="updates before the first window")
    timing.add_argument("--input-name", default="input")
    timing.add_argument("--value-range", type=float, nargs=2, default=(0.0, 1.0), metavar=("LO", "HI"))
    spec = modes.add_parser("spectrum", help="evaluate fft_image + to_valid_rgb on a given spectrum")
    spec.add_argument("--spectrum", type=Path, required=True, help=".npy, float32 (2, B, 3, H, Wf)")
    spec.add_argument("--size", type=int, required=True, help="image height")
    spec.add_argument("--width", type=int, default=None, help="image width (default: --size)")
    spec.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point; see the module docstring."""
    args = _parse_args(argv)
    if args.mode == "render":
        channels = [int(text) for text in args.channels.split(",") if text.strip()]
        images, seconds = render(
            args.graph,
            args.layer,
            channels,
            args.size,
            args.steps,
            args.seed,
            input_name=args.input_name,
            value_range=tuple(args.value_range),
        )
        np.savez(args.out, images=images, channels=np.asarray(channels), seconds=seconds)
    elif args.mode == "time":
        serve_step_timing(
            args.graph,
            args.layer,
            args.channel,
            args.size,
            args.seed,
            args.warmup,
            input_name=args.input_name,
            value_range=tuple(args.value_range),
        )
    else:
        spectrum = np.load(args.spectrum)
        images, spatial = spectrum_image(spectrum, args.size, args.width)
        np.savez(args.out, images=images, spatial=spatial)


if __name__ == "__main__":
    main()
