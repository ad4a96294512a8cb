"""Datasets: readers of the real layouts and the synthetic demo worlds.

Every dataset is a `Dataset` that streams float32 images in [0, 1] batch by
batch (nothing holds a whole dataset), with batches a pure function of the
seed and the optimizer step so that training resumes exactly:

- `open_celeba`, `open_flowers17`, `open_pets`, `open_folders`: the released
  layouts on disk (see each module for its layout and split);
- `open_world` / `WORLDS`: the generated demo worlds (``source``, ``faces``,
  ``flowers``, ``animals``);
- `open_dataset`: whichever a config's dataset section names.
"""

from visualizer.data.base import Dataset, DatasetError
from visualizer.data.celeba import open_celeba
from visualizer.data.files import FileDataset
from visualizer.data.flowers17 import open_flowers17
from visualizer.data.folders import open_folders
from visualizer.data.images import load_image
from visualizer.data.loader import DOWNLOADS, missing_inputs, open_dataset
from visualizer.data.pets import open_pets
from visualizer.data.worlds import WORLDS, World, WorldDataset, get_world, open_world

__all__ = [
    "DOWNLOADS",
    "WORLDS",
    "Dataset",
    "DatasetError",
    "FileDataset",
    "World",
    "WorldDataset",
    "get_world",
    "load_image",
    "missing_inputs",
    "open_celeba",
    "open_dataset",
    "open_flowers17",
    "open_folders",
    "open_pets",
    "open_world",
]
