"""Counting JAX's compilations of the render step, and their seconds, for reports and tests.

JAX announces every compilation through `jax.monitoring`: the tracing, the
lowering to MLIR and the backend compilation each record a duration event
with the function's name, and a hit in the persistent compilation cache
(`visualizer.render.jax_cache`) records an event just before its "backend
compilation" (then only a read from disk). `CompileLog` listens to them,
once per process, and keeps counts per function name; `CompileLog.snapshot`
and `CompileStats` subtract two readings, so a caller measures what one
render or one atlas run compiled.

The render step is jitted under the name `STEP_NAME`
(`visualizer.render.backend`); `CompileStats.steps` counts its backend
compilations (cache hits apart), the number the issue tracker and the tests
bound. Nothing here imports JAX unless JAX is the backend in use.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field

__all__ = ["STEP_NAME", "CompileLog", "CompileStats", "compile_log"]

STEP_NAME = "vtl_render_step"
"""The name the render step is jitted under: compilations of functions whose name contains it are steps."""

_TRACE = "/jax/core/compile/jaxpr_trace_duration"
_LOWER = "/jax/core/compile/jaxpr_to_mlir_module_duration"
_COMPILE = "/jax/core/compile/backend_compile_duration"
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


@dataclass
class CompileStats:
    """Compilations between two readings of a `CompileLog`.

    Attributes:
        compiles: backend compilations per function name (persistent-cache hits included).
        cache_hits: of those, how many were read from the persistent cache, per name.
        seconds: tracing, lowering and compiling seconds per function name.
    """

    compiles: Counter = field(default_factory=Counter)
    cache_hits: Counter = field(default_factory=Counter)
    seconds: Counter = field(default_factory=Counter)

    def _of_steps(self, counter: Counter) -> float:
        return sum(value for name, value in counter.items() if STEP_NAME in name)

    @property
    def steps(self) -> int:
        """Backend compilations of the render step, persistent-cache hits not counted."""
        return int(self._of_steps(self.compiles) - self._of_steps(self.cache_hits))

    @property
    def step_cache_hits(self) -> int:
        """Render steps read from the persistent compilation cache."""
        return int(self._of_steps(self.cache_hits))

    @property
    def step_seconds(self) -> float:
        """Seconds spent tracing, lowering and compiling render steps."""
        return float(self._of_steps(self.seconds))

    @property
    def total(self) -> int:
        """Backend compilations of every function (small helpers too), cache hits not counted."""
        return int(sum(self.compiles.values()) - sum(self.cache_hits.values()))

    @property
    def total_seconds(self) -> float:
        """Seconds spent tracing, lowering and compiling every function."""
        return float(sum(self.seconds.values()))

    def __sub__(self, other: CompileStats) -> CompileStats:
        return CompileStats(
            self.compiles - other.compiles, self.cache_hits - other.cache_hits, self.seconds - other.seconds
        )

    def summary(self) -> str:
        """One line for a report: step compilations (and cache reads), then all compilations, with seconds."""
        hits = self.step_cache_hits
        hits = f" ({hits} more read from the persistent cache)" if hits else ""
        return (
            f"{self.steps} step compilations{hits} in {self.step_seconds:.1f} s; "
            f"{self.total} compilations in all in {self.total_seconds:.1f} s"
        )


class CompileLog:
    """Every compilation JAX announces in this process, from the first `compile_log` call on."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = CompileStats()
        self._pending_hit = False

    def _on_duration(self, event: str, duration: float, **kwargs: object) -> None:
        if event not in (_TRACE, _LOWER, _COMPILE):
            return
        name = str(kwargs.get("fun_name", "?"))
        with self._lock:
            self._stats.seconds[name] += duration
            if event == _COMPILE:
                self._stats.compiles[name] += 1
                if self._pending_hit:
                    self._stats.cache_hits[name] += 1
                self._pending_hit = False

    def _on_event(self, event: str, **kwargs: object) -> None:
        if event == _CACHE_HIT:
            with self._lock:
                self._pending_hit = True  # recorded inside the backend compilation that follows

    def snapshot(self) -> CompileStats:
        """A copy of the counts so far (subtract two to measure what happened in between)."""
        with self._lock:
            stats = self._stats
            return CompileStats(Counter(stats.compiles), Counter(stats.cache_hits), Counter(stats.seconds))


_LOG: CompileLog | None = None


def compile_log() -> CompileLog | None:
    """The process's `CompileLog`, listening from its first call on; None unless the Keras backend is JAX."""
    global _LOG
    import keras

    if keras.config.backend() != "jax":
        return None
    if _LOG is None:
        import jax

        log = CompileLog()
        jax.monitoring.register_event_duration_secs_listener(log._on_duration)
        jax.monitoring.register_event_listener(log._on_event)
        _LOG = log
    return _LOG
