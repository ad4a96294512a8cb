"""The dataset interface the trainer streams from.

A `Dataset` has a training split and a validation split of numbered items.
Training batches are a pure function of ``(seed, step, batch_size)``: step
``t`` takes positions ``t * batch_size ...`` of an endless stream that visits
the training items in a fresh seeded permutation every epoch. So a run that
resumes at step ``t`` sees exactly the batches an uninterrupted run sees, and
no iterator state has to be saved. Nothing holds the whole dataset: a batch
is loaded (or drawn) when asked for.

Images are float32 ``[B, S, S, 3]`` in [0, 1]. Labels are int64 class
indices ``[B]``, or float32 ``{0, 1}`` targets ``[B, num_classes]`` for
multi-label datasets.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator

import numpy as np

__all__ = ["Batch", "Dataset", "DatasetError", "SPLITS", "first_validation_images"]

SPLITS = ("train", "validation")
_PERMUTATION_SALT = 0x5EED  # separates the epoch permutations from other draws of the same seed

Batch = tuple[np.ndarray, np.ndarray]


class DatasetError(ValueError):
    """A dataset is missing a file of its layout, has a malformed file or a bad setting."""


class Dataset(ABC):
    """A labelled image dataset, streamed batch by batch.

    Subclasses implement `_load`; everything about order lives here.

    Attributes:
        name: human-readable name (``"CelebA"``, ``"faces world"``).
        kind: the config's dataset kind (``"celeba"``, ``"world"``...).
        class_names: one name per output.
        multi_label: labels are ``{0, 1}`` vectors (sigmoid outputs).
        image_size: side of the square images.
        seed: seeds the epoch permutations (and the worlds' drawing).
    """

    def __init__(
        self,
        name: str,
        kind: str,
        class_names: list[str],
        multi_label: bool,
        image_size: int,
        seed: int,
    ):
        if image_size < 8:
            raise DatasetError(f"image_size must be at least 8 pixels, received image_size={image_size!r}.")
        self.name = name
        self.kind = kind
        self.class_names = list(class_names)
        self.multi_label = multi_label
        self.image_size = image_size
        self.seed = seed
        self._permutations: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    @property
    def num_classes(self) -> int:
        """Outputs of a model for this dataset."""
        return len(self.class_names)

    @abstractmethod
    def size(self, split: str) -> int:
        """Number of items in `split` (``"train"`` or ``"validation"``)."""

    @abstractmethod
    def _load(self, split: str, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Load items of `split`; returns ``(images, labels, ok)`` for the readable ones.

        `ok` is a boolean ``[len(indices)]`` mask of the items that were
        readable; `images` and `labels` hold only those, in order.
        """

    @property
    def skipped(self) -> int:
        """Unreadable images met so far (each counted once); 0 for generated data."""
        return 0

    def steps_per_epoch(self, batch_size: int) -> int:
        """Optimizer steps for one pass over the training split."""
        return -(-self.size("train") // batch_size)

    def _permutation(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._permutations:
                if len(self._permutations) >= 4:
                    self._permutations.pop(min(self._permutations))
                rng = np.random.default_rng([self.seed, _PERMUTATION_SALT, epoch])
                self._permutations[epoch] = rng.permutation(self.size("train"))
            return self._permutations[epoch]

    def train_indices(self, start: int, count: int) -> np.ndarray:
        """Training items at stream positions ``start ... start + count - 1``."""
        size = self.size("train")
        positions = np.arange(start, start + count, dtype=np.int64)
        epochs, offsets = np.divmod(positions, size)
        out = np.empty(count, dtype=np.int64)
        for epoch in np.unique(epochs):
            chosen = epochs == epoch
            out[chosen] = self._permutation(int(epoch))[offsets[chosen]]
        return out

    def train_batch(self, step: int, batch_size: int) -> Batch:
        """The training batch of optimizer step `step` (0-based).

        Unreadable images are replaced by the next items of the stream, so a
        batch is always full; the result depends only on the seed, `step`
        and `batch_size`.

        Args:
            step: optimizer step; the batch covers stream positions
                ``step * batch_size`` onwards.
            batch_size: images per batch.

        Returns:
            ``(images, labels)``.

        Raises:
            DatasetError: when no image of the training split can be read.
        """
        if self.size("train") == 0:
            raise DatasetError(f"{self.name}: the training split is empty.")
        start = step * batch_size
        images, labels, _ = self._load("train", self.train_indices(start, batch_size))
        # Fill the gaps left by unreadable images from the stream after the batch.
        extra = start + batch_size
        limit = extra + self.size("train")
        while len(images) < batch_size and extra < limit:
            more = min(batch_size - len(images), limit - extra)
            x, y, _ = self._load("train", self.train_indices(extra, more))
            images, labels = np.concatenate([images, x]), np.concatenate([labels, y])
            extra += more
        if len(images) < batch_size:
            raise DatasetError(f"{self.name}: no image of the training split could be read.")
        return images, labels

    def validation_batches(self, batch_size: int) -> Iterator[Batch]:
        """Yield the validation split in order, in batches of at most `batch_size`.

        Unreadable images are left out (and counted in `skipped`).
        """
        size = self.size("validation")
        for start in range(0, size, batch_size):
            indices = np.arange(start, min(start + batch_size, size), dtype=np.int64)
            images, labels, _ = self._load("validation", indices)
            if len(images):
                yield images, labels

    def describe(self) -> str:
        """One line: name, classes, split sizes."""
        kind = "multi-label" if self.multi_label else "single-label"
        return (
            f"{self.name}: {self.num_classes} {kind} classes, {self.size('train')} training and "
            f"{self.size('validation')} validation images at {self.image_size} px"
        )


def first_validation_images(dataset: Dataset, count: int) -> np.ndarray:
    """The first `count` readable validation images of `dataset` (fewer if its split is smaller), float32."""
    chunks, total = [], 0
    for images, _labels in dataset.validation_batches(64):
        chunks.append(np.asarray(images, dtype="float32")[: count - total])
        total += len(chunks[-1])
        if total >= count:
            break
    if not total:
        return np.zeros((0, 0, 0, 3), dtype="float32")
    return np.concatenate(chunks)
