"""A generic class-per-folder dataset: ``<root>/<class>/*.jpg|png``.

Classes are the sub-folders in sorted order (hidden ones skipped); images are
the files with an image suffix, sorted by name. The split is fixed by that
order: every fifth image of each class (positions 4, 9, 14...) validates,
the others train.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visualizer.data.base import DatasetError
from visualizer.data.files import FileDataset, Split, require
from visualizer.data.images import IMAGE_SUFFIXES

__all__ = ["LAYOUT", "open_folders", "required_paths"]

LAYOUT = """\
  <root>/<class name>/<image>.jpg|.png ...   one sub-folder per class"""

VALIDATION_EVERY = 5


def required_paths(root: Path) -> list[Path]:
    """The folders the layout needs."""
    return [root]


def open_folders(root: Path, image_size: int, seed: int, validation_limit: int = 0) -> FileDataset:
    """Open a class-per-folder dataset at `root`.

    Args:
        root: the folder holding one sub-folder per class.
        image_size: side of the images the batches hold.
        seed: seeds the order of the training batches.
        validation_limit: validate on the first N validation images (0: all).

    Returns:
        A single-label `FileDataset` with the folder names as classes.

    Raises:
        DatasetError: `root` missing, without class folders, or a class without images.
    """
    require(root, LAYOUT)
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DatasetError(f"{root} has no class sub-folder. Expected layout:\n{LAYOUT}")
    members: dict[str, list[tuple[Path, int]]] = {"train": [], "validation": []}
    for label, name in enumerate(classes):
        files = sorted(
            p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not files:
            raise DatasetError(f"Class folder {root / name} holds no image ({', '.join(IMAGE_SUFFIXES)}).")
        for position, path in enumerate(files):
            split = "validation" if position % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"
            members[split].append((path, label))
    splits = {
        split: Split([path for path, _ in items], np.array([label for _, label in items], dtype=np.int64))
        for split, items in members.items()
    }
    splits["validation"] = splits["validation"].head(validation_limit)
    return FileDataset(root.name, "folders", classes, False, image_size, seed, splits)
