"""Benchmark `vtl render` with one process against several worker processes.

    python benchmarks/atlas.py [--config configs/demo.toml] [--workers 1 auto] [--steps N]

Renders the config's whole plan once per worker count, each into a fresh
temporary atlas, from the trained snapshots in the config's runs directory
(`make train` makes the demo's). Prints seconds, images per second and the
speed-up over the first count, and checks that every count gives the same
pixels as the first. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # workers inherit it: no start-up chatter
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from benchmarks.machine import describe_cpu  # noqa: E402
from visualizer.atlas.catalog import check, iter_image_files  # noqa: E402
from visualizer.atlas.job import render_atlas  # noqa: E402
from visualizer.atlas.workers import resolve_workers, worker_threads  # noqa: E402
from visualizer.config import ConfigError, load_config  # noqa: E402
from visualizer.pngio import read_png  # noqa: E402


class PeakMemory:
    """Samples the resident memory of this process and its children (Linux /proc) until stopped."""

    def __init__(self, interval: float = 0.5):
        self.peak_bytes, self._interval = 0, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak_bytes = max(self.peak_bytes, sum(_rss(pid) for pid in _tree(os.getpid())))


def _tree(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return [pid]
    return [pid] + [p for child in children for p in _tree(int(child))]


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def same_pixels(reference: Path, other: Path) -> bool:
    """Whether two atlases hold the same image files with the same pixels."""
    paths = sorted(iter_image_files(reference))
    if paths != sorted(iter_image_files(other)):
        return False
    return all(np.array_equal(read_png(reference / p)[0], read_png(other / p)[0]) for p in paths)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "configs" / "demo.toml"))
    parser.add_argument("--workers", nargs="+", default=["1", "auto"], help="worker counts to time, in order")
    parser.add_argument("--steps", type=int, help="optimization steps (overrides render.steps)")
    args = parser.parse_args(argv)
    counts = [resolve_workers(value) for value in args.workers]
    overrides = {"render.steps": args.steps} if args.steps else {}
    work = Path(tempfile.mkdtemp(prefix="vtl-bench-atlas-"))
    rows = []
    try:
        for count in counts:
            atlas = work / f"workers-{count}-{len(rows)}"
            config = load_config(args.config, {**overrides, "project.atlas_dir": str(atlas)})
            print(f"rendering with {count} worker(s)...", file=sys.stderr, flush=True)
            with PeakMemory() as memory:
                summary = render_atlas(config, progress=True, workers=count)
            report = check(atlas)
            same = same_pixels(rows[0]["atlas"], atlas) if rows else True
            rows.append(
                dict(
                    atlas=atlas,
                    workers=count,
                    threads=worker_threads(count) if count > 1 else "default",
                    seconds=summary.seconds,
                    images=summary.rendered,
                    ok=report.ok and summary.failed == 0,
                    same=same,
                    memory=memory.peak_bytes,
                )
            )
    except ConfigError as error:
        raise SystemExit(f"{error}\n(the demo's models: make train)") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)

    config = load_config(args.config, overrides)
    print(f"Machine: {describe_cpu()}")
    print(
        f"Date: {time.strftime('%Y-%m-%d')}; config {args.config}: "
        f"{rows[0]['images']} images, {config.render.size} px, {config.render.steps} steps"
    )
    print("| workers | threads each | seconds | images/s | speed-up | peak GB | same pixels | catalog ok |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['workers']} | {row['threads']} | {row['seconds']:.1f} "
            f"| {row['images'] / row['seconds']:.2f} | {rows[0]['seconds'] / row['seconds']:.2f}x "
            f"| {row['memory'] / 1e9:.2f} | "
            f"{'yes' if row['same'] else 'NO'} | {'yes' if row['ok'] else 'NO'} |"
        )
    if not all(row["same"] and row["ok"] for row in rows):
        raise SystemExit("the worker counts disagree: see the table")


if __name__ == "__main__":
    main()
