"""Opening the dataset a config names, and listing missing inputs."""

import pytest

from visualizer.config import DatasetConfig
from visualizer.data import DatasetError, missing_inputs, open_dataset


def test_world_and_real_kinds(celeba_root, pets_root):
    world = open_dataset(DatasetConfig(kind="world", world="flowers", validation_size=34), None, 16, 0)
    assert world.num_classes == 17 and world.size("validation") == 34
    celeba = open_dataset(DatasetConfig(kind="celeba", path="x"), celeba_root, 16, 0)
    assert celeba.num_classes == 40
    pets = open_dataset(DatasetConfig(kind="pets", path="x", breeds=["abyssinian"]), pets_root, 16, 0)
    assert pets.class_names == ["Abyssinian"]


def test_unknown_world_lists_worlds():
    with pytest.raises(DatasetError, match="valid worlds: source, faces, flowers, animals"):
        open_dataset(DatasetConfig(kind="world", world="mars"), None, 16, 0)


def test_missing_inputs_lists_every_path(tmp_path):
    missing = missing_inputs(DatasetConfig(kind="celeba", path="x"), tmp_path)
    assert [p.name for p in missing] == [
        "img_align_celeba",
        "list_attr_celeba.txt",
        "list_eval_partition.txt",
    ]
    assert missing_inputs(DatasetConfig(kind="world", world="faces"), tmp_path) == []
