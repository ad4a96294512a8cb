"""A dataset of image files on disk: lists of (path, label) per split.

The readers of the real layouts (`celeba`, `flowers17`, `pets`, `folders`)
parse their index files into a `FileDataset`; images are decoded only when a
batch asks for them, in a small thread pool (PIL releases the GIL while
decoding). An unreadable or missing image is skipped, logged once and
counted, never fatal.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from visualizer.data.base import SPLITS, Dataset, DatasetError
from visualizer.data.images import load_image

__all__ = ["FileDataset", "Split", "require"]

log = logging.getLogger(__name__)


class Split:
    """The files of one split and their labels (``[N]`` ints or ``[N, C]`` {0, 1})."""

    def __init__(self, paths: list[Path], labels: np.ndarray):
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} paths but {len(labels)} labels.")
        self.paths = paths
        self.labels = labels

    def __len__(self) -> int:
        return len(self.paths)

    def head(self, count: int) -> Split:
        """The first `count` items (all when `count` is 0)."""
        return self if count <= 0 else Split(self.paths[:count], self.labels[:count])


def require(path: Path, layout: str) -> Path:
    """Return `path`, or raise DatasetError naming it and the expected `layout`."""
    if not path.exists():
        raise DatasetError(f"Missing {path}. Expected layout:\n{layout}")
    return path


class FileDataset(Dataset):
    """Image files with labels, split into training and validation."""

    def __init__(
        self,
        name: str,
        kind: str,
        class_names: list[str],
        multi_label: bool,
        image_size: int,
        seed: int,
        splits: dict[str, Split],
        workers: int | None = None,
    ):
        super().__init__(name, kind, class_names, multi_label, image_size, seed)
        if set(splits) != set(SPLITS):
            raise ValueError(f"splits must be exactly {SPLITS}, received {sorted(splits)}.")
        for split, items in splits.items():
            if len(items) == 0:
                raise DatasetError(f"{name}: the {split} split is empty.")
        self.splits = splits
        self._workers = workers or min(8, os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None
        self._bad: set[Path] = set()
        self._bad_lock = threading.Lock()

    def size(self, split: str) -> int:
        return len(self.splits[split])

    @property
    def skipped(self) -> int:
        return len(self._bad)

    def _decode(self, path: Path) -> np.ndarray | None:
        pixels = load_image(path, self.image_size)
        if pixels is None:
            with self._bad_lock:
                if path not in self._bad:
                    self._bad.add(path)
                    log.warning("Skipping unreadable image %s", path)
        return pixels

    def _load(self, split: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = self.splits[split]
        paths = [items.paths[i] for i in indices]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="decode")
        decoded = list(self._pool.map(self._decode, paths))
        ok = np.array([pixels is not None for pixels in decoded], dtype=bool)
        size = self.image_size
        images = np.stack([p for p in decoded if p is not None]) if ok.any() else np.zeros((0, size, size, 3))
        labels = items.labels[indices[ok]]
        return images.astype(np.float32, copy=False), labels, ok

    def close(self) -> None:
        """Stop the decoding threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
