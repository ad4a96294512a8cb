"""Oxford-IIIT Pet style breeds (the paper's Animals set: 31 dog and cat breeds).

::

    <root>/images/<Breed_Name>_<n>.jpg
    <root>/annotations/list.txt    '#' comment lines, then
                                   '<Image> <CLASS-ID> <SPECIES> <BREED ID>' per image

The breed of an image is its name without the trailing ``_<n>``; classes are
ordered by CLASS-ID. An optional list of breeds (matched without regard to
case) keeps only those. The split is fixed by the order of each breed's
images in ``list.txt``: every fifth image (positions 4, 9, 14...) validates,
the others train.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from visualizer.data.base import DatasetError
from visualizer.data.files import FileDataset, Split, require

__all__ = ["LAYOUT", "open_pets", "required_paths"]

LAYOUT = """\
  <root>/images/<Breed_Name>_<n>.jpg    e.g. Abyssinian_1.jpg, american_bulldog_10.jpg
  <root>/annotations/list.txt           '#' comment lines, then
                                        '<Image> <CLASS-ID> <SPECIES> <BREED ID>' per image"""

VALIDATION_EVERY = 5


def required_paths(root: Path) -> list[Path]:
    """The files and folders the layout needs under `root`."""
    return [root / "images", root / "annotations" / "list.txt"]


def _read_list(path: Path) -> list[tuple[str, int, str]]:
    """``(image, class id, breed)`` per line of ``list.txt``."""
    rows = []
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) != 4 or not all(f.isdigit() for f in fields[1:]):
                raise DatasetError(
                    f"{path}:{number}: expected '<Image> <CLASS-ID> <SPECIES> <BREED ID>', "
                    f"found {line.strip()!r}."
                )
            image = fields[0]
            breed = image.rsplit("_", 1)[0]
            rows.append((image, int(fields[1]), breed))
    if not rows:
        raise DatasetError(f"{path} lists no image. Expected layout:\n{LAYOUT}")
    return rows


def open_pets(
    root: Path,
    image_size: int,
    seed: int,
    breeds: list[str] | None = None,
    validation_limit: int = 0,
) -> FileDataset:
    """Open an Oxford-IIIT Pet style dataset at `root`.

    Args:
        root: the folder holding ``images/`` and ``annotations/list.txt``.
        image_size: side of the images the batches hold.
        seed: seeds the order of the training batches.
        breeds: breeds to keep (case-insensitive); empty or None keeps all.
        validation_limit: validate on the first N validation images (0: all).

    Returns:
        A single-label `FileDataset` with the breeds as classes.

    Raises:
        DatasetError: a missing or malformed file, or a breed not in the list.
    """
    for path in required_paths(root):
        require(path, LAYOUT)
    rows = _read_list(root / "annotations" / "list.txt")
    class_ids: dict[str, int] = {}
    for _, class_id, breed in rows:
        class_ids.setdefault(breed, class_id)
    names = sorted(class_ids, key=lambda breed: (class_ids[breed], breed))
    if breeds:
        by_key = {name.lower(): name for name in names}
        unknown = [b for b in breeds if b.lower() not in by_key]
        if unknown:
            raise DatasetError(
                f"Unknown breed(s) {', '.join(map(repr, unknown))} in {root}; valid: {', '.join(names)}."
            )
        keep = {by_key[b.lower()] for b in breeds}
        names = [name for name in names if name in keep]
    index = {name: i for i, name in enumerate(names)}
    members: dict[str, list[tuple[Path, int]]] = {"train": [], "validation": []}
    seen: dict[str, int] = {}
    for image, _, breed in rows:
        if breed not in index:
            continue
        position = seen.get(breed, 0)
        seen[breed] = position + 1
        split = "validation" if position % VALIDATION_EVERY == VALIDATION_EVERY - 1 else "train"
        members[split].append((root / "images" / f"{image}.jpg", index[breed]))
    splits = {
        split: Split([path for path, _ in items], np.array([label for _, label in items], dtype=np.int64))
        for split, items in members.items()
    }
    splits["validation"] = splits["validation"].head(validation_limit)
    return FileDataset("Pets", "pets", names, False, image_size, seed, splits)
