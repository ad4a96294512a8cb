"""Parity with Lucid itself (issue #3): Lucid 0.3.10 runs as an oracle in a subprocess.

Lucid is TF1 code pinned to numpy<=1.19; ``tests/helpers/lucid_shim.py`` makes
it run on TF 2.x in graph mode inside ``tests/helpers/lucid_oracle.py``, never
in this process. Both sides see the same network: the project's InceptionV1 at
width 0.125 with seeded random weights (``tests/helpers/frozen_models.py``),
used directly by the Keras renderer and frozen to a TF1 GraphDef for Lucid.

The tests are skipped when ``lucid`` is not installed
(``pip install --no-deps lucid==0.3.10``; the Makefile does it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

HELPERS = Path(__file__).resolve().parents[1] / "helpers"
ORACLE = HELPERS / "lucid_oracle.py"

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("lucid") is None,
    reason="lucid is not installed: run `.venv/bin/pip install --no-deps lucid==0.3.10` (the Makefile does)",
)

# The rendering comparison: one layer of the small network, 8 of its 16 channels.
LAYER = "Mixed_3b_Branch_1_b_3x3"
CHANNELS = (2, 3, 6, 7, 10, 11, 12, 15)
SIZE = 64
STEPS = 256  # Lucid's thresholds=(256,): 257 Adam updates on both sides
SEED = 0
MEDIAN_GAP_TOLERANCE = 0.15
CHANNEL_GAP_TOLERANCE = 0.50


def _python(args: list[str], timeout: float = 300.0) -> subprocess.CompletedProcess:
    """Run the venv's Python on `args` in a fresh process, failing the test with its stderr."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"{' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done


def _oracle(mode: str, out: Path, *options: str) -> dict[str, np.ndarray]:
    """Run ``lucid_oracle.py <mode> ... --out out`` and load what it wrote."""
    _python([str(ORACLE), mode, *options, "--out", str(out)])
    with np.load(out) as saved:
        return {key: saved[key] for key in saved.files}


@pytest.mark.parametrize("size", [64, pytest.param(45, marks=pytest.mark.slow)])
def test_fft_decorrelated_image_matches_lucid(tmp_path: Path, size: int) -> None:
    """From one spectrum, `param.fft_image` and Lucid's ``fft_image`` + ``to_valid_rgb`` agree to 1e-5.

    Three batch slots use spectra of standard deviation 0.01 (Lucid's initial
    draw, a near-grey image), 0.1 and 1 (saturated colours), so the check
    covers the whole sigmoid range; 45 px exercises odd widths (Lucid keeps
    one extra frequency column and crops one pixel).
    """
    from visualizer.render import param

    image_param = param.fft_image(3, size, size)
    rng = np.random.default_rng(size)
    scales = np.asarray([0.01, 0.1, 1.0], dtype=np.float32)[None, :, None, None, None]
    spectrum = (rng.standard_normal(image_param.shape) * scales).astype(np.float32)
    np.save(tmp_path / "spectrum.npy", spectrum)

    lucid = _oracle(
        "spectrum", tmp_path / "lucid.npz", "--spectrum", str(tmp_path / "spectrum.npy"), "--size", str(size)
    )
    ours = np.asarray(image_param(spectrum))

    assert ours.shape == lucid["images"].shape == (3, size, size, 3)
    assert lucid["images"][2].std() > 0.1, "the saturated slot should span most of (0, 1)"
    gap = np.abs(ours - lucid["images"]).max()
    print(f"\n{size} px: largest |ours - lucid| = {gap:.2e}")
    assert gap < 1e-5


@pytest.mark.slow
def test_shim_rotate_is_contrib_rotate(tmp_path: Path) -> None:
    """The shim's ``tf.contrib.image.rotate``: counter-clockwise, nearest neighbour, zero fill, same size."""
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(HELPERS)!r})
        import lucid_shim
        lucid_shim.install()
        import numpy as np
        import tensorflow as tf
        dot = np.zeros((1, 5, 7, 1), np.float32)
        dot[0, 2, 5, 0] = 1.0  # two pixels right of the centre (2, 3)
        ones = np.ones((1, 6, 6, 1), np.float32)
        with tf.Session() as session:
            quarter = session.run(tf.contrib.image.rotate(tf.constant(dot), np.pi / 2))
            tilted = session.run(tf.contrib.image.rotate(tf.constant(ones), 0.3))
        np.savez({str(tmp_path / "rotate.npz")!r}, quarter=quarter, tilted=tilted)
        """
    )
    _python(["-c", script])
    with np.load(tmp_path / "rotate.npz") as saved:
        quarter, tilted = saved["quarter"][0, :, :, 0], saved["tilted"][0, :, :, 0]
    expected = np.zeros((5, 7), np.float32)
    expected[0, 3] = 1.0  # right of the centre turns to above it
    np.testing.assert_array_equal(quarter, expected)
    assert set(np.unique(tilted)) == {0.0, 1.0}, "nearest neighbour and zero fill give only 0 and 1"
    assert tilted[0, 0] == tilted[-1, -1] == 0.0 and tilted[2:4, 2:4].min() == 1.0


@pytest.fixture(scope="module")
def small_network(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path, str]:
    """The width-0.125 InceptionV1 with seeded weights, and its frozen graph truncated at `LAYER`."""
    from tests.helpers import frozen_models
    from visualizer.models.frozen_graph import export_frozen_graph

    model = frozen_models.build_model(width=0.125, seed=0)
    graph = tmp_path_factory.mktemp("lucid_parity") / "network.pb"
    tensor = export_frozen_graph(model, LAYER, graph)
    return model, graph, tensor


def _channel_objectives(model: object, images: np.ndarray) -> np.ndarray:
    """Spatial mean of channel ``CHANNELS[i]`` of `LAYER` on image i (untransformed)."""
    from visualizer.models.graph import truncate

    probe = truncate(model, LAYER)
    acts = np.asarray(probe(images.astype(np.float32), training=False))
    return acts.mean(axis=(1, 2))[np.arange(len(CHANNELS)), list(CHANNELS)]


@pytest.mark.slow
def test_render_channels_matches_lucid_render_vis(small_network, tmp_path: Path) -> None:
    """`render_channels` reaches the channel objectives Lucid's ``render_vis`` reaches.

    Both render channels 2, 3, 6, 7, 10, 11, 12 and 15 of
    ``Mixed_3b_Branch_1_b_3x3`` (16 channels at width 0.125) as one batch of
    64 px images: FFT parameterization, decorrelated colours, standard
    transforms, Adam 0.05, redirected ReLU gradient for 17 updates, 257
    updates (Lucid's ``thresholds=(256,)``; ``lucid_step_count=True`` here).
    Each final image's objective, the spatial mean of its channel on the
    untransformed image, is computed with the same Keras model for both, and
    the gap is ``|ours - lucid| / lucid`` per channel.

    Calibration (2-core CPU, TF 2.21, 2026-11-27; BENCHMARKS.md, "Parity with
    Lucid"): Lucid against itself, seeds 0-5 taken in all 30 ordered pairs,
    gives per-pair median gaps of 2.5-10.1% (median 5.9%) and per-channel gaps
    up to 48% (95th percentile 20.5%; channels 2, 3 and 7 vary most). Ours
    (seeds 0-3) against Lucid (seeds 0-5): per-pair median gaps up to 7.9%
    (median 5.0%), per channel up to 28%; ours seed 0 against Lucid seed 0,
    the pair this test runs: median 3.1%, largest 12.3%. Hence the
    tolerances: median gap below 15% and every channel within 50%, just above
    the worst that Lucid does against itself.
    """
    from visualizer.render import render_channels

    model, graph, tensor = small_network
    lucid = _oracle(
        "render",
        tmp_path / "lucid.npz",
        "--graph", str(graph),
        "--layer", tensor,
        "--channels", ",".join(str(c) for c in CHANNELS),
        "--size", str(SIZE),
        "--steps", str(STEPS),
        "--seed", str(SEED),
        "--value-range", "0", "1",
    )  # fmt: skip
    ours = render_channels(
        model, LAYER, list(CHANNELS), size=SIZE, steps=STEPS, seed=SEED, progress=False, lucid_step_count=True
    )
    assert ours.failed == []
    assert lucid["images"].shape == ours.images.shape == (len(CHANNELS), SIZE, SIZE, 3)

    lucid_values = _channel_objectives(model, lucid["images"])
    our_values = _channel_objectives(model, ours.images)
    gaps = np.abs(our_values - lucid_values) / np.abs(lucid_values)
    report = "\n".join(
        f"  {LAYER}:{c:<3d} lucid {lv:8.4f}  ours {ov:8.4f}  gap {g:6.1%}"
        for c, lv, ov, g in zip(CHANNELS, lucid_values, our_values, gaps)
    )
    heading = f"channel objectives after {STEPS + 1} updates, {SIZE} px"
    print(f"\n{heading}:\n{report}\n  median gap {np.median(gaps):.1%}")

    noise = np.random.default_rng(SEED).uniform(0.0, 1.0, (len(CHANNELS), SIZE, SIZE, 3))
    noise_values = _channel_objectives(model, noise)
    # Both optimizations took off: every channel well above what uniform noise earns (0.05-2.0).
    assert np.all(lucid_values > 2.0 * noise_values), f"Lucid did not optimize:\n{report}"
    assert np.all(our_values > 2.0 * noise_values), f"render_channels did not optimize:\n{report}"
    assert np.median(gaps) < MEDIAN_GAP_TOLERANCE, report
    assert gaps.max() < CHANNEL_GAP_TOLERANCE, report
