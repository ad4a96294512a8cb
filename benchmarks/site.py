"""Benchmark the site build on a generated 30,000-image atlas.

    python benchmarks/site.py [--work build/bench-site] [--size 128] [--workers 2]

Writes a fake atlas (tests/helpers/fake_atlas.py: four full-width models,
4 x 7,280 channels, plus a temporal run, 29,984 images) once, then times:
a cold build into an empty dist/, a rebuild with nothing changed, and a
rebuild after one image changed. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT))

from fake_atlas import BENCHMARK_MODELS, ImageKey, replace_image, write_fake_atlas  # noqa: E402

from benchmarks.machine import describe_cpu  # noqa: E402
from vtl_gallery.build import build_site  # noqa: E402


def _du(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-site")
    parser.add_argument("--size", type=int, default=128, help="side of the fake images in pixels")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    atlas = args.work / f"atlas-{args.size}"
    if not (atlas / "catalog.sqlite").exists():
        started = time.perf_counter()
        print(f"writing the fake atlas to {atlas} ...", flush=True)
        write_fake_atlas(atlas, models=BENCHMARK_MODELS, size=args.size, workers=args.workers)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)
    dist = args.work / "dist"
    shutil.rmtree(dist, ignore_errors=True)

    def cpu() -> float:
        own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    def run(label: str):
        started, cpu_started = time.perf_counter(), cpu()
        report = build_site(
            atlas,
            dist,
            site_src=ROOT / "vtl_gallery" / "site_src",
            base_url="https://example.org/vtl/",
            workers=args.workers,
            log=lambda line: None,
        )
        seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
        timings = ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items())
        print(
            f"{label}: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU ({timings}); {report.summary()}",
            flush=True,
        )
        return seconds, cpu_seconds, report

    load = os.getloadavg()[0]
    cold, cold_cpu, report = run("cold build")
    warm, warm_cpu, _ = run("no-change rebuild")
    key = ImageKey("celeba", "final", "channel", "Mixed_4c_Branch_2_b_3x3", 17)
    replace_image(atlas, key, salt=int(time.time()), size=args.size)  # new pixels on every run
    one, one_cpu, _ = run("one image changed")

    print()
    print(f"- Machine: {describe_cpu()}")
    print(f"- Date: {datetime.date.today().isoformat()}")
    print(
        f"- Atlas: {report.images:,} fake images of {args.size}x{args.size} px, {report.pages:,} pages, "
        f"dist/ {_du(dist):,.0f} MB; {args.workers} worker processes for thumbnails"
    )
    print()
    print(f"- Load average when the cold build started: {load:.1f} (other processes share the cores)")
    print()
    print("| build | wall seconds | CPU seconds (all processes) |")
    print("|---|---|---|")
    print(f"| cold (empty dist/) | {cold:.1f} | {cold_cpu:.1f} |")
    print(f"| rebuild, nothing changed | {warm:.1f} | {warm_cpu:.1f} |")
    print(f"| rebuild, one image changed | {one:.1f} | {one_cpu:.1f} |")


if __name__ == "__main__":
    main()
