"""The CelebA reader on a fixture tree in the released layout."""

import numpy as np
import pytest

from tests.data.conftest import ATTRIBUTES
from visualizer.data import DatasetError, open_celeba


def test_splits_labels_and_names(celeba_root):
    data = open_celeba(celeba_root, 16, seed=0)
    assert data.multi_label and data.class_names == ATTRIBUTES
    assert data.size("train") == 3 and data.size("validation") == 2
    expected = np.load(celeba_root / "expected_labels.npy")
    np.testing.assert_array_equal(data.splits["validation"].labels, expected[3:5])
    assert set(np.unique(data.splits["train"].labels)) <= {0.0, 1.0}


def test_corrupt_image_is_skipped_and_counted(celeba_root):
    data = open_celeba(celeba_root, 16, seed=0)
    images, labels = data.train_batch(0, 3)
    assert images.shape == (3, 16, 16, 3) and labels.shape == (3, 40)
    assert data.skipped == 1
    batches = list(data.validation_batches(8))
    assert sum(len(x) for x, _ in batches) == 2


def test_validation_limit(celeba_root):
    assert open_celeba(celeba_root, 16, seed=0, validation_limit=1).size("validation") == 1


def test_missing_partition_names_file_and_layout(celeba_root):
    (celeba_root / "list_eval_partition.txt").unlink()
    with pytest.raises(DatasetError, match="list_eval_partition.txt") as error:
        open_celeba(celeba_root, 16, seed=0)
    assert "img_align_celeba/000001.jpg" in str(error.value)


def test_malformed_attribute_line_names_the_line(celeba_root):
    path = celeba_root / "list_attr_celeba.txt"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(" ", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"list_attr_celeba.txt:4: expected a file name and 40 values"):
        open_celeba(celeba_root, 16, seed=0)
