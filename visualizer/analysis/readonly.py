"""Read-only SQLite connections, for reading an atlas's ``catalog.sqlite`` without writing to it.

`visualizer.atlas.catalog` (its `check`) and the analyses (`transfer`) read
the catalog this way. It lives here, below the atlas in the project's
layers, so that the analyses read an atlas without importing
`visualizer.atlas`, which imports the analyses' image measurements.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

__all__ = ["connect_read_only"]


def connect_read_only(path: str | os.PathLike) -> sqlite3.Connection:
    """Open a ``catalog.sqlite`` for reading only; it works on a read-only folder or medium too.

    ``mode=ro`` never writes, but a WAL database needs its ``-shm`` file, which
    SQLite cannot create where the folder is read-only; there the catalog is
    opened as immutable (no writer can be at work on a read-only medium).
    """
    uri = Path(path).resolve().as_uri()
    try:
        connection = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60)
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return connection
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)
