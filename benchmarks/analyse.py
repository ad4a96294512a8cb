"""Benchmark `vtl analyse` (every metric and observation) on a generated paper-sized atlas.

    python benchmarks/analyse.py [--work build/bench-analyse] [--size 256] [--workers 2] [--channels N]

Writes once, under --work: a fake atlas (tests/helpers/fake_atlas.py: four
full-width models, 4 x 7,280 channels of 57 layers, plus a temporal run of
6 snapshots of figure 6's layers, 29,984 images; the paper's has 29,888, its
temporal run 768) and full-width InceptionV1 models for it in a runs
directory (random weights, the transferred ones perturbed). Then times the
three pairs imagenet -> celeba, flowers17, animals with 512 held-out images
(the faces world at 224 px), as `vtl analyse` runs them, then the same again
with nothing changed. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT))

from fake_atlas import BENCHMARK_MODELS, write_fake_atlas  # noqa: E402

from benchmarks.machine import describe_cpu  # noqa: E402

PAIRS = ("celeba", "flowers17", "animals")
TRAINING_IMAGES = {"celeba": 162_770, "flowers17": 1_360, "animals": 6_200}  # the paper's training sets


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _models(channels: int | None) -> tuple:
    """The benchmark's models, with only the first `channels` channels of each layer when given."""
    if channels is None:
        return BENCHMARK_MODELS
    return tuple(
        dataclasses.replace(
            model, channels=channels if model.channels in (None, -1) else min(channels, model.channels)
        )
        for model in BENCHMARK_MODELS
    )


def _write_runs(runs: Path) -> None:
    """Full-width models for every model and snapshot of the fake atlas (random weights)."""
    import json

    import keras
    import numpy as np

    from visualizer.models import inception_v1

    keras.utils.set_random_seed(0)
    parent = inception_v1.build(width=1.0, head="single_dense", num_classes=10)
    rng = np.random.default_rng(0)
    for fake in BENCHMARK_MODELS:
        model = parent
        if fake.parent:
            model = keras.models.clone_model(parent)
            model.set_weights(
                [w + 0.3 * np.std(w) * rng.standard_normal(w.shape) for w in parent.get_weights()]
            )
        for snapshot, iteration, _ in fake.snapshots:
            folder = runs / fake.name / snapshot
            folder.mkdir(parents=True, exist_ok=True)
            model.save(folder / "model.keras")
            meta = {"model": fake.name, "snapshot": snapshot, "iteration": iteration}
            (folder / "meta.json").write_text(json.dumps(meta))


def main() -> None:
    """Write the atlas and models when missing, then time the analysis."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-analyse")
    parser.add_argument("--size", type=int, default=256, help="side of the fake images (the paper's: 256)")
    parser.add_argument("--workers", type=int, default=2, help="processes writing the fake atlas")
    parser.add_argument("--channels", type=int, default=None, help="only the first N channels of each layer")
    parser.add_argument("--held-out", type=int, default=512, help="held-out images for CKA and redundancy")
    args = parser.parse_args()

    name = f"atlas-{args.size}" + (f"-{args.channels}ch" if args.channels else "")
    atlas, runs = args.work / name, args.work / "runs"
    if not (atlas / "catalog.sqlite").exists():
        started = time.perf_counter()
        print(f"writing the fake atlas to {atlas} ...", flush=True)
        write_fake_atlas(
            atlas, models=_models(args.channels), size=args.size, methods=("lucid",), workers=args.workers
        )
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    if not (runs / "celeba_temporal" / "final" / "meta.json").exists():
        started = time.perf_counter()
        print(f"writing full-width models to {runs} ...", flush=True)
        _write_runs(runs)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)

    from visualizer.analysis.pipeline import Settings, analyse
    from visualizer.data.worlds import open_world

    dataset = open_world("faces", 224, 0)
    images = next(iter(dataset.validation_batches(args.held_out)))[0]
    settings = Settings(held_out=args.held_out)
    load = os.getloadavg()[0]

    def run_all(label: str) -> tuple[float, float, int, int]:
        started, cpu_started, computed, reused = time.perf_counter(), _cpu(), 0, 0
        for after in PAIRS:
            began = time.perf_counter()
            result = analyse(
                atlas,
                "imagenet",
                after,
                runs_dir=runs,
                held_out=(images, "faces world"),
                dataset_sizes=TRAINING_IMAGES,
                settings=settings,
                log=lambda line, began=began: print(
                    f"  {time.perf_counter() - began:7.1f} s  {line}", flush=True
                ),
            )
            computed, reused = computed + result.computed, reused + result.reused
            verdicts = ", ".join(f"{e.id} {e.holds}" for e in result.observations)
            print(
                f"{label}: imagenet -> {after}: {time.perf_counter() - began:.1f} s ({verdicts})", flush=True
            )
        return time.perf_counter() - started, _cpu() - cpu_started, computed, reused

    first = run_all("first run")
    again = run_all("nothing changed")
    from visualizer.analysis.atlasindex import AtlasIndex

    index = AtlasIndex(atlas)
    count = sum(
        len(index.images(m, s, "lucid")) for m in index.models for s, _ in index.snapshots(m, "lucid")
    )
    print()
    print(f"- Machine: {describe_cpu()}")
    print(f"- Date: {datetime.date.today().isoformat()}")
    print(
        f"- Atlas: {count:,} fake images of {args.size}x{args.size} px (measured at {settings.size} px), "
        f"full-width models; {args.held_out} held-out images of 224 px"
    )
    print(f"- Load average when the first run started: {load:.1f} (other processes share the cores)")
    print()
    print("| run | wall seconds | CPU seconds | parts measured | parts reused |")
    print("|---|---|---|---|---|")
    print(f"| three pairs, every metric | {first[0]:.0f} | {first[1]:.0f} | {first[2]} | {first[3]} |")
    print(f"| the same, nothing changed | {again[0]:.0f} | {again[1]:.0f} | {again[2]} | {again[3]} |")


if __name__ == "__main__":
    main()
