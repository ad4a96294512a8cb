"""Oxford Flowers17 in its released layout: 17 classes of 80 images.

::

    <root>/jpg/image_0001.jpg ... image_1360.jpg   class = (n - 1) // 80
    <root>/datasplits.mat                           optional: the official splits

With ``datasplits.mat`` and scipy installed, training uses the official
``trn1`` images and validation ``val1``. Otherwise the split is fixed by the
position within each class (the same 40/20/20 proportions as the official
one): positions ``p = (n - 1) % 80`` with ``p % 4`` in {0, 1} train, ``2``
validate, ``3`` are the unused test images.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np

from visualizer.data.base import DatasetError
from visualizer.data.files import FileDataset, Split, require

__all__ = ["CLASS_NAMES", "LAYOUT", "open_flowers17", "required_paths"]

log = logging.getLogger(__name__)

LAYOUT = """\
  <root>/jpg/image_0001.jpg ... image_1360.jpg   80 images per class in file order
  <root>/datasplits.mat                           optional: the official trn1/val1/tst1 splits"""

# The classes in the order of the release's numbering (80 images each).
CLASS_NAMES = [
    "Daffodil", "Snowdrop", "LilyValley", "Bluebell", "Crocus", "Iris", "Tigerlily", "Tulip",
    "Fritillary", "Sunflower", "Daisy", "ColtsFoot", "Dandelion", "Cowslip", "Buttercup",
    "Windflower", "Pansy",
]  # fmt: skip
PER_CLASS = 80
_NAME = re.compile(r"image_(\d{4})\.jpg$")


def required_paths(root: Path) -> list[Path]:
    """The files and folders the layout needs under `root`."""
    return [root / "jpg"]


def _official_splits(path: Path) -> dict[str, set[int]] | None:
    try:
        from scipy.io import loadmat
    except ImportError:
        log.warning("%s found but scipy is not installed: using the deterministic split.", path)
        return None
    try:
        mat = loadmat(path)
    except (OSError, ValueError) as error:
        raise DatasetError(f"{path}: cannot read the splits file: {error}") from error
    missing = [key for key in ("trn1", "val1") if key not in mat]
    if missing:
        raise DatasetError(f"{path}: expected the variables trn1 and val1, missing {', '.join(missing)}.")
    return {
        "train": {int(n) for n in np.ravel(mat["trn1"])},
        "validation": {int(n) for n in np.ravel(mat["val1"])},
    }


def _fallback_split(number: int) -> str | None:
    position = ((number - 1) % PER_CLASS) % 4
    return {0: "train", 1: "train", 2: "validation"}.get(position)


def open_flowers17(root: Path, image_size: int, seed: int, validation_limit: int = 0) -> FileDataset:
    """Open Flowers17 at `root`.

    Args:
        root: the folder holding ``jpg/`` (and optionally ``datasplits.mat``).
        image_size: side of the images the batches hold.
        seed: seeds the order of the training batches.
        validation_limit: validate on the first N validation images (0: all).

    Returns:
        A 17-class `FileDataset`.

    Raises:
        DatasetError: ``jpg/`` missing or holding no ``image_NNNN.jpg`` file.
    """
    folder = require(root / "jpg", LAYOUT)
    numbers = sorted(int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name)))
    numbers = [n for n in numbers if 1 <= n <= PER_CLASS * len(CLASS_NAMES)]
    if not numbers:
        raise DatasetError(f"{folder} holds no image_NNNN.jpg file. Expected layout:\n{LAYOUT}")
    mat = root / "datasplits.mat"
    official = _official_splits(mat) if mat.exists() else None
    members: dict[str, list[int]] = {"train": [], "validation": []}
    for n in numbers:
        if official is not None:
            split = next((name for name, chosen in official.items() if n in chosen), None)
        else:
            split = _fallback_split(n)
        if split is not None:
            members[split].append(n)
    splits = {
        split: Split(
            [folder / f"image_{n:04d}.jpg" for n in chosen],
            np.array([(n - 1) // PER_CLASS for n in chosen], dtype=np.int64),
        )
        for split, chosen in members.items()
    }
    splits["validation"] = splits["validation"].head(validation_limit)
    return FileDataset("Flowers17", "flowers17", CLASS_NAMES, False, image_size, seed, splits)
