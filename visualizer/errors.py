"""Which errors are the user's or the environment's (one line, exit 2) and which are bugs (a traceback).

`vtl` prints an *expected* error as one line, ``vtl <command>: <description>``:
a bad config or flag, a missing or unreadable file, a read-only or full
disk, a locked or damaged catalog, a refused or garbage pickle, and the
project's own error classes. Anything else is a bug and keeps its traceback.

This module imports nothing heavy: the project's error classes are matched by
module and class name, so a check never imports Keras or TensorFlow (an error
that was raised has its module loaded already).
"""

from __future__ import annotations

import errno
import os

__all__ = ["EXPECTED_CLASSES", "VtlError", "describe", "is_expected"]


class VtlError(Exception):
    """Base of the project's errors that are the user's or the environment's fault, never a bug."""


# The project's error classes, by (module, class name); their subclasses count too.
EXPECTED_CLASSES: frozenset[tuple[str, str]] = frozenset(
    {
        ("visualizer.errors", "VtlError"),
        ("visualizer.config", "ConfigError"),
        ("visualizer.pngio", "AtlasWriteError"),
        ("visualizer.atlas.workers", "RenderWorkerError"),
        ("visualizer.atlas.keys", "UnsafeNameError"),
        ("visualizer.train.plan", "MissingInputsError"),
        ("visualizer.train.trainer", "TrainError"),
        ("visualizer.models.layers", "UnknownLayerError"),
        ("visualizer.models.frozen_graph", "UnsafeGraphError"),
        ("visualizer.models.checkpoint", "CheckpointMismatchError"),
        ("visualizer.data.base", "DatasetError"),
        ("visualizer.prior.stylegan2", "WeightError"),
        ("visualizer.prior.weights", "UnsafePickleError"),
        ("visualizer.prior.weights", "GeneratorFileError"),
        ("vtl_gallery.config", "ConfigError"),
        ("vtl_gallery.catalog", "AtlasError"),
    }
)


def _project_error(error: BaseException) -> bool:
    return any((cls.__module__, cls.__qualname__) in EXPECTED_CLASSES for cls in type(error).__mro__)


def is_expected(error: BaseException) -> bool:
    """True when `error` is the user's or the environment's fault rather than a bug.

    Expected: the project's own error classes (`EXPECTED_CLASSES`, `VtlError`),
    every `OSError` (missing file, permissions, full disk, read-only file
    system), SQLite's operational errors and "file is not a database",
    unreadable pickles (`pickle.UnpicklingError`, `EOFError` of a truncated
    one), `UnicodeDecodeError` of a binary file read as text, and
    `zipfile.BadZipFile`. `ValueError`, `KeyError` and the rest are bugs unless
    one of those classes.
    """
    import pickle
    import sqlite3
    import zipfile

    if isinstance(error, (OSError, pickle.UnpicklingError, EOFError, UnicodeDecodeError, zipfile.BadZipFile)):
        return True
    # IntegrityError, ProgrammingError and the other DatabaseError subclasses are the code's mistakes.
    if isinstance(error, sqlite3.OperationalError) or type(error) is sqlite3.DatabaseError:
        return True
    return _project_error(error)


def _message(error: BaseException) -> str:
    if isinstance(error, KeyError) and len(error.args) == 1 and isinstance(error.args[0], str):
        text = error.args[0]  # str(KeyError) would show the repr, quotes and all
    else:
        text = str(error)
    return " ".join(text.split()) or type(error).__name__


def _sqlite(error: BaseException, path: str | None) -> str | None:
    """The text of an SQLite error that a user can act on, or None when it has no better wording."""
    text = " ".join(str(error).split())
    lowered = text.lower()
    name = getattr(error, "sqlite_errorname", "")
    where, cause = (f" ({path})" if path else ""), f"(sqlite: {text})"
    if name == "SQLITE_FULL" or "disk is full" in lowered:
        return f"the disk is full{where}; free some space and run the command again {cause}"
    if name == "SQLITE_READONLY" or "readonly" in lowered or "read-only" in lowered:
        return f"the atlas is read-only or not writable{where} {cause}"
    if name == "SQLITE_CANTOPEN" or "unable to open" in lowered:
        return (
            f"cannot open the atlas catalog{where}: the atlas is read-only, not writable or missing {cause}"
        )
    if name == "SQLITE_BUSY" or "locked" in lowered:
        return f"the atlas catalog is in use by another process{where}; try again when it is done {cause}"
    if name == "SQLITE_NOTADB" or "not a database" in lowered:
        return f"the atlas catalog is not an SQLite database{where} {cause}"
    if "no such table" in lowered or "no such column" in lowered:
        return (
            f"the atlas catalog is incomplete or from another version{where}; "
            f"`vtl catalog rebuild` remakes it from the images {cause}"
        )
    return None


def _os_error(error: OSError) -> str:
    paths = [os.fsdecode(p) for p in (error.filename, error.filename2) if p is not None]
    bare = (
        error.errno is not None and bool(error.strerror) and str(error).startswith(f"[Errno {error.errno}]")
    )
    # The bare form, "[Errno 2] No such file or directory: 'x'", becomes "No such file or directory (x)".
    if bare:
        text = error.strerror
    elif len(error.args) == 1 and isinstance(error.args[0], str):
        text = " ".join(error.args[0].split())  # str() would be "[Errno None] None: ..." with a filename set
    else:
        text = _message(error)
    if error.errno == errno.ENOSPC:
        text = f"the disk is full: {text}" if "disk is full" not in text.lower() else text
    elif error.errno == errno.EROFS:
        text = "the file system is read-only" if bare else text
        text = text if "read-only" in text.lower() else f"the file system is read-only: {text}"
    missing = paths if bare else [p for p in paths if p not in text]
    return f"{text} ({' -> '.join(missing)})" if missing else text


def describe(error: BaseException, path: str | os.PathLike | None = None) -> str:
    """One line that says what went wrong, for ``vtl <command>: <line>``.

    Args:
        error: the exception.
        path: the file or folder the command was working on (an atlas, say),
            named for errors that do not name one themselves (SQLite's).

    Returns:
        The error's message on one line, with the file it concerns
        (``OSError.filename``) when the message does not name it; a full disk
        and a read-only or locked SQLite catalog are said in words.
    """
    import sqlite3

    where = os.fspath(path) if path is not None else None
    if isinstance(error, sqlite3.Error):
        text = _sqlite(error, where)
        if text is not None:
            return text
    if isinstance(error, OSError):
        return _os_error(error)
    if isinstance(error, UnicodeDecodeError):
        return f"a file is not text: {_message(error)}"  # the error does not say which file
    return _message(error)
