"""The Flowers17 reader: classes from file numbers, official or fallback split."""

import numpy as np
import pytest

from visualizer.data import DatasetError, open_flowers17
from visualizer.data.flowers17 import CLASS_NAMES


def test_fallback_split_and_classes(flowers_root):
    data = open_flowers17(flowers_root, 16, seed=0)
    assert data.class_names == CLASS_NAMES and len(CLASS_NAMES) == 17
    train = [p.name for p in data.splits["train"].paths]
    assert train == ["image_0001.jpg", "image_0002.jpg", "image_0081.jpg", "image_0082.jpg"]
    assert [p.name for p in data.splits["validation"].paths] == ["image_0003.jpg", "image_0083.jpg"]
    np.testing.assert_array_equal(data.splits["train"].labels, [0, 0, 1, 1])


def test_official_split_file(flowers_root):
    scipy_io = pytest.importorskip("scipy.io")
    scipy_io.savemat(
        flowers_root / "datasplits.mat",
        {"trn1": np.array([[1, 4, 84]]), "val1": np.array([[2, 81]]), "tst1": np.array([[3]])},
    )
    data = open_flowers17(flowers_root, 16, seed=0)
    assert [p.name for p in data.splits["train"].paths] == [
        "image_0001.jpg",
        "image_0004.jpg",
        "image_0084.jpg",
    ]
    np.testing.assert_array_equal(data.splits["validation"].labels, [0, 1])


def test_batches_stream_images(flowers_root):
    images, labels = open_flowers17(flowers_root, 12, seed=0).train_batch(0, 4)
    assert images.shape == (4, 12, 12, 3) and sorted(labels.tolist()) == [0, 0, 1, 1]


def test_missing_folder_names_layout(tmp_path):
    with pytest.raises(DatasetError, match=r"(?s)Missing .*jpg.*image_0001.jpg"):
        open_flowers17(tmp_path, 16, seed=0)
