"""Rebuilds redo only what changed."""

from __future__ import annotations

import os
import re
import shutil

import pytest

from tests.helpers.fake_atlas import ImageKey, replace_image
from vtl_gallery.build import BUILD_MANIFEST, build_cache_path
from vtl_gallery.publish import Publishing

from .conftest import build

MODES = [Publishing(), Publishing("all", "lossy")]
"""The default (lossless views only) and every kind of file (WebP views, PNG originals, ZIPs)."""


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
    assert build_cache_path(dist).is_file() and not (dist / BUILD_MANIFEST).exists()


@pytest.mark.parametrize("publishing", MODES, ids=["default", "every-kind"])
def test_changed_image_updates_only_its_files_and_pages(atlas, tmp_path, publishing):
    atlas = shutil.copytree(atlas, tmp_path / "atlas")
    dist = tmp_path / "dist"
    build(atlas, dist, publishing=publishing)
    before = _mtimes(dist)
    key = ImageKey("celeba", "final", "channel", "Mixed_4c_Branch_2_b_3x3", 1)
    replace_image(atlas, key)
    report = build(atlas, dist, publishing=publishing)
    after = _mtimes(dist)
    changed = {path for path in after if before.get(path) != after[path]}
    layer = "Mixed_4c_Branch_2_b_3x3"
    assert report.images_redone == 1
    # The 32 px sources fit the thumbnail size: grids show the view, there is no thumb/ file.
    files = {f"view/celeba/final/channel/{layer}/0001.webp"}
    if publishing.originals_in_dist:
        files.add(f"img/celeba/final/channel/{layer}/0001.png")
    if publishing.zips:
        files.add(f"downloads/celeba/{layer}.zip")
    grids = {
        f"layer/{layer}/1/index.html",
        f"layer/{layer}/index.html",
        f"model/celeba/layer/{layer}/index.html",
    }
    downloads = {f"data/layer/{layer}.js", "manifest.json", "images.csv", "catalog.sqlite"}
    assert files | grids | downloads <= changed
    allowed_pages = {
        f"layer/{layer}/1/index.html",
        f"layer/{layer}/index.html",
        f"model/celeba/layer/{layer}/index.html",
    }
    allowed_pages |= {"downloads/index.html", "manifest.json"}
    sorted_grid = re.compile(
        rf"(model/celeba/)?layer/{layer}/by-[a-z-]+/index\.html"
    )  # other orders of a grid
    touched = {p for p in changed if p.endswith((".html", ".json")) and not sorted_grid.fullmatch(p)}
    unexpected = touched - allowed_pages
    assert not unexpected, unexpected
    image_files = {p for p in changed if p.startswith(("thumb/", "view/", "img/", "downloads/"))}
    assert not image_files - files - {"downloads/index.html"}


@pytest.mark.parametrize("publishing", MODES, ids=["default", "every-kind"])
def test_removed_image_files_are_cleaned_up(atlas, tmp_path, publishing):
    import sqlite3

    atlas = shutil.copytree(atlas, tmp_path / "atlas")
    dist = tmp_path / "dist"
    build(atlas, dist, publishing=publishing)
    path = "images/flowers17/final/channel/Conv2d_1a_7x7/0003.png"
    db = sqlite3.connect(atlas / "catalog.sqlite")
    db.execute("DELETE FROM images WHERE path = ?", (path,))
    db.commit()
    db.close()
    os.remove(atlas / path)
    assert (dist / "view/flowers17/final/channel/Conv2d_1a_7x7/0003.webp").exists()
    assert (
        dist / "img/flowers17/final/channel/Conv2d_1a_7x7/0003.png"
    ).exists() == publishing.originals_in_dist
    report = build(atlas, dist, publishing=publishing)
    assert report.removed >= 1 + publishing.originals_in_dist
    assert not (dist / "view/flowers17/final/channel/Conv2d_1a_7x7/0003.webp").exists()
    assert not (dist / "img/flowers17/final/channel/Conv2d_1a_7x7/0003.png").exists()


def test_changing_what_is_published_removes_the_files_no_longer_published(atlas, tmp_path):
    dist = tmp_path / "dist"
    build(atlas, dist, publishing=Publishing("all", "lossy"))
    assert any(dist.rglob("*.zip")) and any((dist / "img").rglob("*.png"))
    report = build(atlas, dist)
    assert report.removed > 0 and report.images_redone == report.images
    assert not any(dist.rglob("*.zip")) and not any(dist.glob("img/**/*.png"))
    again = build(atlas, dist)
    assert again.images_redone == 0 and again.pages_rendered == 0 and again.other_written == 0
