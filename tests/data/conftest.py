"""Fixture trees in the released layouts of the real datasets, with tiny JPEGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ATTRIBUTES = [f"Attribute_{i:02d}" for i in range(40)]


def write_image(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 24)) -> Path:
    """A small solid-colour image (JPEG or PNG by suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def write_corrupt(path: Path) -> Path:
    """A file with an image name that is not an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8 this is not a JPEG")
    return path


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """6 faces: 000001-000003 train (000002 corrupt), 000004-000005 validation, 000006 test."""
    root = tmp_path / "celeba"
    partitions = [0, 0, 0, 1, 1, 2]
    rng = np.random.default_rng(0)
    values = rng.choice([-1, 1], size=(6, 40))
    lines = ["6", " ".join(ATTRIBUTES)]
    for i in range(6):
        name = f"{i + 1:06d}.jpg"
        if i == 1:
            write_corrupt(root / "img_align_celeba" / name)
        else:
            write_image(root / "img_align_celeba" / name, (40 * i, 100, 200), size=(178, 218))
        lines.append(name + "  " + " ".join(f"{v:2d}" for v in values[i]))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    (root / "list_eval_partition.txt").write_text(
        "".join(f"{i + 1:06d}.jpg {p}\n" for i, p in enumerate(partitions))
    )
    np.save(root / "expected_labels.npy", (values > 0).astype(np.float32))
    return root


@pytest.fixture
def flowers_root(tmp_path: Path) -> Path:
    """image_0001-0004 (class 0) and image_0081-0084 (class 1)."""
    root = tmp_path / "flowers17"
    for n in (1, 2, 3, 4, 81, 82, 83, 84):
        write_image(root / "jpg" / f"image_{n:04d}.jpg", (200, 10 * (n % 20), 30))
    return root


@pytest.fixture
def pets_root(tmp_path: Path) -> Path:
    """5 Abyssinian cats (one corrupt) and 5 american bulldogs, with list.txt."""
    root = tmp_path / "pets"
    lines = [
        "#Image CLASS-ID SPECIES BREED ID",
        "#ID: 1:37 Class ids",
        "#SPECIES: 1:Cat 2:Dog",
    ]
    for n in range(1, 6):
        name = f"Abyssinian_{n}"
        if n == 2:
            write_corrupt(root / "images" / f"{name}.jpg")
        else:
            write_image(root / "images" / f"{name}.jpg", (180, 120, 60))
        lines.append(f"{name} 1 1 1")
    for n in range(1, 6):
        name = f"american_bulldog_{n}"
        write_image(root / "images" / f"{name}.jpg", (90, 90, 90))
        lines.append(f"{name} 2 2 1")
    (root / "annotations").mkdir(parents=True)
    (root / "annotations" / "list.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def folders_root(tmp_path: Path) -> Path:
    """cat/ with 5 JPEGs, dog/ with 5 PNGs, plus a stray text file and a hidden folder."""
    root = tmp_path / "folders"
    for n in range(5):
        write_image(root / "cat" / f"c{n}.jpg", (250, 0, 0))
        write_image(root / "dog" / f"d{n}.png", (0, 0, 250))
    (root / "dog" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    return root
