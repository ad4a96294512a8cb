"""Fast checks of ``visualizer.atlas.workers``' arguments (the rendering runs are in test_render_job.py)."""

import pytest

from visualizer import cli
from visualizer.atlas import workers
from visualizer.atlas.job import render_atlas


def test_resolve_workers_counts_and_auto():
    assert workers.resolve_workers("3") == 3
    assert workers.resolve_workers(2) == 2
    assert workers.resolve_workers("auto") == workers.auto_workers() >= 1


@pytest.mark.parametrize(
    ("cpus", "gib", "expected"), [(2, 24, 2), (32, 24, 12), (8, None, 8), (4, 1, 1), (4, 0, 1)]
)
def test_auto_workers_is_one_per_cpu_within_the_memory(cpus, gib, expected):
    memory = None if gib is None else gib * 1024**3
    if memory is None:
        assert workers.auto_workers(cpus, None) in range(1, cpus + 1)  # reads this machine's memory
        assert workers.auto_workers(cpus, 10**15) == expected
    else:
        assert workers.auto_workers(cpus, memory) == expected


@pytest.mark.parametrize("bad", ["0", "-2", "two", "", None, 1.5])
def test_resolve_workers_names_the_bad_value_and_the_choices(bad):
    with pytest.raises(ValueError, match=r"Invalid number of workers .*positive integer or 'auto'"):
        workers.resolve_workers(bad)


@pytest.mark.parametrize(
    ("count", "cpus", "threads"), [(1, 2, 2), (2, 2, 1), (4, 2, 1), (3, 16, 5), (4, 16, 4)]
)
def test_each_worker_gets_an_equal_share_of_the_cpus(count, cpus, threads):
    assert workers.worker_threads(count, cpus) == threads


def test_thread_environment_leaves_the_users_settings_alone(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    monkeypatch.delenv("TF_NUM_INTEROP_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    assert workers._thread_environment(1) == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
    assert workers._thread_environment(4)["TF_NUM_INTEROP_THREADS"] == "2"


def test_render_atlas_refuses_fewer_than_one_worker():
    with pytest.raises(ValueError, match="workers must be 1 or more, got 0"):
        render_atlas(None, workers=0)


def test_cli_reports_a_bad_workers_value(capsys):
    assert cli.main(["render", "--config", "configs/demo.toml", "--workers", "many"]) == 2
    assert "vtl render: Invalid number of workers 'many'" in capsys.readouterr().err
