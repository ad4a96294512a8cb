"""The site's weight and its downloads.

Each image is in dist/ once per size (no thumbnail identical to its view, the
view lossless and exact), enlarged images keep sharp pixels, the first screen
of a page loads eagerly, the build cache stays out of dist/, ``images.csv``
and ``catalog.sqlite`` match the atlas's catalog, and ``--downloads`` decides
which PNGs and ZIPs are published and linked.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from tests.helpers.browser import launch_chromium, serve
from tests.helpers.fake_atlas import DEFAULT_MODELS, write_fake_atlas
from visualizer import cli
from vtl_gallery.build import build_cache_path, build_site
from vtl_gallery.downloads import CSV_COLUMNS
from vtl_gallery.images import Derived
from vtl_gallery.publish import LOSSLESS_BUDGET, Publishing
from vtl_gallery.writer import first_screen

from .conftest import ROOT, build

LAYER = "Mixed_4c_Branch_2_b_3x3"
CHANNELS = 40  # more than a layer grid's first screen of eager images


@pytest.fixture(scope="module")
def big_atlas(tmp_path_factory) -> Path:
    """Two models, two layers of 40 channels, 64 px images (like the demo's): enough for lazy images."""
    return write_fake_atlas(
        tmp_path_factory.mktemp("weight") / "atlas",
        models=DEFAULT_MODELS[:2],
        layers=(LAYER, "Conv2d_2b_1x1"),
        channels=CHANNELS,
        size=64,
    )


@pytest.fixture(scope="module")
def big_site(big_atlas, tmp_path_factory) -> Path:
    """`big_atlas` built with the default options."""
    dist = tmp_path_factory.mktemp("weight_site") / "dist"
    build(big_atlas, dist)
    return dist


def _images(html: str) -> list[dict[str, str]]:
    """The attributes of each <img> of a page, in document order."""
    return [dict(re.findall(r'([a-z-]+)="([^"]*)"', tag)) for tag in re.findall(r"<img\s[^>]*>", html)]


def _links(dist: Path) -> set[str]:
    return {link for page in dist.rglob("*.html") for link in re.findall(r'href="([^"]+)"', page.read_text())}


def _catalog_rows(catalog: Path) -> list[dict]:
    db = sqlite3.connect(f"file:{catalog}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute("SELECT * FROM images")]
    finally:
        db.close()


# --- one file per size ------------------------------------------------------------------------------


def _duplicates(dist: Path) -> list[list[str]]:
    by_digest: dict[str, list[str]] = defaultdict(list)
    for path in dist.rglob("*"):
        if path.is_file():
            by_digest[hashlib.sha256(path.read_bytes()).hexdigest()].append(path.relative_to(dist).as_posix())
    return [sorted(paths) for paths in by_digest.values() if len(paths) > 1]


@pytest.mark.parametrize(
    "publishing", [None, Publishing("all"), Publishing("zip", "lossy")], ids=["default", "all", "zip-lossy"]
)
def test_no_two_files_in_dist_are_the_same(big_atlas, tmp_path, publishing):
    dist = tmp_path / "dist"
    build(big_atlas, dist, publishing=publishing)
    assert not _duplicates(dist)
    assert not (dist / "thumb").exists()  # 64 px sources fit the 96 px thumbnail: grids show the view


def test_sources_larger_than_the_thumbnail_get_one(tmp_path):
    atlas = write_fake_atlas(
        tmp_path / "atlas", models=DEFAULT_MODELS[:1], layers=(LAYER,), channels=2, size=128
    )
    dist = tmp_path / "dist"
    build(atlas, dist)
    thumbs, views = sorted((dist / "thumb").rglob("*.webp")), sorted((dist / "view").rglob("*.webp"))
    assert len(thumbs) == len(views) == 2
    assert {Image.open(path).size for path in thumbs} == {(96, 96)}
    assert {Image.open(path).size for path in views} == {(128, 128)}
    grid = _images((dist / f"layer/{LAYER}/index.html").read_text())
    assert grid and all("/thumb/" in img["src"] for img in grid)
    channel = _images((dist / f"layer/{LAYER}/0/index.html").read_text())
    assert "/view/" in channel[0]["src"]
    assert not _duplicates(dist)


def test_lossless_views_hold_the_atlas_pixels(big_site, big_atlas):
    manifest = json.loads((big_site / "manifest.json").read_text())
    for entry in manifest["images"][:: len(manifest["images"]) // 7]:
        view = Image.open(big_site / entry["view"])
        assert view.format == "WEBP" and (big_site / entry["view"]).read_bytes()[12:16] == b"VP8L"  # lossless
        original = np.asarray(Image.open(big_atlas / entry["path"]).convert("RGB"))
        assert np.array_equal(np.asarray(view.convert("RGB")), original), entry["path"]


def test_build_cache_stays_out_of_dist(site, big_site):
    for dist in (site, big_site):
        assert not [p for p in dist.rglob("*") if "vtl-build" in p.name]
        cache = build_cache_path(dist)
        assert cache.is_file() and cache.parent == dist.parent and json.loads(cache.read_text())["images"]


def test_a_cache_left_in_dist_by_an_older_build_cleans_up_and_goes(atlas, tmp_path):
    dist = tmp_path / "dist"
    build(atlas, dist, publishing=Publishing("all"))
    cache = build_cache_path(dist)
    older = {**json.loads(cache.read_text()), "version": 1}
    (dist / ".vtl-build.json").write_text(json.dumps(older))  # where builds before this one kept it
    cache.unlink()
    build(atlas, dist)
    assert cache.is_file() and not (dist / ".vtl-build.json").exists()
    assert not any(dist.rglob("*.zip")) and not any(dist.glob("img/**/*.png"))  # what it listed, now stale


# --- sharp pixels, eager first screen ---------------------------------------------------------------


def test_pixelated_only_from_twice_the_file_size():
    derived = Derived("0" * 64, (128, 128), thumb=(96, 96), view=(128, 128))
    assert derived.pixelated("view", 256) and not derived.pixelated("view", 255)
    assert not derived.pixelated("thumb", 96) and derived.pixelated("thumb", 192)


def test_enlarged_images_are_marked_and_styled_pixelated(site, big_site):
    css = (big_site / "static/site.css").read_text()
    rule = re.search(r"([^{}]*)\{[^}]*image-rendering:\s*pixelated", css)
    assert rule and "img.pixelated" in rule.group(1)
    # 64 px views drawn 256 px wide (4x) are sharp; 64 px grid images drawn 96 px wide (1.5x) are smoothed.
    channel = _images((big_site / f"layer/{LAYER}/3/index.html").read_text())
    views = [img for img in channel if "/view/" in img["src"] and img["width"] == "64"]
    assert views and all("pixelated" in img.get("class", "") for img in views)
    grid = _images((big_site / f"layer/{LAYER}/index.html").read_text())
    assert grid and not [img for img in grid if "pixelated" in img.get("class", "")]
    # 32 px images are sharp in the grids too (3x), and keep their pre/post class.
    small = _images((site / f"model/celeba/layer/{LAYER}/index.html").read_text())
    assert small and all("pixelated" in img["class"].split() for img in small)
    assert sum(img["class"].split() == ["pre", "pixelated"] for img in small) == 4


def test_first_screen_is_eager_then_lazy(big_site):
    grid = _images((big_site / f"layer/{LAYER}/index.html").read_text())
    eager = first_screen("layer.html")
    assert len(grid) == 2 * CHANNELS > eager
    assert [img["loading"] for img in grid] == ["eager"] * eager + ["lazy"] * (len(grid) - eager)
    for page in (
        "index.html",
        f"layer/{LAYER}/7/index.html",
        "layer/index.html",
        "figures/figure-7/index.html",
    ):
        images = _images((big_site / page).read_text())
        assert images and images[0]["loading"] == "eager", page
        assert [img["loading"] for img in images] == sorted(
            (img["loading"] for img in images), key=["eager", "lazy"].index
        ), page


def test_layers_index_shows_each_layers_first_channel(big_site):
    html = (big_site / "layer/index.html").read_text()
    cells = re.findall(r'<td class="layer-thumb">(.*?)</td>', html, re.S)
    with_image = [cell for cell in cells if "<img" in cell]
    assert len(with_image) == 2  # the two rendered layers; the other rows have an empty cell
    for cell in with_image:
        assert re.search(r'href="\.\./layer/\w+/0/index\.html"', cell) and "imagenet" in cell


# --- images.csv, catalog.sqlite, manifest.json ------------------------------------------------------


def test_images_csv_matches_the_catalog(big_site, big_atlas):
    with open(big_site / "images.csv", newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == CSV_COLUMNS
        rows = list(reader)
    catalog = {row["path"]: row for row in _catalog_rows(big_atlas / "catalog.sqlite")}
    assert len(rows) == len(catalog) == 2 * 2 * CHANNELS
    assert {row["path"] for row in rows} == set(catalog)
    for row in rows:
        truth = catalog[row["path"]]
        for column in ("model", "snapshot", "method", "layer", "variant", "settings", "sha256"):
            assert row[column] == truth[column], (row["path"], column)
        assert int(row["channel"]) == truth["channel"] and int(row["size"]) == truth["size"]
        assert float(row["objective"]) == truth["objective"]
        assert row["key"].split("/") == [truth[k] for k in ("model", "snapshot", "method", "layer")] + [
            str(truth["channel"])
        ]
        assert row["sha256"] == hashlib.sha256((big_atlas / row["path"]).read_bytes()).hexdigest()
        assert (big_site / row["view"]).is_file() and (big_site / row["page"] / "index.html").is_file()
        assert row["original"] == ""  # not published by default
        assert "period_px" in json.loads(row["measurements"])


def test_catalog_download_is_the_atlas_catalog(big_site, big_atlas):
    copy = _catalog_rows(big_site / "catalog.sqlite")
    assert copy == _catalog_rows(big_atlas / "catalog.sqlite")
    db = sqlite3.connect(f"file:{big_site / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] != "wal"  # one file, readable read-only
        assert {"images", "metrics", "models", "layers"} <= {
            name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
    finally:
        db.close()


def test_downloads_are_listed_in_the_manifest_and_linked(big_site):
    manifest = json.loads((big_site / "manifest.json").read_text())
    files = {entry["path"]: entry for entry in manifest["downloads"]["files"]}
    assert set(files) == {"images.csv", "catalog.sqlite"}
    for path, entry in files.items():
        data = (big_site / path).read_bytes()
        assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()
    page = (big_site / "downloads/index.html").read_text()
    assert 'href="../images.csv"' in page and 'href="../catalog.sqlite"' in page
    assert manifest["downloads"]["mode"] == "none" and manifest["downloads"]["views"] == "lossless"


# --- what --downloads publishes ---------------------------------------------------------------------


def test_downloads_none_publishes_and_links_no_png_or_zip(big_site):
    assert not list(big_site.rglob("*.zip")) and not list(big_site.rglob("*.png"))
    assert not [link for link in _links(big_site) if ".zip" in link or ".png" in link or "img/" in link]
    manifest = json.loads((big_site / "manifest.json").read_text())
    assert all(entry["zip"] is None and entry["url"] is None for entry in manifest["images"])


def test_downloads_all_publishes_originals_and_zips(big_atlas, tmp_path):
    dist = tmp_path / "dist"
    build(big_atlas, dist, publishing=Publishing("all"))
    manifest = json.loads((dist / "manifest.json").read_text())
    entry = manifest["images"][5]
    assert (dist / entry["url"]).read_bytes() == (big_atlas / entry["path"]).read_bytes()
    assert entry["view"] == entry["url"]  # the PNG is the view: no second copy of the same pixels
    assert not (dist / "view").exists()
    with zipfile.ZipFile(dist / entry["zip"]) as bundle:
        member = entry["path"].removeprefix("images/")
        assert hashlib.sha256(bundle.read(member)).hexdigest() == entry["sha256"]
    grid = (dist / f"model/celeba/layer/{LAYER}/index.html").read_text()
    assert f'href="../../../../downloads/celeba/{LAYER}.zip"' in grid
    channel = (dist / f"layer/{LAYER}/1/index.html").read_text()
    assert f'href="../../../img/celeba/final/channel/{LAYER}/0001.png" download>PNG 64×64' in channel
    assert "ZIP per model and layer" in (dist / "downloads/index.html").read_text()


def test_downloads_zip_keeps_loose_originals_out(big_atlas, tmp_path):
    dist = tmp_path / "dist"
    build(big_atlas, dist, publishing=Publishing("zip"))
    assert list(dist.rglob("*.zip")) and not (dist / "img").exists()
    assert not [link for link in _links(dist) if link.endswith(".png")]


def test_originals_url_links_the_published_atlas(big_atlas, tmp_path):
    dist = tmp_path / "dist"
    build(big_atlas, dist, publishing=Publishing("none", originals_url="https://data.example.org/vtl-atlas"))
    path = f"images/celeba/final/channel/{LAYER}/0001.png"
    channel = (dist / f"layer/{LAYER}/1/index.html").read_text()
    assert f'href="https://data.example.org/vtl-atlas/{path}" download>PNG 64×64' in channel
    manifest = json.loads((dist / "manifest.json").read_text())
    assert {entry["url"] for entry in manifest["images"]} >= {f"https://data.example.org/vtl-atlas/{path}"}
    with open(dist / "images.csv", newline="") as handle:
        assert all(row["original"].startswith("https://data.example.org/") for row in csv.DictReader(handle))
    assert not list(dist.rglob("*.png"))


def test_views_auto_are_lossless_for_a_small_atlas_only(big_atlas, tmp_path, monkeypatch):
    assert Publishing().resolved(LOSSLESS_BUDGET).views == "lossless"
    assert Publishing().resolved(LOSSLESS_BUDGET + 1).views == "lossy"
    assert Publishing(views="lossless").resolved(10 * LOSSLESS_BUDGET).views == "lossless"
    monkeypatch.setattr("vtl_gallery.publish.LOSSLESS_BUDGET", 1000)  # as if the atlas were large
    dist, lines = tmp_path / "dist", []
    build_site(big_atlas, dist, site_src=ROOT / "vtl_gallery" / "site_src", workers=1, log=lines.append)
    assert [line for line in lines if "lossy views (--views auto" in line]
    views = list((dist / "view").rglob("*.webp"))
    assert len(views) == 2 * 2 * CHANNELS and all(path.read_bytes()[12:16] == b"VP8 " for path in views)
    assert json.loads((dist / "manifest.json").read_text())["downloads"]["views"] == "lossy"
    assert ">WebP 64×64</a> (lossy)" in (dist / f"layer/{LAYER}/2/index.html").read_text()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"downloads": "everything"}, "none, originals, zip, all"),
        ({"views": "tiny"}, "auto, lossless, lossy"),
        ({"originals_url": "javascript:alert(1)"}, "refused"),
        ({"originals_url": "atlas/images"}, "refused"),
        ({"downloads": "originals", "originals_url": "https://example.org/a/"}, "use one"),
    ],
)
def test_publishing_refuses_bad_values(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Publishing(**settings)


def test_cli_downloads_flags(atlas, tmp_path, capsys):
    base = ["site", "--atlas", str(atlas), "--site-src", str(ROOT / "vtl_gallery" / "site_src")]
    out = tmp_path / "zip"
    assert cli.main([*base, "--out", str(out), "--downloads", "zip", "--views", "lossy"]) == 0
    assert list(out.rglob("*.zip")) and not (out / "img").exists()
    views = list((out / "view").rglob("*.webp"))
    assert views and all(path.read_bytes()[12:16] == b"VP8 " for path in views)  # lossy WebP
    bad = ["--out", str(tmp_path / "bad"), "--downloads", "all", "--originals-url", "https://example.org/"]
    assert cli.main([*base, *bad]) == 1
    assert "use one" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main([*base, "--out", str(tmp_path / "bad"), "--downloads", "some"])


# --- in a browser ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_server(big_site: Path) -> Iterator[str]:
    with serve(big_site) as url:
        yield url


_ON_SCREEN = """() => [...document.images].filter((img) => {
  const box = img.getBoundingClientRect();
  return box.width > 0 && box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth;
}).map((img) => [img.getAttribute("src"), img.getAttribute("loading")])"""


@pytest.mark.browser
@pytest.mark.parametrize("viewport", [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_images_on_the_first_screen_load_eagerly(browser, big_server, viewport):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    try:
        for path in (
            "index.html",
            "layer/index.html",
            f"layer/{LAYER}/index.html",
            f"model/celeba/layer/{LAYER}/index.html",
            f"model/imagenet/layer/{LAYER}/index.html",  # one image per card: the most per screen
            f"layer/{LAYER}/7/index.html",
            "figures/figure-6/index.html",
            "figures/figure-7/index.html",
        ):
            page.goto(big_server + path, wait_until="load")
            shown = page.evaluate(_ON_SCREEN)
            lazy = [src for src, loading in shown if loading != "eager"]
            assert not lazy, f"{path}: {len(lazy)} of the {len(shown)} images on the first screen are lazy"
    finally:
        page.close()


@pytest.mark.browser
def test_enlarged_views_are_drawn_with_sharp_pixels(browser, big_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    try:
        page.goto(big_server + f"layer/{LAYER}/3/index.html", wait_until="load")
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.shot img')).imageRendering")
            == "pixelated"
        )
        page.goto(big_server + f"layer/{LAYER}/index.html", wait_until="load")
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.cells img')).imageRendering") == "auto"
        )
    finally:
        page.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched
