"""Compute side of the project: models, training, rendering, atlas."""

from __future__ import annotations

import contextlib
import importlib.abc
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

__version__ = "0.1.0"

# TensorFlow reads these once, when it is first imported, so they are set here,
# before any module of the project imports it; the environment's own values win.
# - oneDNN's CPU kernels, which TensorFlow leaves off on CPUs without AVX-512:
#   a batched render step runs 1.07-1.4x faster with them (their max-pool
#   gradient is 3-4x faster than TensorFlow's own). TF_ENABLE_ONEDNN_OPTS=0
#   keeps TensorFlow's default.
# - oneDNN's cache of compiled kernels holds 1,024 by default; a render needs
#   one per operation and input size (11 sizes under Lucid's transforms), and
#   a deep layer's step misses the cache at the default size (up to 1.6x slower).
# Measurements: BENCHMARKS.md.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8192")

# TensorFlow 2.21's libraries log while they load, from C++ static initializers
# that run before TensorFlow reads TF_CPP_MIN_LOG_LEVEL and before absl logging
# is set up, so no environment variable silences them (TF_CPP_MIN_LOG_LEVEL,
# GLOG_minloglevel, ABSL_MIN_LOG_LEVEL and GRPC_VERBOSITY were tried), and two
# of its libraries print them, so each appears twice: absl's "All log messages
# before absl::InitializeLog()" banner, "oneDNN custom operations are on" and
# "Could not find cuda drivers". While TensorFlow is first imported, stderr
# (file descriptor 2) goes to a temporary file; afterwards the lines below
# TF_CPP_MIN_LOG_LEVEL's severity are dropped and every other line is written
# to stderr as it was.
_ABSL_LINE = re.compile(r"([IWEF])\d{4} [\d:.]+ +\d+ [^ ]+:\d+\] ")
_ABSL_BANNER = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
_CONTINUATION = "To enable the following instructions:"  # cpu_feature_guard's second line
_SEVERITY = {"I": 0, "W": 1, "E": 2, "F": 3}


def _tensorflow_log_level() -> int:
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def _kept_lines(text: str, level: int) -> str:
    """`text` without the start-up log lines of a severity below `level` (TF_CPP_MIN_LOG_LEVEL's scale)."""
    kept, dropped = [], False
    for line in text.splitlines(keepends=True):
        match = _ABSL_LINE.match(line)
        if match:
            dropped = _SEVERITY[match[1]] < level
        elif line.startswith(_ABSL_BANNER):
            dropped = level > 0
        elif not (dropped and line.startswith(_CONTINUATION)):
            dropped = False
        if not dropped:
            kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def _filtered_stderr(level: int) -> Iterator[None]:
    """Send file descriptor 2 to a temporary file; then write back what `_kept_lines` keeps."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr to redirect
        saved = None
    if saved is None:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            with contextlib.suppress(AttributeError, OSError, ValueError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            remaining = _kept_lines(capture.read().decode("utf-8", "replace"), level).encode()
            while remaining:
                remaining = remaining[os.write(2, remaining) :]


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: it wraps the first ``import tensorflow`` in `_filtered_stderr`."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)  # once is enough; also keeps the search below from recursing
        level = _tensorflow_log_level()
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = find(name, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if level <= 0 or loader is None or not hasattr(loader, "exec_module"):
            return spec
        exec_module = loader.exec_module

        def quiet_exec_module(module: Any) -> None:
            try:
                with _filtered_stderr(level):
                    exec_module(module)
            finally:
                with contextlib.suppress(AttributeError):
                    del loader.exec_module  # back to the loader's own method

        loader.exec_module = quiet_exec_module
        return spec


if "tensorflow" not in sys.modules and not any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _QuietTensorFlowImport())
