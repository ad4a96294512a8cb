"""Open the dataset a config describes: a demo world or a real layout on disk."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from visualizer.config import DATASET_KINDS, DatasetConfig
from visualizer.data import celeba, flowers17, folders, pets
from visualizer.data.base import Dataset, DatasetError
from visualizer.data.worlds import open_world

__all__ = ["DOWNLOADS", "missing_inputs", "open_dataset"]

# What to fetch for each real layout, for the message when its files are missing.
DOWNLOADS: dict[str, str] = {
    "celeba": "CelebA (Align&Cropped images and the attribute and partition lists), "
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
    "flowers17": "Oxford Flowers17 (17flowers.tgz and datasplits.mat), "
    "https://www.robots.ox.ac.uk/~vgg/data/flowers/17/",
    "pets": "Oxford-IIIT Pet (images.tar.gz and annotations.tar.gz), https://www.robots.ox.ac.uk/~vgg/data/pets/",
    "folders": "your images, one sub-folder per class",
}

_REQUIRED: dict[str, Callable[[Path], list[Path]]] = {
    "celeba": celeba.required_paths,
    "flowers17": flowers17.required_paths,
    "pets": pets.required_paths,
    "folders": folders.required_paths,
}


def missing_inputs(config: DatasetConfig, root: Path) -> list[Path]:
    """Paths of the dataset's layout that do not exist (none for a world).

    Args:
        config: the dataset section of a model.
        root: the dataset's folder, already resolved against the config.

    Returns:
        The missing files and folders, in the layout's order.
    """
    if config.kind == "world":
        return []
    return [path for path in _REQUIRED[config.kind](root) if not path.exists()]


def open_dataset(config: DatasetConfig, root: Path | None, image_size: int, seed: int) -> Dataset:
    """Open the dataset of a model.

    Args:
        config: kind, path, world, breeds and sizes. For real datasets
            `validation_size` caps the validation images (0: all).
        root: the dataset's folder resolved against the config (ignored for worlds).
        image_size: side of the images the batches hold.
        seed: seeds the batch order (and the worlds' images).

    Returns:
        A `Dataset` streaming batches.

    Raises:
        DatasetError: an unknown kind or world, or a missing or malformed file.
    """
    if config.kind == "world":
        return open_world(config.world, image_size, seed, config.train_size, config.validation_size)
    if config.kind not in _REQUIRED:
        raise DatasetError(f"Unknown dataset kind {config.kind!r}; valid: {', '.join(DATASET_KINDS)}.")
    if root is None or not config.path:
        raise DatasetError(f"A {config.kind} dataset needs its folder: set dataset.path.")
    limit = config.validation_size
    if config.kind == "celeba":
        return celeba.open_celeba(root, image_size, seed, limit)
    if config.kind == "flowers17":
        return flowers17.open_flowers17(root, image_size, seed, limit)
    if config.kind == "pets":
        return pets.open_pets(root, image_size, seed, config.breeds, limit)
    return folders.open_folders(root, image_size, seed, limit)
