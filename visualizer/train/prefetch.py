"""Load the next training batches in a background thread while a step runs.

Batches are pure functions of the step (`visualizer.data.base`), so loading
ahead changes nothing about what a step sees; it only overlaps decoding or
drawing with the optimizer step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

__all__ = ["prefetch"]

T = TypeVar("T")
_DONE = object()


def prefetch(load: Callable[[int], T], steps: range, depth: int = 2) -> Iterator[T]:
    """Yield ``load(step)`` for each step of `steps`, computed up to `depth` steps ahead.

    An exception in `load` is raised in the consumer; abandoning the iterator
    (``break``, an exception) stops the thread.
    """
    results: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[bool, object]) -> bool:
        while not stop.is_set():
            try:
                results.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for step in steps:
                if not put((True, load(step))):
                    return
        except BaseException as error:  # handed to the consumer
            put((False, error))
            return
        put((True, _DONE))

    thread = threading.Thread(target=work, name="prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = results.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
