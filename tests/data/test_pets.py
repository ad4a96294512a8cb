"""The Oxford-IIIT Pet style reader: breeds, filter, split, corrupt files."""

import pytest

from visualizer.data import DatasetError, open_pets


def test_breeds_and_split(pets_root):
    data = open_pets(pets_root, 16, seed=0)
    assert data.class_names == ["Abyssinian", "american_bulldog"]
    assert data.size("train") == 8 and data.size("validation") == 2
    assert [p.name for p in data.splits["validation"].paths] == ["Abyssinian_5.jpg", "american_bulldog_5.jpg"]


def test_breed_filter_is_case_insensitive(pets_root):
    data = open_pets(pets_root, 16, seed=0, breeds=["AMERICAN_BULLDOG"])
    assert data.class_names == ["american_bulldog"]
    assert set(data.splits["train"].labels.tolist()) == {0}


def test_unknown_breed_lists_valid_ones(pets_root):
    with pytest.raises(DatasetError, match="'Sphynx'.*valid: Abyssinian, american_bulldog"):
        open_pets(pets_root, 16, seed=0, breeds=["Sphynx"])


def test_corrupt_image_skipped_in_a_full_epoch(pets_root):
    data = open_pets(pets_root, 16, seed=0)
    images, labels = data.train_batch(0, 8)
    assert len(images) == 8 and data.skipped == 1


def test_missing_list_names_file(pets_root):
    (pets_root / "annotations" / "list.txt").unlink()
    with pytest.raises(DatasetError, match=r"(?s)annotations/list.txt.*CLASS-ID"):
        open_pets(pets_root, 16, seed=0)


def test_malformed_line(pets_root):
    path = pets_root / "annotations" / "list.txt"
    path.write_text(path.read_text() + "Bad_1 x 1\n")
    with pytest.raises(DatasetError, match=r"list.txt:14"):
        open_pets(pets_root, 16, seed=0)
