"""Rebuilds redo only what changed."""

from __future__ import annotations

import os
import shutil

from tests.helpers.fake_atlas import ImageKey, replace_image

from .conftest import build


def _mtimes(dist):
    return {p.relative_to(dist).as_posix(): p.stat().st_mtime_ns for p in dist.rglob("*") if p.is_file()}


def test_rebuild_without_changes_rewrites_nothing(atlas, tmp_path):
    dist = tmp_path / "dist"
    first = build(atlas, dist)
    assert first.images_redone == first.images and first.pages_written == first.pages
    before = _mtimes(dist)
    second = build(atlas, dist)
    assert second.images_redone == 0 and second.pages_rendered == 0 and second.other_written == 0
    assert _mtimes(dist) == before


def test_changed_image_updates_only_its_files_and_pages(atlas, tmp_path):
    atlas = shutil.copytree(atlas, tmp_path / "atlas")
    dist = tmp_path / "dist"
    build(atlas, dist)
    before = _mtimes(dist)
    key = ImageKey("celeba", "final", "channel", "Mixed_4c_Branch_2_b_3x3", 1)
    replace_image(atlas, key)
    report = build(atlas, dist)
    after = _mtimes(dist)
    changed = {path for path in after if before.get(path) != after[path]}
    layer = "Mixed_4c_Branch_2_b_3x3"
    assert report.images_redone == 1
    assert {
        f"img/celeba/final/channel/{layer}/0001.png",
        f"thumb/celeba/final/channel/{layer}/0001.webp",
        f"view/celeba/final/channel/{layer}/0001.webp",
        f"layer/{layer}/1/index.html",
        f"layer/{layer}/index.html",
        f"model/celeba/layer/{layer}/index.html",
        f"downloads/celeba/{layer}.zip",
        f"data/layer/{layer}.js",
        "manifest.json",
    } <= changed
    allowed_pages = {
        f"layer/{layer}/1/index.html",
        f"layer/{layer}/index.html",
        f"model/celeba/layer/{layer}/index.html",
    }
    allowed_pages |= {"downloads/index.html", ".vtl-build.json", "manifest.json"}
    unexpected = {p for p in changed if p.endswith(".html") or p.endswith(".json")} - allowed_pages
    assert not unexpected, unexpected
    assert not {p for p in changed if p.startswith(("thumb/", "view/", "img/"))} - {
        f"img/celeba/final/channel/{layer}/0001.png",
        f"thumb/celeba/final/channel/{layer}/0001.webp",
        f"view/celeba/final/channel/{layer}/0001.webp",
    }


def test_removed_image_files_are_cleaned_up(atlas, tmp_path):
    import sqlite3

    atlas = shutil.copytree(atlas, tmp_path / "atlas")
    dist = tmp_path / "dist"
    build(atlas, dist)
    path = "images/flowers17/final/channel/Conv2d_1a_7x7/0003.png"
    db = sqlite3.connect(atlas / "catalog.sqlite")
    db.execute("DELETE FROM images WHERE path = ?", (path,))
    db.commit()
    db.close()
    os.remove(atlas / path)
    report = build(atlas, dist)
    assert report.removed >= 3
    assert not (dist / "thumb/flowers17/final/channel/Conv2d_1a_7x7/0003.webp").exists()
    assert not (dist / "img/flowers17/final/channel/Conv2d_1a_7x7/0003.png").exists()
