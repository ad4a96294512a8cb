"""The built site: pages at their URLs, downloads, manifest, sitemap, figures, CLI."""

from __future__ import annotations

import hashlib
import json
import re

from visualizer import cli
from vtl_gallery.build import build_site

from .conftest import BASE_URL, ROOT, build


def test_every_entry_point_exists(site):
    for path in [
        "index.html",
        "layer/index.html",
        "model/index.html",
        "model/celeba/index.html",
        "model/celeba/layer/Mixed_4c_Branch_2_b_3x3/index.html",
        "layer/Mixed_4c_Branch_2_b_3x3/index.html",
        "layer/Mixed_4c_Branch_2_b_3x3/3/index.html",
        "figures/figure-6/index.html",
        "figures/figure-7/index.html",
        "figures/figure-7/flowers17/index.html",
        "compare/index.html",
        "search/index.html",
        "downloads/index.html",
        "cite/index.html",
        "license/index.html",
        "about/index.html",
        "search/index.js",
        "data/layer/Mixed_4c_Branch_2_b_3x3.js",
        "sitemap.xml",
        "robots.txt",
        "manifest.json",
    ]:
        assert (site / path).is_file(), path


def test_channel_page_shows_every_model_strip_and_citation(site):
    html = (site / "layer/Mixed_4c_Branch_2_b_3x3/1/index.html").read_text()
    for model in ("imagenet", "celeba", "flowers17", "celeba_temporal"):
        assert f'id="m-{model}"' in html
    assert html.count('class="strip"') == 1  # only the temporal model has a strip
    assert "iteration 10" in html or "it. 10" in html
    assert '<meta name="citation_title"' in html
    assert '<meta name="citation_author" content="Róbert Szabó">' in html
    assert "@misc{vtl:Mixed_4c_Branch_2_b_3x3:1," in html
    assert BASE_URL + "layer/Mixed_4c_Branch_2_b_3x3/1/" in html
    assert 'rel="prev" href="../../../layer/Mixed_4c_Branch_2_b_3x3/0/index.html"' in html
    assert 'rel="next" href="../../../layer/Mixed_4c_Branch_2_b_3x3/2/index.html"' in html
    assert (
        "../../../compare/index.html?layer=Mixed_4c_Branch_2_b_3x3&amp;channel=1&amp;a=imagenet@final" in html
    )
    assert ">WebP 32×32</a> (lossless)" in html  # the originals are not published by default


def test_pre_post_grid_and_paper_order(site):
    html = (site / "model/celeba/layer/Mixed_4c_Branch_2_b_3x3/index.html").read_text()
    assert "imagenet (pre)" in html and "celeba (post)" in html
    assert html.count('class="card"') == 4
    assert html.count('<img class="pre') == 4  # "pre", or "pre pixelated" for these 32 px images
    layers = (site / "layer/index.html").read_text()
    order = [m for m in re.findall(r"<td>(?:<a [^>]*>)?((?:Conv2d|Mixed)_\w+?)(?:</a>)?</td>", layers)]
    assert order[:3] == ["Conv2d_1a_7x7", "Conv2d_2b_1x1", "Conv2d_2c_3x3"]
    assert order.index("Mixed_3b_Branch_1_a_1x1") < order.index("Mixed_3b_Branch_0_a_1x1")
    assert "mixed4b" in layers  # Lucid block name of slim Mixed_4c


def test_figures_rebuilt_from_atlas(site):
    fig7 = (site / "figures/figure-7/index.html").read_text()
    rows = re.findall(r'<th scope="row">(?:<a [^>]*>)?(\w+)', fig7)
    # The eight layers the atlas records for figure 7, those the paper prints, whichever are rendered.
    assert rows == [
        "Conv2d_2b_1x1",
        "Mixed_3b_Branch_3_b_1x1",
        "Mixed_4b_Branch_1_a_1x1",
        "Mixed_4c_Branch_2_a_1x1",
        "Mixed_4d_Branch_0_a_1x1",
        "Mixed_4e_Branch_1_b_3x3",
        "Mixed_4f_Branch_2_b_3x3",
        "Mixed_5b_Branch_3_b_1x1",
    ]
    assert "not rendered in this atlas" in fig7
    fig6 = (site / "figures/figure-6/index.html").read_text()
    assert "celeba_temporal" in fig6
    assert "(a) 4c_2_b_3x3" in fig6 and "Missing:" in fig6  # 4d_3_b_1x1 etc. are not in the fake atlas


def test_manifest_checksums(site, atlas):
    """The default build: checksums of the atlas's PNGs, the view on the site, no PNG or ZIP
    (tests/site/test_weight.py checks the manifest of a build with them)."""
    manifest = json.loads((site / "manifest.json").read_text())
    assert len(manifest["images"]) == 92
    entry = next(
        e
        for e in manifest["images"]
        if e["channel_id"] == "Mixed_4c_Branch_2_b_3x3:2" and e["key"]["model"] == "celeba"
    )
    assert entry["aliases"]["short_id"] == "4c_2_b_3x3"
    assert entry["sha256"] == hashlib.sha256((atlas / entry["path"]).read_bytes()).hexdigest()
    assert (site / entry["view"]).is_file() and entry["url"] is None and entry["zip"] is None


def test_search_index_has_every_alias(site):
    text = (site / "search/index.js").read_text()
    assert text.startswith('vtlData("search",')
    index = json.loads(text[len('vtlData("search",') : -3])
    layer = next(entry for entry in index["layers"] if entry["id"] == "Mixed_4c_Branch_2_b_3x3")
    assert {"4c_2_b_3x3", "InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3", "mixed4b"} <= set(layer["names"])
    assert {m["name"] for m in index["models"]} == {"imagenet", "celeba", "flowers17", "celeba_temporal"}


def test_sitemap_absolute_and_split(atlas, tmp_path, site):
    sitemap = (site / "sitemap.xml").read_text()
    locs = re.findall(r"<loc>(.*?)</loc>", sitemap)
    assert all(loc.startswith(BASE_URL) for loc in locs)
    assert BASE_URL + "layer/Mixed_4c_Branch_2_b_3x3/3/" in locs
    dist = tmp_path / "dist"
    build(atlas, dist, sitemap_max_urls=10)
    index = (dist / "sitemap.xml").read_text()
    assert "<sitemapindex" in index
    parts = re.findall(r"<loc>(.*?)</loc>", index)
    assert len(parts) == -(-len(locs) // 10)
    assert sum((dist / p.removeprefix(BASE_URL)).read_text().count("<url>") for p in parts) == len(locs)


def test_builds_without_site_src_or_base_url(atlas, tmp_path):
    dist = tmp_path / "bare"
    report = build_site(atlas, dist, site_src=None, log=lambda line: None, workers=1)
    assert report.pages > 50
    assert not (dist / "sitemap.xml").exists()
    assert "How to cite" not in (dist / "index.html").read_text()


def test_cli_site_command(atlas, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli.main(
        [
            "site",
            "--atlas",
            str(atlas),
            "--out",
            str(out),
            "--site-src",
            str(ROOT / "vtl_gallery" / "site_src"),
        ]
    )
    assert code == 0
    assert (out / "index.html").is_file()
    assert "pages" in capsys.readouterr().err
    assert cli.main(["site", "--atlas", str(tmp_path / "nope"), "--out", str(out)]) == 1
    assert "No catalog" in capsys.readouterr().err
