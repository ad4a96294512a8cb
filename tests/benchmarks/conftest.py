"""Tests of the benchmark scripts' plumbing: opt-in (``pytest -m bench``, ``make test-bench``)."""

from __future__ import annotations

from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder ``bench``, so the default run leaves them out."""
    for item in items:
        if _HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.bench)
