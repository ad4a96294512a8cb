"""Run a function over many items in forked worker processes.

The site model (tens of thousands of objects, compiled templates) is built
once in the parent; forked workers inherit it copy-on-write instead of
receiving it pickled. Where ``fork`` is unavailable, or the work is small,
the items run in this process.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["fork_map"]

T = TypeVar("T")
R = TypeVar("R")

_TASK: tuple[Callable, Sequence] | None = None


def _run_chunk(bounds: tuple[int, int]) -> list:
    func, items = _TASK
    return [func(items[i]) for i in range(*bounds)]


def fork_map(func: Callable[[T], R], items: Sequence[T], workers: int, min_items: int = 200) -> list[R]:
    """``[func(item) for item in items]``, spread over `workers` forked processes.

    Args:
        func: applied to each item; it may use any object of the parent process.
        items: the work; results keep its order.
        workers: processes; 1 (or fewer items than `min_items`) runs serially.
        min_items: below this, forking costs more than it saves.

    Returns:
        The results, in the order of `items`.
    """
    global _TASK
    if workers <= 1 or len(items) < min_items or "fork" not in multiprocessing.get_all_start_methods():
        return [func(item) for item in items]
    size = max(1, min(64, len(items) // (workers * 8)))
    chunks = [(start, min(start + size, len(items))) for start in range(0, len(items), size)]
    _TASK = (func, items)
    try:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            return [result for chunk in pool.imap(_run_chunk, chunks) for result in chunk]
    finally:
        _TASK = None
