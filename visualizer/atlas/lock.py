"""One writer at a time per atlas: an advisory lock the operating system releases when a process dies.

A whole-atlas render (or ``vtl catalog rebuild``) holds ``.vtl-lock`` in the
atlas folder exclusively. A sharded render (``--shard i/N``) holds it shared,
together with a lock of its own shard exclusively, so shards of one atlas
render side by side while a whole-atlas render waits for all of them (and
they for it). Each shard writes its temporary files under a name of its own
(`temp_prefix`) and removes only those, so one writer never deletes another's
unfinished image.

The locks are ``flock`` locks: released by the kernel when the holder exits,
however it exits, so a killed render never leaves a stale lock. On network
file systems Linux maps ``flock`` to the server's byte-range locks (NFSv4);
where a file system has no locks at all, shards on it still never collide,
since their plans and temporary names are disjoint.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from visualizer.pngio import TEMP_PREFIX

__all__ = ["LOCK_NAME", "AtlasLockedError", "atlas_lock", "temp_prefix"]

LOCK_NAME = ".vtl-lock"


class AtlasLockedError(OSError):
    """Another process holds the atlas lock and the caller asked not to wait."""


def temp_prefix(shard: tuple[int, int] | None) -> str:
    """The temporary-file prefix of a writer: the common one, or one per shard (0-based index)."""
    if shard is None:
        return TEMP_PREFIX
    index, count = shard
    return f"{TEMP_PREFIX}s{index + 1}of{count}-"


def _holder(path: Path) -> str:
    """Who holds a lock file, as its holder wrote it (best effort; empty when unknown)."""
    try:
        text = path.read_text().strip()
    except OSError:
        return ""
    return f" (pid {text})" if text.isdigit() else ""


def _acquire(path: Path, mode: int, wait: bool, on_wait: Callable[[str], None] | None) -> int:
    """Open `path` and take an flock in `mode`; returns the open descriptor that holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(path)
            if not wait:
                raise AtlasLockedError(
                    f"Another vtl process{who} is writing to the atlas {path.parent} (lock {path.name}); "
                    "wait for it, or run again without --no-wait to queue behind it"
                ) from None
            if on_wait is not None:
                on_wait(f"another vtl process{who} is writing to {path.parent}; waiting for it to finish")
            fcntl.flock(descriptor, mode)
        os.ftruncate(descriptor, 0)  # a shared holder clears a departed exclusive holder's pid
        if mode == fcntl.LOCK_EX:
            os.pwrite(descriptor, str(os.getpid()).encode(), 0)
        return descriptor
    except BaseException:
        os.close(descriptor)
        raise


@contextlib.contextmanager
def atlas_lock(
    atlas_dir: str | os.PathLike,
    shard: tuple[int, int] | None = None,
    wait: bool = True,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Hold the atlas's writer lock for the duration of the block.

    Args:
        atlas_dir: the atlas folder (must exist).
        shard: (index, count), 0-based, for a sharded render; None for a
            whole-atlas writer.
        wait: wait for the holder to finish; False raises instead.
        on_wait: called once with a message when the lock is busy and we wait.

    Yields:
        The temporary-file prefix this writer owns (`temp_prefix`).

    Raises:
        AtlasLockedError: the lock is busy and `wait` is False.
    """
    root = Path(atlas_dir)
    held: list[int] = []
    try:
        if shard is None:
            held.append(_acquire(root / LOCK_NAME, fcntl.LOCK_EX, wait, on_wait))
        else:
            held.append(_acquire(root / LOCK_NAME, fcntl.LOCK_SH, wait, on_wait))
            shard_lock = root / f"{LOCK_NAME}-shard-{shard[0] + 1}-of-{shard[1]}"
            held.append(_acquire(shard_lock, fcntl.LOCK_EX, wait, on_wait))
        yield temp_prefix(shard)
    finally:
        for descriptor in reversed(held):
            os.close(descriptor)  # closing the descriptor releases its flock
