"""The class-per-folder reader."""

import numpy as np
import pytest

from visualizer.data import DatasetError, open_folders


def test_classes_files_and_split(folders_root):
    data = open_folders(folders_root, 8, seed=0)
    assert data.class_names == ["cat", "dog"]
    assert data.size("train") == 8 and data.size("validation") == 2
    images, labels = next(data.validation_batches(4))
    np.testing.assert_array_equal(labels, [0, 1])
    assert images[0, ..., 0].mean() > 0.9 and images[1, ..., 2].mean() > 0.9


def test_empty_root_and_missing_root(tmp_path):
    with pytest.raises(DatasetError, match="no class sub-folder"):
        open_folders(tmp_path, 8, seed=0)
    with pytest.raises(DatasetError, match="Missing"):
        open_folders(tmp_path / "nope", 8, seed=0)
