"""Render a plan into an atlas directory, resumably.

The order of work: check everything that can be checked before rendering
(snapshots trained, atlas writable), take the atlas's writer lock
(`visualizer.atlas.lock`), reconcile the catalog with the files a previous
run may have left (damaged images are deleted, so they are rendered again),
then render batch by batch (`visualizer.atlas.batch`), writing each image
atomically and indexing it, in this process or in several worker processes
(`visualizer.atlas.workers`). Killing the run at any moment loses at most the
batches in flight; a rerun skips what exists and is sound.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from visualizer.atlas.batch import BatchRenderer
from visualizer.atlas.catalog import Catalog, remove_temporary_files, sync
from visualizer.atlas.lock import atlas_lock
from visualizer.atlas.plan import Plan, RenderBatch, make_plan
from visualizer.config import Config, ConfigError
from visualizer.pngio import AtlasWriteError
from visualizer.train.snapshots import read_meta, snapshot_dir

__all__ = [
    "RenderSummary",
    "check_atlas_writable",
    "check_snapshots",
    "plan_summary",
    "render_atlas",
    "with_networks",
]


@dataclass
class RenderSummary:
    """What a render run did."""

    planned: int = 0
    existing: int = 0
    rendered: int = 0
    failed: int = 0
    repaired: int = 0  # damaged images found, deleted and rendered again
    seconds: float = 0.0


def existing_counts(atlas_dir: Path, plan: Plan) -> list[int]:
    """How many images of each batch of `plan` are already in the atlas."""
    return present_counts(plan, {key.relpath for key in plan.keys if (atlas_dir / key.relpath).is_file()})


def present_counts(plan: Plan, present: set[str]) -> list[int]:
    """How many images of each batch of `plan` have their path in `present`."""
    return [sum(key.relpath in present for key in batch.keys) for batch in plan.batches]


def check_snapshots(config: Config, plan: Plan) -> dict[tuple[str, str], dict]:
    """Read the meta.json of every snapshot the plan needs.

    Returns:
        {(model, snapshot): meta}.

    Raises:
        ConfigError: listing every snapshot that is not trained yet, and the
            command that trains it.
    """
    runs_dir = config.resolve_path(config.project.runs_dir)
    metas: dict[tuple[str, str], dict] = {}
    missing: list[str] = []
    from visualizer.atlas.sources import frozen_meta

    for model, snapshot in dict.fromkeys((b.model, b.snapshot) for b in plan.batches):
        if config.model(model).source == "frozen_graph":  # rendered from its file, not from runs
            metas[(model, snapshot)] = frozen_meta(config, model)
            continue
        meta = read_meta(snapshot_dir(runs_dir, model, snapshot))
        if meta is not None:
            metas[(model, snapshot)] = meta
        else:
            missing.append(f"{model}/{snapshot} ({snapshot_dir(runs_dir, model, snapshot)})")
    if missing:
        raise ConfigError(
            f"{len(missing)} model snapshot(s) the plan needs are not trained: {', '.join(missing[:10])}"
            + (" ..." if len(missing) > 10 else "")
            + f". Train them first: vtl train --config {config.path}"
        )
    return metas


def with_networks(
    config: Config, plan: Plan, metas: dict[tuple[str, str], dict]
) -> dict[tuple[str, str], dict]:
    """`metas` with each model's network (`visualizer.atlas.networks.network_info` reads them per image).

    Each meta gains ``network``, ``network_label``, ``network_layers`` (its
    catalogue's size) and, for networks other than InceptionV1, ``layer_facts``:
    {layer id: catalogue facts} of the layers the plan renders of that model.
    """
    from visualizer.atlas.networks import layer_facts
    from visualizer.atlas.sources import model_catalogue, network_identity
    from visualizer.models.layers import LAYERS

    wanted: dict[str, set[str]] = {}
    for batch in plan.batches:
        wanted.setdefault(batch.model, set()).add(batch.layer)
    result = dict(metas)
    for model, layers in wanted.items():
        network, label = network_identity(config, model)
        catalogue = model_catalogue(config, model)
        facts = {info.id: layer_facts(info) for info in catalogue or () if info.id in layers}
        extra = {
            "network": network,
            "network_label": label,
            "network_layers": len(LAYERS) if catalogue is None else len(catalogue),
            "layer_facts": facts,
        }
        for (name, snapshot), meta in metas.items():
            if name == model:
                result[(name, snapshot)] = {**meta, **extra}
    return result


def check_atlas_writable(atlas_dir: Path) -> None:
    """Fail early, with the path and the reason, when the atlas cannot be written."""
    try:
        atlas_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=atlas_dir, prefix=".probe-"):
            pass
    except OSError as error:
        raise AtlasWriteError(
            error.errno, f"The atlas directory {atlas_dir} is not writable: {error.strerror or error}"
        ) from error


def render_atlas(
    config: Config,
    shard: tuple[int, int] | None = None,
    models: Sequence[str] | None = None,
    progress: bool = True,
    workers: int = 1,
    verify: bool = False,
    wait: bool = True,
) -> RenderSummary:
    """Render the config's plan (or one shard of it) into its atlas directory.

    Args:
        config: the experiment (``render`` settings, plan, runs and atlas dirs).
        shard: (index, count), 0-based, to render a deterministic share.
        models: restrict to these models.
        progress: show a progress bar with images done, rate and ETA.
        workers: processes rendering batches side by side on this machine
            (``visualizer.atlas.workers``); 1 renders in this process. The
            images are the same for any number of workers.
        verify: decode and checksum every planned image already present,
            not only those whose size or modification time changed.
        wait: when another process is writing to the atlas, wait for it
            (with a message); False raises `AtlasLockedError` instead.

    Returns:
        A `RenderSummary`.

    Raises:
        ConfigError: a snapshot is not trained, or the plan is invalid (before any rendering).
        AtlasWriteError: the atlas cannot be written (nothing rendered is lost).
        AtlasLockedError: another process holds the atlas and `wait` is False.
        ValueError: `workers` is below 1.
    """
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers must be 1 or more, got {workers}.")
    start = time.perf_counter()
    plan = make_plan(config, models=models, with_costs=shard is not None)
    if shard is not None:
        plan = plan.shard(*shard)
    metas = with_networks(config, plan, check_snapshots(config, plan))
    atlas_dir = config.resolve_path(config.project.atlas_dir)
    check_atlas_writable(atlas_dir)

    def say(message: str) -> None:
        tqdm.write(f"vtl render: {message}", file=sys.stderr)

    from visualizer.render.compile_stats import compile_log
    from visualizer.render.jax_cache import cache_dir_for, enable_persistent_cache

    # JAX only (no-ops elsewhere): compiled steps kept under the atlas for shards and reruns, and counted.
    enable_persistent_cache(cache_dir_for(atlas_dir))
    compiles = compile_log()
    before = compiles.snapshot() if compiles is not None else None
    with atlas_lock(atlas_dir, shard, wait=wait, on_wait=say) as temp_prefix:
        summary = _render_locked(config, plan, metas, atlas_dir, temp_prefix, progress, workers, verify)
    summary.seconds = time.perf_counter() - start
    if compiles is not None and workers == 1:
        say(f"JAX: {(compiles.snapshot() - before).summary()}")
    return summary


def _render_locked(
    config: Config,
    plan: Plan,
    metas: dict,
    atlas_dir: Path,
    temp_prefix: str,
    progress: bool,
    workers: int,
    verify: bool,
) -> RenderSummary:
    """`render_atlas`'s work once this process holds the atlas lock."""
    from tqdm import tqdm

    remove_temporary_files(atlas_dir, temp_prefix)
    synced = sync(atlas_dir, [key.relpath for key in plan.keys], full=verify)
    done = present_counts(plan, synced.sound)  # sync has just looked at every planned file
    todo = [batch for batch, count in zip(plan.batches, done) if count < len(batch.channels)]
    summary = RenderSummary(planned=plan.image_count, existing=sum(done), repaired=len(synced.damaged))
    remaining = plan.image_count - summary.existing

    bar = tqdm(total=remaining, unit="img", desc="render", disable=not progress, dynamic_ncols=True)
    if synced.damaged:
        bar.write(f"{len(synced.damaged)} damaged image(s) found and deleted; rendering them again")
    with Catalog(atlas_dir) as catalog:
        catalog.set_meta("title", config.project.name)
        catalog.set_meta("config_hash", config.digest())
        catalog.set_networks({model: meta for (model, _), meta in metas.items()})
    workers = min(workers, len(todo))
    if workers > 1:
        from visualizer.atlas.workers import render_in_workers

        bar.set_postfix_str(f"{workers} worker processes", refresh=False)
        finished = render_in_workers(config, todo, metas, atlas_dir, workers, temp_prefix=temp_prefix)
    else:
        finished = _render_here(config, todo, metas, atlas_dir, bar, temp_prefix)
    try:
        for _batch, written, failed in finished:
            summary.rendered += written
            summary.failed += failed
            bar.update(written)
    finally:
        finished.close()  # stops the workers when this loop ends early (an error, Ctrl-C)
        bar.close()
    return summary


def _render_here(
    config: Config, batches: list[RenderBatch], metas: dict, atlas_dir: Path, bar, temp_prefix: str
) -> Iterator[tuple[RenderBatch, int, int]]:
    """Render `batches` in this process, yielding (batch, images written, channels failed) for each."""
    renderer = BatchRenderer(config, metas, atlas_dir, temp_prefix)
    with Catalog(atlas_dir) as catalog:
        for batch in batches:
            bar.set_postfix_str(f"{batch.model}/{batch.snapshot} {batch.layer}", refresh=False)
            yield (batch, *renderer.render(batch, catalog))


def plan_summary(
    config: Config, plan: Plan, seconds_per_tflop: float | None = None, seconds_per_step: float = 0.0
) -> dict:
    """Count a plan's images, those already in the atlas, and estimate its cost.

    The estimate has two terms: the remaining FLOPs at `seconds_per_tflop`,
    and the remaining optimization steps (each unfinished batch's own, or
    ``plan.steps``) at `seconds_per_step`, the cost of a step that does not
    grow with the network (small operations, dispatch, per-batch set-up),
    which dominates small networks such as the demo's.

    Args:
        config: the experiment (its atlas is read for existing images).
        plan: the plan, or one shard of it.
        seconds_per_tflop: seconds per TFLOP of the plan's nominal FLOPs; None
            leaves the estimate out.
        seconds_per_step: seconds added per optimization step.

    Returns:
        A dict with images, existing, remaining, batches, size, steps,
        remaining_batches, remaining_steps, tflops (remaining) and, when
        `seconds_per_tflop` is given, the estimated seconds in one process.
    """
    done = existing_counts(config.resolve_path(config.project.atlas_dir), plan)
    existing = sum(done)
    unfinished = [batch for batch, count in zip(plan.batches, done) if count < len(batch.channels)]
    result = {
        "images": plan.image_count,
        "existing": existing,
        "remaining": plan.image_count - existing,
        "batches": len(plan.batches),
        "size": plan.size,
        "steps": plan.steps,
        "remaining_batches": len(unfinished),
        "remaining_steps": sum(plan.steps if batch.steps is None else batch.steps for batch in unfinished),
        "tflops": sum(batch.cost for batch in unfinished) / 1e12,
    }
    if seconds_per_tflop is not None:
        result["seconds"] = (
            result["tflops"] * seconds_per_tflop + result["remaining_steps"] * seconds_per_step
        )
    return result
