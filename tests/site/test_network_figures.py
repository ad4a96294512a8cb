"""Figures 6 and 7 for a network other than InceptionV1: built where the atlas has what they need."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from tests.helpers.fake_atlas import FakeModel, write_fake_atlas
from visualizer.models.layers import evenly_by_depth

from .conftest import build

LAYERS = tuple(f"layer{i:02d}" for i in range(1, 11))  # graph indices 1..10 (from the digits)
TEMPORAL_LAYERS = ("layer03", "layer07")
SNAPSHOTS = (("iter_000000", 0, 0.5), ("iter_000010", 10, 0.6), ("final", 30, 0.8))
FIG = "network/mine/figures/"


def _mine(temporal: bool = True) -> tuple[FakeModel, ...]:
    models = [
        FakeModel(
            "mine", "Source", width=None, network="mine", network_label="Mine (mine.keras)", layers=LAYERS
        ),
        FakeModel("flowers", "Flowers", parent="mine", width=None, network="mine", layers=LAYERS),
        FakeModel("faces_celeba", "Faces", parent="mine", width=None, network="mine", layers=LAYERS),
    ]
    if temporal:
        models.append(
            FakeModel(
                "mine_t",
                "Faces",
                parent="mine",
                width=None,
                network="mine",
                layers=TEMPORAL_LAYERS,
                snapshots=SNAPSHOTS,
            )
        )
    return tuple(models)


INCEPTION = (
    FakeModel("imagenet", "ImageNet", network="inception_v1", layers=("Conv2d_2b_1x1",)),
    FakeModel("celeba", "CelebA", parent="imagenet", network="inception_v1", layers=("Conv2d_2b_1x1",)),
)


@pytest.fixture(scope="module")
def mine_site(tmp_path_factory) -> Path:
    """A site of one network other than InceptionV1, with two transfers and a temporal run."""
    root = tmp_path_factory.mktemp("mine")
    build(write_fake_atlas(root / "atlas", models=_mine(), channels=4, size=8), root / "dist")
    return root / "dist"


def _rows(markup: str) -> list[str]:
    """The row labels of a figure table (layer ids or snapshots)."""
    return re.findall(r'<th scope="row">(?:<a [^>]*>)?([\w-]+)', markup)


def _text(path: Path) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text())))


def test_evenly_by_depth_ends_with_the_deepest_and_keeps_short_lists():
    assert evenly_by_depth(list(range(49)), 8) == [6, 12, 18, 24, 30, 36, 42, 48]
    assert evenly_by_depth(list(range(10)), 8) == [1, 2, 3, 4, 6, 7, 8, 9]
    assert evenly_by_depth(["a", "b"], 8) == ["a", "b"]


def test_figure7_of_another_network_has_eight_layers_by_depth_and_the_celeba_like_model(mine_site):
    page = mine_site / FIG / "figure-7/index.html"
    markup = page.read_text()
    expected = [LAYERS[i] for i in evenly_by_depth(list(range(len(LAYERS))), 8)]
    assert _rows(markup) == expected and LAYERS[-1] in expected and LAYERS[0] not in expected
    assert "mine → faces_celeba" in _text(page)  # CelebA-like name first, though flowers comes first
    text = _text(page)
    assert "eight layers evenly spaced by depth" in text and "Mine (mine.keras)" in text
    assert "not the paper's layers" in text
    # every cell links to a channel page of this network
    assert re.findall(r'href="[./]*network/mine/layer/(layer\d\d)/0/', markup)
    assert not re.search(r'href="[./]*layer/layer\d\d/', markup.replace("network/mine/layer/", ""))


def test_other_post_transfer_models_get_their_own_figure7_page(mine_site):
    flowers = mine_site / FIG / "figure-7/flowers/index.html"
    assert "mine → flowers" in _text(flowers)
    temporal = (mine_site / FIG / "figure-7/mine_t/index.html").read_text()
    assert _rows(temporal) == list(TEMPORAL_LAYERS)  # only the layers it has
    default = (mine_site / FIG / "figure-7/index.html").read_text()
    assert "figure-7/flowers/" in default and "figure-7/mine_t/" in default


def test_figure6_of_another_network_shows_the_temporal_run_on_its_layers(mine_site):
    page = mine_site / FIG / "figure-6/index.html"
    markup = page.read_text()
    headings = re.findall(r"<h2>\((\w)\) <a [^>]*>(\w+)</a>", markup)
    assert headings == [("a", "layer03"), ("b", "layer07")]
    assert markup.count('<table class="figure">') == 2
    assert "mine_t" in markup and "Mine (mine.keras)" in _text(page)
    assert len(re.findall(r'<th scope="row">', markup)) == 2 * len(SNAPSHOTS)


def test_the_figures_index_and_nav_list_another_networks_figures(mine_site):
    index = (mine_site / "figures/index.html").read_text()
    for target in ("figure-6/", "figure-7/", "figure-7/flowers/", "figure-7/mine_t/"):
        assert f"network/mine/figures/{target}" in index
    assert "figures/figure-6/" not in index.replace("network/mine/figures/", "")  # no InceptionV1 figure
    home = (mine_site / "index.html").read_text()
    assert re.search(r'<nav[^>]*>.*?href="[./]*figures/', home, re.S)
    assert not (mine_site / "figures/figure-6").exists() and not (mine_site / "figures/figure-7").exists()


def test_a_network_without_a_temporal_run_has_no_figure6(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", models=_mine(temporal=False), channels=4, size=8)
    build(atlas, tmp_path / "dist")
    assert (tmp_path / "dist" / FIG / "figure-7/index.html").is_file()
    assert not (tmp_path / "dist" / FIG / "figure-6").exists()
    assert "figure-6/" not in (tmp_path / "dist/figures/index.html").read_text()


def test_a_mixed_atlas_keeps_inception_figure_urls(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", models=INCEPTION + _mine(), channels=4, size=8)
    build(atlas, tmp_path / "dist")
    dist = tmp_path / "dist"
    inception = (dist / "figures/figure-7/index.html").read_text()
    assert "imagenet → celeba" in _text(dist / "figures/figure-7/index.html")
    assert "Conv2d_2b_1x1" in _rows(inception) and not set(_rows(inception)) & set(LAYERS)
    assert (dist / "figures/figure-6/index.html").is_file()
    assert (dist / FIG / "figure-7/index.html").is_file() and (dist / FIG / "figure-6/index.html").is_file()
    index = (dist / "figures/index.html").read_text()
    assert "InceptionV1" in index and "Mine (mine.keras)" in index
    assert 'href="figure-6/' in index or "figures/figure-6/" in index


def test_publication_files_of_another_networks_figures_name_the_network(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", models=_mine(), channels=4, size=8)
    build(atlas, tmp_path / "dist", figures="pages")
    folder = tmp_path / "dist" / FIG
    for name in ("figure-6/figure-6-1col.pdf", "figure-7/figure-7-1col.png", "figure-7/flowers/"):
        assert any(folder.glob(name + ("*.pdf" if name.endswith("/") else ""))), name
    text = _text(folder / "figure-7/index.html")
    assert "The paper's figure 7 for Mine (mine.keras)" in text
