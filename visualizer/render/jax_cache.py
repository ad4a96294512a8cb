"""JAX's persistent compilation cache: compiled render steps kept on disk for later processes.

JAX can write every executable it compiles to a folder and read it back in
a later process that compiles the same program for the same device and
JAX version, instead of compiling again. Shards of an atlas on one machine
(or on machines that share a file system) and reruns after an interruption
then compile each layer once between them. `enable_persistent_cache` turns
it on; ``vtl render`` does, in ``<atlas>/.jax-cache`` unless
``VTL_JAX_CACHE`` names another folder (or ``off``) or JAX's own
``JAX_COMPILATION_CACHE_DIR`` is set.

Entries are keyed by the program (with the network's weights as arguments,
so every model of one architecture shares them), the device kind and the
JAX and XLA versions, so a stale or foreign entry is never used; the folder
can be deleted at any time.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "CACHE_FOLDER", "cache_dir_for", "enable_persistent_cache"]

CACHE_ENV = "VTL_JAX_CACHE"
"""A folder for the cache, or ``off``; overrides the atlas's folder."""
CACHE_FOLDER = ".jax-cache"
"""The cache's folder inside an atlas."""
MIN_COMPILE_SECONDS = 0.0  # keep every step: even a small layer's step takes a second to compile on a CPU
_CHILD_ENV = {
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": str(MIN_COMPILE_SECONDS),
    "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
}
_set_here: str | None = None  # the JAX_COMPILATION_CACHE_DIR this process set for its workers


def cache_dir_for(atlas_dir: Path | str | None) -> Path | None:
    """Where `enable_persistent_cache` would put the cache for an atlas; None where it is off.

    ``VTL_JAX_CACHE`` wins (``off``, ``0`` or empty: no cache), then JAX's
    own ``JAX_COMPILATION_CACHE_DIR``, then ``<atlas_dir>/.jax-cache``.
    """
    chosen = os.environ.get(CACHE_ENV)
    if chosen is not None:
        return None if chosen.strip().lower() in ("", "0", "off", "false", "no") else Path(chosen)
    own = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    if own and own != _set_here:
        return Path(own)
    return None if atlas_dir is None else Path(atlas_dir) / CACHE_FOLDER


def enable_persistent_cache(folder: Path | str | None) -> Path | None:
    """Turn on JAX's persistent compilation cache in `folder` (created); a no-op off JAX or for None.

    Args:
        folder: the cache folder, e.g. from `cache_dir_for`.

    Worker processes started later inherit it through JAX's environment
    variables (``JAX_COMPILATION_CACHE_DIR`` and the thresholds).

    Returns:
        The folder in use, or None where nothing was turned on (another
        backend than JAX, or no folder).
    """
    global _set_here
    import keras

    if folder is None or keras.config.backend() != "jax":
        return None
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if jax.config.jax_compilation_cache_dir != str(folder):
        jax.config.update("jax_compilation_cache_dir", str(folder))
        # JAX decides once, at its first compilation, whether a cache is in use: ask it again.
        compilation_cache.reset_cache()
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    _set_here = os.environ["JAX_COMPILATION_CACHE_DIR"] = str(folder)
    os.environ.update(_CHILD_ENV)
    return folder
