"""Every file the build writes goes through here: atomic, world-readable, never linked.

A static host usually serves dist/ as another user than the one who built it,
so each file is written with mode 0644 and each folder the build creates with
0755, whatever the process umask or the atlas files' own modes. Files are
written to a temporary name next to the target and renamed over it, so a
reader never sees half a file. Original PNGs are copies of the atlas's files
(a reflink where the file system supports one: shared blocks, copy on
write), never hard links: editing a file in dist/ must not change the atlas.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "copy_file",
    "ensure_mode",
    "kept",
    "make_dirs",
    "write_atomic",
    "write_from_path",
    "write_if_changed",
    "writing",
]

FILE_MODE = 0o644
DIR_MODE = 0o755
_FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
_OPEN_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents, each with mode 0755 (not umask's).

    Folders that exist already are left as they are.
    """
    missing = []
    while not path.is_dir():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # another worker made it first (and sets its mode)
            continue
        os.chmod(folder, DIR_MODE)


def ensure_mode(path: Path, st: os.stat_result) -> None:
    """Give an existing output file mode 0644 if `st` (its stat) shows another."""
    if stat.S_IMODE(st.st_mode) != FILE_MODE:
        os.chmod(path, FILE_MODE)


def kept(path: Path) -> bool:
    """True if output `path` exists; if so it is given mode 0644 where it had another.

    For outputs an incremental build keeps without rewriting: the same one
    stat that tells whether the file is there also tells whether its mode is right.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    ensure_mode(path, st)
    return True


def _open_tmp(tmp: Path) -> int:
    try:
        return os.open(tmp, _OPEN_FLAGS, FILE_MODE)
    except FileExistsError:  # left over by a build that was killed
        tmp.unlink()
    except FileNotFoundError:
        make_dirs(tmp.parent)
    return os.open(tmp, _OPEN_FLAGS, FILE_MODE)


@contextmanager
def writing(path: Path) -> Iterator[BinaryIO]:
    """Open a temporary file that replaces `path` (mode 0644) when the block ends.

    Missing folders are created (mode 0755). If the block raises, `path` is
    left as it was and the temporary file is removed.

    Yields:
        The temporary file, open for binary writing.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = _open_tmp(tmp)
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, FILE_MODE)  # open() applied the umask
        else:  # pragma: no cover
            os.chmod(tmp, FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            fd = -1
            yield handle
        os.replace(tmp, path)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically, mode 0644."""
    with writing(path) as handle:
        handle.write(data)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` atomically unless the file already holds exactly it.

    A file that is kept gets mode 0644 if it had another.

    Returns:
        True if the file was written.
    """
    try:
        st = path.stat()
        if st.st_size == len(data) and path.read_bytes() == data:
            ensure_mode(path, st)
            return False
    except FileNotFoundError:
        pass
    write_atomic(path, data)
    return True


def write_from_path(path: Path, produce: Callable[[Path], None]) -> bool:
    """Let `produce` write a new file at a temporary path, then put it at `path` unless unchanged.

    For writers that want a file name, not a handle (SQLite's ``VACUUM
    INTO``). The result gets mode 0644 and replaces `path` atomically; if it
    holds the same bytes as `path` it is dropped and `path` is left alone.

    Returns:
        True if `path` was written.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    tmp.unlink(missing_ok=True)  # left over by a build that was killed
    make_dirs(path.parent)
    try:
        produce(tmp)
        if path.is_file() and filecmp.cmp(tmp, path, shallow=False):
            ensure_mode(path, path.stat())
            return False
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _reflink(source: int, target: int) -> bool:
    """Clone `source`'s blocks into `target` (Linux FICLONE); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import fcntl

    try:
        fcntl.ioctl(target, getattr(fcntl, "FICLONE", _FICLONE), source)
    except OSError:  # another file system, or one without reflinks
        return False
    return True


def copy_file(source: Path, target: Path) -> None:
    """Copy `source` to `target` atomically, mode 0644: a reflink where possible.

    `target` becomes a new file even if it was a hard link to `source`, so
    writing to one never changes the other.
    """
    with open(source, "rb") as src, writing(target) as dst:
        if not _reflink(src.fileno(), dst.fileno()):
            shutil.copyfileobj(src, dst, 1 << 20)
