"""Training: learning happens, finished runs stay, interrupted runs resume exactly."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.train.conftest import CONFIG, copy_parent, write_config
from visualizer.config import ConfigError, load_config
from visualizer.train import list_snapshots, load_snapshot, train_all
from visualizer.train.trainer import TrainError


def _weights(runs, model, snapshot):
    network, _ = load_snapshot(runs, model, snapshot)
    return [np.asarray(v) for v in network.variables]


def _assert_same_snapshot(runs_a, runs_b, model, snapshot):
    a, b = _weights(runs_a, model, snapshot), _weights(runs_b, model, snapshot)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-6)


def test_pretraining_beats_chance(trained):
    (meta,) = list_snapshots(trained / "runs", "parent")
    assert meta["metric"] > 2 * (1 / 8), meta["metric"]  # 8 balanced breeds


def test_finished_model_is_not_trained_again(trained):
    stamp = (trained / "runs" / "child" / "final" / "meta.json").stat().st_mtime_ns
    results = train_all(load_config(trained / "configs" / "tiny.toml"), ["child"], progress=False)
    assert [r.status for r in results] == ["finished before"]
    assert (trained / "runs" / "child" / "final" / "meta.json").stat().st_mtime_ns == stamp


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_interrupted_run_resumes_with_identical_snapshots(trained, tmp_path):
    """A crash after step 3 resumes from iter_000002 and gives the same iter_000004 and final."""
    config = load_config(copy_parent(trained, tmp_path))

    def crash(model, steps_done):
        if steps_done == 3:
            raise Interrupt

    with pytest.raises(Interrupt):
        train_all(config, ["child"], progress=False, on_step=crash)
    runs = tmp_path / "runs"
    assert [m["snapshot"] for m in list_snapshots(runs, "child")] == ["iter_000000", "iter_000002"]
    assert (runs / "child" / "_resume" / "state.npz").exists()
    (result,) = train_all(config, ["child"], progress=False)
    assert result.status == "resumed"
    for snapshot in ("iter_000004", "final"):
        _assert_same_snapshot(trained / "runs", runs, "child", snapshot)


@pytest.mark.slow
def test_killed_process_resumes_with_identical_snapshots(trained, tmp_path):
    """SIGKILL once the resume state of iter_000002 exists; the rerun matches an uninterrupted run."""
    config_path = copy_parent(trained, tmp_path)
    config_path.write_text(
        CONFIG.replace("steps = 6\n", "steps = 400\n").replace("[0, 2, 4]", "[0, 2, 4, 300]")
    )
    reference = tmp_path / "reference"
    copy_parent(trained, reference).write_text(config_path.read_text())
    command = [
        sys.executable,
        "-m",
        "visualizer.cli",
        "train",
        "--config",
        str(config_path),
        "--models",
        "child",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    resume = tmp_path / "runs" / "child" / "_resume" / "state.npz"
    deadline = time.time() + 240
    while time.time() < deadline and not (tmp_path / "runs" / "child" / "iter_000004" / "meta.json").exists():
        time.sleep(0.2)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert resume.exists() and not (tmp_path / "runs" / "child" / "final").exists()
    train_all(load_config(config_path), ["child"], progress=False)
    train_all(load_config(reference / "configs" / "tiny.toml"), ["child"], progress=False)
    for snapshot in ("iter_000300", "final"):
        _assert_same_snapshot(reference / "runs", tmp_path / "runs", "child", snapshot)


def test_resume_state_from_other_settings_is_refused(trained, tmp_path):
    config = load_config(copy_parent(trained, tmp_path))

    def crash(model, steps_done):
        raise Interrupt

    with pytest.raises(Interrupt):
        train_all(config, ["child"], progress=False, on_step=crash)
    changed = load_config(write_config(tmp_path, CONFIG.replace("batch_size = 8", "batch_size = 4")))
    with pytest.raises(TrainError, match="other settings"):
        train_all(changed, ["child"], progress=False)


def test_parent_without_final_is_trained_first(tmp_path):
    from visualizer.train.plan import training_plan

    config = load_config(write_config(tmp_path))
    assert [m.name for m in training_plan(config, ["child"])] == ["parent", "child"]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("snapshots = [0, 2, 4]", "snapshots = [0, 6]", "below steps=6"),
        ('head = "dense"', 'head = "logits"', "only from a checkpoint"),
        ("steps = 6\n", "steps = 0\n", "set steps or epochs"),
        ("snapshots = [0, 2, 4]", "snapshots = [2, 2]", "distinct"),
    ],
)
def test_bad_settings_fail_before_training(tmp_path, old, new, message):
    from visualizer.train.plan import training_plan

    config = load_config(write_config(tmp_path, CONFIG.replace(old, new)))
    with pytest.raises(ConfigError, match=message):
        training_plan(config)


def test_unknown_model_names_the_valid_ones(tmp_path):
    with pytest.raises(ConfigError, match="valid: parent, child"):
        train_all(load_config(write_config(tmp_path)), ["kid"], progress=False)
