"""An atlas of several networks: each network's layers on their own pages, never compared across networks."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.helpers.fake_atlas import FakeModel, write_fake_atlas
from vtl_gallery.catalog import read_atlas

from .conftest import build

SHARED = ("conv2d", "conv2d_1")

TWO_NETWORKS = (
    FakeModel("imagenet", "ImageNet", network="inception_v1", layers=("Conv2d_2b_1x1",)),
    FakeModel("cat", "Flowers", parent="imagenet", network="inception_v1", layers=("Conv2d_2b_1x1",)),
    FakeModel("mine", "Mine", width=None, network="mine", network_label="Mine (mine.keras)", layers=SHARED),
    FakeModel("mine_ft", "Faces", parent="mine", width=None, network="mine", layers=SHARED),
    FakeModel(
        "yours", "Yours", width=None, network="yours", network_label="Yours (yours.keras)", layers=SHARED
    ),
    FakeModel(
        "yours_ft",
        "Flowers",
        parent="yours",
        width=None,
        network="yours",
        layers=SHARED,
        snapshots=(("iter_000000", 0, 0.5), ("final", 10, 0.8)),
    ),
)
MODELS = {"mine": {"mine", "mine_ft"}, "yours": {"yours", "yours_ft"}}


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("networks")
    atlas = write_fake_atlas(root / "atlas", models=TWO_NETWORKS, channels=2)
    build(atlas, root / "dist")
    return root / "dist"


def _models_named(html: str) -> set[str]:
    """Model names linked from a page (``model/<name>/``)."""
    return set(re.findall(r'href="[./]*model/([A-Za-z0-9_]+)/', html))


def test_each_network_has_its_own_layer_and_channel_pages(site):
    for network, models in MODELS.items():
        for layer in SHARED:
            for page in (f"network/{network}/layer/{layer}/", f"network/{network}/layer/{layer}/1/"):
                html = (site / page / "index.html").read_text()
                assert _models_named(html) & {"mine", "mine_ft", "yours", "yours_ft"} == models, page
    assert not (site / "layer" / "conv2d").exists()  # an id of two networks has no network-less page


def test_inception_urls_do_not_move_when_other_networks_join(site):
    html = (site / "layer/Conv2d_2b_1x1/0/index.html").read_text()
    assert _models_named(html) & {"imagenet", "cat", "mine", "yours"} == {"imagenet", "cat"}
    assert (site / "data/layer/Conv2d_2b_1x1.js").is_file()


def _data(path: Path) -> dict:
    text = path.read_text()
    return json.loads(text[text.index("(") + 1 : text.rindex(")")].split(",", 1)[1])


def test_compare_pairs_stay_within_a_network(site):
    for network, models in MODELS.items():
        data = _data(site / f"data/network/{network}/layer/conv2d.js")
        assert data["layer"] == f"{network}/conv2d"
        assert {key.split("@")[0] for key in data["images"]} == models
        pairs = [pair for channel in data["pairs"].values() for pair in channel]
        assert pairs and all(key.split("@")[0] in models for pair in pairs for key in pair[:2])
    html = (site / "network/yours/layer/conv2d/0/index.html").read_text()
    queries = re.findall(r'compare/(?:index\.html)?\?([^"]+)"', html)
    assert queries and all("layer=yours%2Fconv2d" in q and "mine" not in q for q in queries)
    assert any("a=yours_ft@iter_000000" in q for q in queries)  # the temporal pair, in its own network


def test_search_finds_each_networks_layer_and_names_its_network(site):
    index = _data(site / "search/index.js")
    entries = [entry for entry in index["layers"] if entry["id"] == "conv2d"]
    assert {(e["key"], e["network"], e["url"]) for e in entries} == {
        ("mine/conv2d", "Mine (mine.keras)", "network/mine/layer/conv2d/"),
        ("yours/conv2d", "Yours (yours.keras)", "network/yours/layer/conv2d/"),
    }
    assert all(set(e["models"]) == MODELS[e["key"].split("/")[0]] for e in entries)
    assert "conv2d_conv" in entries[0]["names"]  # the catalogue's aliases find the layer too


def test_pages_show_the_facts_their_network_has(site):
    mine = (site / "network/mine/layer/conv2d_1/index.html").read_text()
    assert "graph order" in mine and "receptive field 3 px" in mine
    assert "slim" not in mine and "paper&#39;s order" not in mine and "paper's order" not in mine
    inception = (site / "layer/Conv2d_2b_1x1/index.html").read_text()
    assert "slim checkpoint scope" in inception and "paper's order" in inception


def test_home_and_layers_index_name_every_network(site):
    home = (site / "index.html").read_text()
    assert "1 of the 57 conv layers of InceptionV1" in home
    assert "2 conv layers of Mine (mine.keras)" in home and "Yours (yours.keras)" in home
    layers = (site / "layer/index.html").read_text()
    assert "network/mine/layer/conv2d/" in layers and "<h2" in layers  # one table per network
    assert "network/yours/layer/conv2d_1/" in layers


def test_an_atlas_without_inception_has_no_figure_pages(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", models=TWO_NETWORKS[2:4], channels=1)
    build(atlas, tmp_path / "dist")
    assert not (tmp_path / "dist/figures").exists()
    home = (tmp_path / "dist/index.html").read_text()
    assert (
        "figures/" not in home
        and "network/mine/layer/conv2d/" in (tmp_path / "dist/layer/index.html").read_text()
    )


def test_catalogs_without_networks_infer_them(tmp_path):
    atlas = write_fake_atlas(
        tmp_path / "atlas",
        models=(
            FakeModel("imagenet", "ImageNet", layers=("Conv2d_2b_1x1",)),
            FakeModel("own", "Own", width=None, layers=SHARED),
            FakeModel("own_ft", "Faces", parent="own", width=None, layers=SHARED),
        ),
        channels=1,
    )
    db = sqlite3.connect(atlas / "catalog.sqlite")
    db.execute("DELETE FROM layers WHERE network != 'inception_v1'")  # as a format-1 catalog has them
    db.commit()
    db.close()
    read = read_atlas(atlas)
    assert {name: row.network for name, row in read.models.items()} == {
        "imagenet": "inception_v1",
        "own": "own",
        "own_ft": "own",
    }
    assert ("own", "conv2d") in read.layers and ("inception_v1", "conv2d") not in read.layers


def test_a_parent_of_another_network_is_never_shown_as_before_transfer(tmp_path):
    cross = FakeModel("cross", "Cross", parent="mine", width=None, network="yours", layers=SHARED)
    atlas = write_fake_atlas(tmp_path / "atlas", models=(*TWO_NETWORKS[2:4], cross), channels=4)
    build(atlas, tmp_path / "dist")
    dist = tmp_path / "dist"
    assert "mine (pre)" in (dist / "model/mine_ft/layer/conv2d/index.html").read_text()
    assert "mine (pre)" not in (dist / "model/cross/layer/conv2d/index.html").read_text()
    assert (dist / "network/mine/figures/figure-7/index.html").is_file()
    assert not (dist / "network/yours/figures").exists()  # mine's conv2d is not yours's conv2d


@pytest.mark.browser
def test_search_and_compare_in_a_browser_keep_networks_apart(site):
    from tests.helpers.browser import launch_chromium, serve

    with launch_chromium() as browser, serve(site) as base:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(base + "search/index.html?q=conv2d:1")
        page.wait_for_selector("#search-page-results a")
        hits = page.eval_on_selector_all("#search-page-results a", "a => a.map(x => x.href)")
        assert any(h.endswith("network/mine/layer/conv2d/1/index.html") for h in hits)
        assert any(h.endswith("network/yours/layer/conv2d/1/index.html") for h in hits)
        assert "Mine (mine.keras)" in page.inner_text("#search-page-results")

        page.goto(base + "network/yours/layer/conv2d/0/index.html")
        page.click(".compare-links a.button >> nth=0")
        page.wait_for_function("document.getElementById('cmp-img-b').getAttribute('src')")
        assert "yours_ft/final" in page.get_attribute("#cmp-img-b", "src")
        assert "/yours/final" in page.get_attribute("#cmp-img-a", "src")
        assert page.input_value("#cmp-layer") == "yours/conv2d"
        assert page.get_attribute("#cmp-channel-link", "href").endswith(
            "network/yours/layer/conv2d/0/index.html"
        )
        assert not errors
