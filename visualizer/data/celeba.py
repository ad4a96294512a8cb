"""CelebA in its released layout: 40 binary attributes per aligned face.

::

    <root>/img_align_celeba/000001.jpg ...
    <root>/list_attr_celeba.txt      202599                      (count line)
                                     5_o_Clock_Shadow Arched_Eyebrows ...  (40 names)
                                     000001.jpg -1  1  1 -1 ...  (40 values of -1/1)
    <root>/list_eval_partition.txt   000001.jpg 0                (0 train, 1 val, 2 test)

Labels become {0, 1}. Training uses partition 0, validation partition 1; the
test partition is not used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visualizer.data.base import DatasetError
from visualizer.data.files import FileDataset, Split, require

__all__ = ["LAYOUT", "open_celeba", "required_paths"]

LAYOUT = """\
  <root>/img_align_celeba/000001.jpg ...   the aligned and cropped faces
  <root>/list_attr_celeba.txt              count line, a line of 40 attribute names, then
                                           '<file> <40 values of -1 or 1>' per image
  <root>/list_eval_partition.txt           '<file> <0|1|2>' (train, validation, test)"""

IMAGES = "img_align_celeba"
ATTRIBUTES = "list_attr_celeba.txt"
PARTITION = "list_eval_partition.txt"
_PARTITIONS = {"train": 0, "validation": 1}


def required_paths(root: Path) -> list[Path]:
    """The files and folders the layout needs under `root`."""
    return [root / IMAGES, root / ATTRIBUTES, root / PARTITION]


def _read_attributes(path: Path) -> tuple[list[str], list[str], np.ndarray]:
    with path.open() as lines:
        first = lines.readline().split()
        if len(first) != 1 or not first[0].isdigit():
            raise DatasetError(f"{path}:1: expected the image count, found {' '.join(first)!r}.")
        names = lines.readline().split()
        if not names:
            raise DatasetError(f"{path}:2: expected the attribute names, found an empty line.")
        files: list[str] = []
        rows: list[list[int]] = []
        for number, line in enumerate(lines, start=3):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != len(names) + 1:
                raise DatasetError(
                    f"{path}:{number}: expected a file name and {len(names)} values, found {len(fields) - 1}."
                )
            try:
                values = [int(v) for v in fields[1:]]
            except ValueError as error:
                raise DatasetError(f"{path}:{number}: attribute values must be -1 or 1: {error}") from error
            files.append(fields[0])
            rows.append(values)
    labels = np.asarray(rows, dtype=np.int8).reshape(len(rows), len(names))
    if not np.isin(labels, (-1, 0, 1)).all():
        raise DatasetError(f"{path}: attribute values must be -1 or 1.")
    return names, files, (labels > 0).astype(np.float32)


def _read_partition(path: Path) -> dict[str, int]:
    partition: dict[str, int] = {}
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
                raise DatasetError(f"{path}:{number}: expected '<file> <0|1|2>', found {line.strip()!r}.")
            partition[fields[0]] = int(fields[1])
    return partition


def open_celeba(root: Path, image_size: int, seed: int, validation_limit: int = 0) -> FileDataset:
    """Open CelebA at `root`.

    Args:
        root: the folder holding the layout above.
        image_size: side of the images the batches hold.
        seed: seeds the order of the training batches.
        validation_limit: validate on the first N images of partition 1 (0: all).

    Returns:
        A multi-label `FileDataset` with the attribute names as classes.

    Raises:
        DatasetError: a missing or malformed file of the layout.
    """
    for path in required_paths(root):
        require(path, LAYOUT)
    names, files, labels = _read_attributes(root / ATTRIBUTES)
    partition = _read_partition(root / PARTITION)
    unlisted = [name for name in files if name not in partition]
    if unlisted:
        raise DatasetError(
            f"{root / PARTITION}: {len(unlisted)} image(s) of {ATTRIBUTES} have no partition, "
            f"e.g. {unlisted[0]!r}."
        )
    parts = np.array([partition[name] for name in files])
    splits = {}
    for split, code in _PARTITIONS.items():
        chosen = np.flatnonzero(parts == code)
        splits[split] = Split([root / IMAGES / files[i] for i in chosen], labels[chosen])
    splits["validation"] = splits["validation"].head(validation_limit)
    return FileDataset("CelebA", "celeba", names, True, image_size, seed, splits)
