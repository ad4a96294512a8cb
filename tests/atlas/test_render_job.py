"""The render job end to end on tiny models: atlas layout, resume, faults, sharding."""

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.helpers.cli import start_vtl
from tests.helpers.fake_runs import write_tiny_experiment
from visualizer.atlas import catalog
from visualizer.atlas.job import render_atlas
from visualizer.atlas.plan import make_plan
from visualizer.config import ConfigError, load_config
from visualizer.pngio import AtlasWriteError, read_png
from visualizer.render.backend import kernel_library

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return write_tiny_experiment(root)


def test_render_writes_the_plan_and_a_consistent_catalog(experiment):
    config = load_config(experiment)
    summary = render_atlas(config, progress=False)
    plan = make_plan(config, with_costs=False)
    assert summary.rendered == plan.image_count == 2 * (1 + 3) * 3  # layers x snapshots x channels
    atlas = config.resolve_path(config.project.atlas_dir)
    report = catalog.check(atlas)
    assert report.ok and report.images == plan.image_count
    record = catalog.record_from_png(atlas, plan.keys[0].relpath)
    assert record.settings["size"] == 32 and record.model_info["channels"] == 8
    assert record.settings["kernels"] == kernel_library()
    again = render_atlas(config, progress=False)
    assert (again.rendered, again.existing) == (0, plan.image_count)


def test_same_seed_same_images_and_shards_merge(experiment, tmp_path):
    """Two shards rendered into separate folders merge into the unsharded atlas, pixel for pixel."""
    whole = load_config(experiment)
    render_atlas(whole, progress=False)
    whole_atlas = whole.resolve_path(whole.project.atlas_dir)
    merged = tmp_path / "merged"
    for index in range(2):
        shard_dir = tmp_path / f"shard{index}"
        config = load_config(experiment, {"project.atlas_dir": str(shard_dir)})
        render_atlas(config, shard=(index, 2), progress=False)
        shutil.copytree(shard_dir / "images", merged / "images", dirs_exist_ok=True)
    count, unreadable = catalog.rebuild(merged)
    assert unreadable == [] and count == catalog.check(whole_atlas).images
    for relpath in catalog.iter_image_files(whole_atlas):
        whole_pixels, whole_text = read_png(whole_atlas / relpath)
        merged_pixels, merged_text = read_png(merged / relpath)
        np.testing.assert_array_equal(whole_pixels, merged_pixels, err_msg=relpath)
        assert whole_text["vtl:settings"] == merged_text["vtl:settings"]


def test_missing_snapshot_fails_before_rendering(experiment, tmp_path):
    config = load_config(
        experiment, {"project.runs_dir": str(tmp_path / "nothing"), "project.atlas_dir": str(tmp_path / "a")}
    )
    with pytest.raises(ConfigError, match="not trained.*vtl train --config"):
        render_atlas(config, progress=False)
    assert not (tmp_path / "a").exists()


def test_unwritable_atlas_stops_with_a_clear_message(experiment, tmp_path):
    blocker = tmp_path / "atlas"
    blocker.write_text("a file where the atlas folder should be")
    config = load_config(experiment, {"project.atlas_dir": str(blocker)})
    with pytest.raises(AtlasWriteError, match="not writable"):
        render_atlas(config, progress=False)


def test_sigkill_at_random_points_then_resume(experiment, tmp_path):
    """Kill `vtl render` with SIGKILL at random moments; reruns finish with a consistent atlas."""
    atlas = tmp_path / "killed"
    args = ["render", "--config", str(experiment), "--atlas", str(atlas), "--quiet"]
    rng = random.Random(7)
    for _ in range(3):
        process = start_vtl(
            args, cwd=experiment.parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(4.0, 9.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
    finish = start_vtl(args, cwd=experiment.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err.decode()[-2000:]
    report = catalog.check(atlas)
    plan = make_plan(load_config(experiment), with_costs=False)
    assert report.ok, report
    assert report.images == plan.image_count and report.temporary == 0
    with catalog.Catalog(atlas) as cat:
        assert cat.count() == plan.image_count


def test_worker_processes_render_the_same_images(experiment, tmp_path):
    """Two worker processes give the atlas of one process, pixel for pixel, with a consistent catalog."""
    whole = load_config(experiment)
    render_atlas(whole, progress=False)
    whole_atlas = whole.resolve_path(whole.project.atlas_dir)
    config = load_config(experiment, {"project.atlas_dir": str(tmp_path / "workers")})
    summary = render_atlas(config, progress=False, workers=2)
    assert (summary.rendered, summary.failed) == (catalog.check(whole_atlas).images, 0)
    report = catalog.check(tmp_path / "workers")
    assert report.ok and report.images == summary.rendered
    for relpath in catalog.iter_image_files(whole_atlas):
        whole_pixels, whole_text = read_png(whole_atlas / relpath)
        worker_pixels, worker_text = read_png(tmp_path / "workers" / relpath)
        np.testing.assert_array_equal(whole_pixels, worker_pixels, err_msg=relpath)
        assert whole_text["vtl:settings"] == worker_text["vtl:settings"]
    assert multiprocessing.active_children() == []


def test_a_workers_error_reaches_the_caller_and_stops_the_others(experiment, tmp_path):
    """A snapshot that fails to load raises in the caller as it does without workers."""
    runs = tmp_path / "runs"
    shutil.copytree(experiment.parent.parent / "runs", runs)
    (runs / "celeba" / "iter_000010" / "model.keras").write_bytes(b"not a Keras file")
    errors = []
    for workers in (1, 2):
        overrides = {"project.runs_dir": str(runs), "project.atlas_dir": str(tmp_path / f"a{workers}")}
        with pytest.raises(Exception) as caught:
            render_atlas(load_config(experiment, overrides), progress=False, workers=workers)
        errors.append(caught.value)
        assert multiprocessing.active_children() == []
        assert catalog.check(tmp_path / f"a{workers}").ok  # what was written before the error is whole
    assert type(errors[1]) is type(errors[0]) and str(errors[1]) == str(errors[0])


def _children(pid: int) -> set[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    return {int(word) for word in open(path).read().split()} if os.path.exists(path) else set()


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads Linux's /proc")
def test_sigkill_of_the_parent_takes_its_workers_down_then_resume(experiment, tmp_path):
    """No orphaned worker keeps writing after `vtl render --workers 2` is killed; a rerun completes."""
    atlas = tmp_path / "killed"
    args = ["render", "--config", str(experiment), "--atlas", str(atlas), "--quiet", "--workers", "2"]
    # Long enough batches that a worker left alive would still be rendering when the parent dies.
    process = start_vtl(
        [*args, "--steps", "400"],
        cwd=experiment.parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while len(workers := _children(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(workers) >= 2, "the workers did not start"
    time.sleep(6.0)  # into the rendering
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(os.path.exists(f"/proc/{pid}") for pid in workers), "a worker outlived its parent"
    finish = start_vtl(args, cwd=experiment.parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = finish.communicate(timeout=600)
    assert finish.returncode == 0, err.decode()[-2000:]
    report = catalog.check(atlas)
    assert report.ok and report.temporary == 0
    assert report.images == make_plan(load_config(experiment), with_costs=False).image_count
