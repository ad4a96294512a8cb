"""Render plan batches in several processes on one machine.

On a CPU, one process rarely keeps all cores busy: many of a render step's
operations are small, and TensorFlow's threads wait on one another between
them. Processes that each render whole batches with their share of the cores
do not wait on each other, so on a CPU several single-threaded workers
render an atlas faster than one process with all the threads (BENCHMARKS.md,
`make bench-atlas`). The parent hands each worker the next batch as soon
as it is free; the worker writes the images and catalog rows itself, exactly
as a single process would, so the images do not depend on the number of
workers. A worker dies with its parent (Linux), so killing a run leaves no
process writing to the atlas.

On a GPU, keep one process per GPU (``vtl render --shard``): workers would
share one device.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import time
from collections.abc import Iterator
from multiprocessing import get_context
from multiprocessing.connection import Connection, wait
from pathlib import Path

from visualizer.atlas.plan import RenderBatch
from visualizer.config import Config
from visualizer.pngio import TEMP_PREFIX

__all__ = [
    "RenderWorkerError",
    "auto_workers",
    "available_cpus",
    "available_memory_bytes",
    "render_in_workers",
    "resolve_workers",
    "worker_threads",
]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
# What "auto" budgets per worker: a TensorFlow worker rendering the demo peaks at
# about 1.5 GB (BENCHMARKS.md); larger images and batches need more.
WORKER_MEMORY_BYTES = 2 * 1024**3
_GRACE_SECONDS = 3.0  # for workers to exit by themselves when a run stops early


class RenderWorkerError(RuntimeError):
    """A render worker died or stopped before the work was done; what it wrote is kept."""


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def available_memory_bytes() -> int | None:
    """Memory the kernel says new work can use without swapping (Linux), or None where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def auto_workers(cpus: int | None = None, memory_bytes: int | None = None) -> int:
    """One worker per available CPU, as many as get `WORKER_MEMORY_BYTES` of the available memory each.

    Args:
        cpus: CPUs to use; None reads this process's affinity.
        memory_bytes: memory to share; None reads the kernel's estimate
            (no cap where it is unknown).

    Returns:
        At least 1.
    """
    cpus = cpus or available_cpus()
    memory_bytes = memory_bytes if memory_bytes is not None else available_memory_bytes()
    if memory_bytes is None:
        return cpus
    return max(1, min(cpus, memory_bytes // WORKER_MEMORY_BYTES))


def resolve_workers(value: str | int) -> int:
    """Turn a ``--workers`` value into a process count.

    Args:
        value: a positive int, its text, or ``"auto"`` (`auto_workers`).

    Returns:
        The number of worker processes, at least 1.

    Raises:
        ValueError: naming the value and the valid choices.
    """
    if value == "auto":
        return auto_workers()
    if isinstance(value, str) and value.isdigit():
        count = int(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        count = value
    else:
        count = 0
    if count < 1:
        raise ValueError(f"Invalid number of workers {value!r}: expected a positive integer or 'auto'.")
    return count


def worker_threads(workers: int, cpus: int | None = None) -> int:
    """Threads each of `workers` processes gets for its own math: an equal share of the CPUs, at least 1."""
    return max(1, (cpus or available_cpus()) // workers)


def _thread_environment(threads: int) -> dict[str, str]:
    """Environment variables that cap a worker's math threads (TensorFlow; OpenMP, which PyTorch uses).

    Values the user set in the environment win.
    """
    wanted = {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": str(min(2, threads)),
        "OMP_NUM_THREADS": str(threads),
    }
    return {name: value for name, value in wanted.items() if name not in os.environ}


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to kill this process when its parent dies, so no orphan keeps writing to the atlas."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _portable(error: BaseException) -> BaseException:
    """`error` if it survives pickling (to cross to the parent), else a RuntimeError with its text."""
    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")


def _worker_main(
    config: Config,
    batches: list[RenderBatch],
    metas: dict,
    atlas_dir: Path,
    connection: Connection,
    parent_pid: int,
    temp_prefix: str,
) -> None:
    """A worker's loop: render each batch index the parent sends, answer with its counts; None ends it."""
    _die_with_parent(parent_pid)
    index = None
    try:
        from visualizer.atlas.batch import BatchRenderer
        from visualizer.atlas.catalog import Catalog

        renderer = BatchRenderer(config, metas, atlas_dir, temp_prefix)
        with Catalog(atlas_dir) as catalog:
            while (index := connection.recv()) is not None:
                written, failed = renderer.render(batches[index], catalog)
                connection.send(("done", index, written, failed))
    except (KeyboardInterrupt, EOFError):  # Ctrl-C reaches every process of the terminal; EOF: no parent
        pass
    except BaseException as error:
        with contextlib.suppress(OSError):
            connection.send(("error", index, _portable(error)))


def render_in_workers(
    config: Config,
    batches: list[RenderBatch],
    metas: dict,
    atlas_dir: Path,
    workers: int,
    threads: int | None = None,
    temp_prefix: str = TEMP_PREFIX,
) -> Iterator[tuple[RenderBatch, int, int]]:
    """Render `batches` in `workers` processes, yielding each batch as it finishes.

    Each worker gets the next batch of the list as soon as it has finished
    one, so the work balances itself.

    Args:
        config: the experiment.
        batches: the batches to render (from the plan, minus finished ones).
        metas: {(model, snapshot): meta}, from `check_snapshots`.
        atlas_dir: the atlas, already checked writable and synced.
        workers: processes to start (at least 1).
        threads: math threads per worker; None gives each an equal share of the CPUs.
        temp_prefix: the name prefix of the temporary files the workers write
            (the lock holder's, `visualizer.atlas.lock`).

    Yields:
        (batch, images written, channels failed), in the order batches finish.

    Raises:
        The first error a worker meets (its own type when it can cross
        processes), or RenderWorkerError when a worker dies without a word
        (killed, out of memory). The other workers are stopped; every image
        written so far is kept.
    """
    context = get_context("spawn")  # a fresh interpreter: no inherited TensorFlow threads or locks
    environment = _thread_environment(threads or worker_threads(workers))
    saved = {name: os.environ.get(name) for name in environment}
    processes, owners = [], {}
    try:
        os.environ.update(environment)  # a spawned process copies the environment when it starts
        for number in range(workers):
            ours, theirs = context.Pipe()
            process = context.Process(
                target=_worker_main,
                args=(config, batches, metas, atlas_dir, theirs, os.getpid(), temp_prefix),
                name=f"vtl-render-{number + 1}",
                daemon=True,
            )
            process.start()
            theirs.close()
            processes.append(process)
            owners[ours] = process
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    unassigned = iter(range(len(batches)))

    def hand_out(connection: Connection) -> bool:
        """Send the worker the next batch index, or None (stop) when none is left; True if it got work."""
        index = next(unassigned, None)
        connection.send(index)
        return index is not None

    try:
        busy = [connection for connection in owners if hand_out(connection)]
        while busy:
            for connection in wait(busy):
                try:
                    kind, index, *rest = connection.recv()
                except EOFError:
                    raise _died(owners[connection]) from None
                if kind == "error":
                    raise rest[0]
                if not hand_out(connection):
                    busy.remove(connection)
                yield (batches[index], *rest)
        for process in processes:
            process.join()
    finally:
        _stop(processes, list(owners))


def _stop(processes: list, connections: list[Connection]) -> None:
    """End the workers, letting them exit by themselves first.

    Closing their pipes ends those waiting for work (Ctrl-C has already ended
    those rendering); the rest are terminated after a grace period.
    """
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + _GRACE_SECONDS
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.terminate()
        process.join()


def _died(process) -> RenderWorkerError:
    """The error for a worker that ended without reporting one (killed from outside, out of memory)."""
    process.join(timeout=5)
    return RenderWorkerError(
        f"Render worker {process.name} (pid {process.pid}) ended with exit code {process.exitcode} "
        "(killed, or out of memory?). The images written so far are kept; rerun to resume."
    )
