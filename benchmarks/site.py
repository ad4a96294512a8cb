"""Benchmark the site build on a generated 30,000-image atlas: time, and the size of dist/.

    python benchmarks/site.py [--work build/bench-site] [--size 128] [--workers 2]
                              [--downloads none|originals|zip|all] [--views lossless|lossy]
                              [--before] [--channels N]

Writes a fake atlas (tests/helpers/fake_atlas.py: four full-width models,
4 x 7,280 channels, plus a temporal run, 29,984 images) once, then times:
a cold build into an empty dist/, a rebuild with nothing changed, and a
rebuild after one image changed. ``--before`` first builds the layout the
gallery had before images were published once per size (``--downloads all
--views lossy``: PNG originals, ZIPs of them, lossy views and thumbnails)
into dist-before/, for its size and cold time in the same run. Prints the
size and file count of dist/ by kind of file, and a Markdown table for
BENCHMARKS.md. ``--channels N`` renders only the first N channels of each
layer, for a quick run.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import resource
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
sys.path.insert(0, str(ROOT))

from fake_atlas import BENCHMARK_MODELS, ImageKey, replace_image, write_fake_atlas  # noqa: E402

from benchmarks.machine import describe_cpu  # noqa: E402
from vtl_gallery.build import BuildReport, build_site  # noqa: E402
from vtl_gallery.publish import DOWNLOADS, VIEWS, Publishing  # noqa: E402

BEFORE = Publishing("all", "lossy")
"""What builds published before the default changed: every PNG twice (loose and zipped), lossy views."""


def _kind(relative: Path) -> str:
    """The row of the size table a file of dist/ counts in."""
    top = relative.parts[0] if len(relative.parts) > 1 else ""
    if relative.suffix == ".html":
        return "pages (.html)"
    if top in ("img", "view", "thumb") or relative.suffix == ".zip":
        return {"img": "originals (img/)", "view": "views (view/)", "thumb": "thumbnails (thumb/)"}.get(
            top, "ZIPs (downloads/)"
        )
    if relative.name in ("images.csv", "catalog.sqlite", "manifest.json"):
        return relative.name
    return "other (scripts, sitemap, static)"


def measure(dist: Path) -> dict[str, tuple[int, int]]:
    """Bytes and file count of dist/, by kind of file, with a ``total`` row."""
    sizes: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path in dist.rglob("*"):
        if path.is_file():
            row = sizes[_kind(path.relative_to(dist))]
            row[0] += path.stat().st_size
            row[1] += 1
    total = [sum(v[0] for v in sizes.values()), sum(v[1] for v in sizes.values())]
    return {**{k: (v[0], v[1]) for k, v in sorted(sizes.items())}, "total": (total[0], total[1])}


def _fewer_channels(models, channels: int) -> tuple:
    """The models with at most `channels` channels per layer (-1, every channel, counts as many)."""
    return tuple(
        dataclasses.replace(m, channels=channels if m.channels in (None, -1) else min(m.channels, channels))
        for m in models
    )


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "bench-site")
    parser.add_argument("--size", type=int, default=128, help="side of the fake images in pixels")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--downloads", choices=DOWNLOADS, default=DOWNLOADS[0], help="as vtl site --downloads"
    )
    parser.add_argument("--views", choices=VIEWS, default=VIEWS[0], help="as vtl site --views")
    parser.add_argument(
        "--before", action="store_true", help="also build the earlier layout (--downloads all --views lossy)"
    )
    parser.add_argument("--channels", type=int, default=None, help="only the first N channels of each layer")
    args = parser.parse_args()
    publishing = Publishing(args.downloads, args.views)

    models, name = BENCHMARK_MODELS, f"atlas-{args.size}"
    if args.channels is not None:
        models, name = _fewer_channels(models, args.channels), f"{name}-{args.channels}ch"
    atlas = args.work / name
    if not (atlas / "catalog.sqlite").exists():
        started = time.perf_counter()
        print(f"writing the fake atlas to {atlas} ...", flush=True)
        write_fake_atlas(atlas, models=models, size=args.size, workers=args.workers)
        print(f"  {time.perf_counter() - started:.0f} s", flush=True)

    def run(label: str, dist: Path, how: Publishing) -> tuple[float, float, BuildReport]:
        started, cpu_started = time.perf_counter(), _cpu()
        report = build_site(
            atlas,
            dist,
            site_src=ROOT / "vtl_gallery" / "site_src",
            base_url="https://example.org/vtl/",
            workers=args.workers,
            publishing=how,
            figures="auto",  # as `vtl site` (figures 6 and 7 only, for an atlas this large)
            log=lambda line: None,
        )
        seconds, cpu_seconds = time.perf_counter() - started, _cpu() - cpu_started
        timings = ", ".join(f"{k} {v:.1f}" for k, v in report.timings.items())
        print(
            f"{label}: {seconds:.1f} s wall, {cpu_seconds:.1f} s CPU ({timings}); {report.summary()}",
            flush=True,
        )
        return seconds, cpu_seconds, report

    load = os.getloadavg()[0]
    sizes: dict[str, dict[str, tuple[int, int]]] = {}
    times: dict[str, tuple[float, float, BuildReport]] = {}
    if args.before:
        before = args.work / "dist-before"
        shutil.rmtree(before, ignore_errors=True)
        times["before"] = run("cold build, earlier layout (--downloads all --views lossy)", before, BEFORE)
        sizes["before"] = measure(before)
        shutil.rmtree(before)  # a second copy of every PNG: not kept under build/
    dist = args.work / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    label = f"--downloads {args.downloads} --views {args.views}"
    times["cold"] = run(f"cold build ({label})", dist, publishing)
    report = times["cold"][2]
    sizes["now"] = measure(dist)
    times["warm"] = run("no-change rebuild", dist, publishing)
    key = ImageKey("celeba", "final", "channel", "Mixed_4c_Branch_2_b_3x3", 17)
    replace_image(atlas, key, salt=int(time.time()), size=args.size)  # new pixels on every run
    times["one"] = run("one image changed", dist, publishing)

    print()
    print(f"- Machine: {describe_cpu()}")
    print(f"- Date: {datetime.date.today().isoformat()}")
    print(
        f"- Atlas: {report.images:,} fake images of {args.size}x{args.size} px, {report.pages:,} pages; "
        f"{args.workers} worker processes for images"
    )
    print(f"- Load average when the first build started: {load:.1f} (other processes share the cores)")
    print()
    columns = [c for c in ("before", "now") if c in sizes]
    heads = {"before": "earlier layout (`--downloads all --views lossy`)", "now": f"`{label}`"}
    print("| dist/ | " + " | ".join(f"{heads[c]} MB | files" for c in columns) + " |")
    print("|---|" + "---|---|" * len(columns))
    kinds = sorted({k for c in columns for k in sizes[c]} - {"total"}) + ["total"]
    for kind in kinds:
        cells = []
        for c in columns:
            size, count = sizes[c].get(kind, (0, 0))
            cells.append(f"{size / 1e6:,.1f} | {count:,}")
        print(f"| {kind} | " + " | ".join(cells) + " |")
    print()
    print("| build | wall seconds | CPU seconds (all processes) |")
    print("|---|---|---|")
    if "before" in times:
        print(f"| cold, earlier layout | {times['before'][0]:.1f} | {times['before'][1]:.1f} |")
    print(f"| cold (empty dist/) | {times['cold'][0]:.1f} | {times['cold'][1]:.1f} |")
    print(f"| rebuild, nothing changed | {times['warm'][0]:.1f} | {times['warm'][1]:.1f} |")
    print(f"| rebuild, one image changed | {times['one'][0]:.1f} | {times['one'][1]:.1f} |")


if __name__ == "__main__":
    main()
