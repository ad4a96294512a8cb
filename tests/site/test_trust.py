"""A gallery researchers can trust and cite (#24): comparisons pair what exists, the text says what the
atlas holds, citations are absolute with a base URL (and say so without), keys are shown where they work.

Most tests read the demo-shaped site (`demo_site`: DEMO_MODELS, built without a base URL), where the
temporal run is alone on figure 6's layers, one layer has five methods and every dataset is synthetic.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from markupsafe import Markup

from tests.helpers.fake_atlas import FakeModel, write_fake_atlas
from vtl_gallery.content import MarkdownPage
from vtl_gallery.facts import BLOCKS, DocPart, doc_parts, is_synthetic

from .conftest import BASE_URL, ROOT, build, pages
from .conftest import XHTML as _NS
from .conftest import element_text as _text
from .conftest import find_elements as _find
from .conftest import parse_html as _tree

FIG6_ONLY = "Mixed_4c_Branch_2_b_3x3"  # in the demo, only the temporal run has it
SHARED = "Mixed_5b_Branch_3_b_1x1"  # figure 6 and 7: every model
FIVE_METHODS = "Mixed_4e_Branch_1_b_3x3"


def _catalog(atlas: Path, sql: str, *args) -> list[tuple]:
    db = sqlite3.connect(atlas / "catalog.sqlite")
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def _channel_pages(site: Path) -> list[Path]:
    return [
        p for p in pages(site) if re.fullmatch(r"layer/[^/]+/\d+/index\.html", p.relative_to(site).as_posix())
    ]


def _compare_links(page: Path) -> list[dict[str, str]]:
    """The comparison pairs a channel page links to, as their query values."""
    tree = _tree(page)
    box = next(_find(tree, "p", cls="compare-links"))
    links = []
    for a in _find(box, "a"):
        href = a.get("href")
        assert "compare/index.html?" in href, href
        query = parse_qs(urlsplit(href).query)
        links.append({key: values[0] for key, values in query.items()} | {"label": _text(a)})
    return links


# --- 1. comparisons pair what exists -------------------------------------------------------------


def test_every_compare_link_pairs_two_different_images_that_exist(demo_site, demo_atlas):
    have = {
        (f"{m}@{s}", layer, c)
        for m, s, layer, c in _catalog(
            demo_atlas,
            "SELECT model, snapshot, layer, channel FROM images WHERE method = 'lucid' AND variant = ''",
        )
    }
    channel_pages = _channel_pages(demo_site)
    assert len(channel_pages) == 26
    for page in channel_pages:
        layer, channel = page.relative_to(demo_site).parts[1:3]
        links = _compare_links(page)
        assert links, f"{page}: no pair offered"
        for link in links:
            assert (link["layer"], link["channel"]) == (layer, channel)
            assert link["a"] != link["b"], f"{page}: {link['label']} pairs an image with itself"
            for side in ("a", "b"):
                assert (link[side], layer, int(channel)) in have, f"{page}: {link[side]} has no image"


def test_pairs_are_pre_against_post_and_first_snapshot_against_final(demo_site):
    alone = _compare_links(demo_site / f"layer/{FIG6_ONLY}/1/index.html")
    assert [(p["a"], p["b"]) for p in alone] == [("celeba_temporal@iter_000000", "celeba_temporal@final")]
    assert "iteration 0 (imagenet's weights)" in alone[0]["label"]
    shared = [(p["a"], p["b"]) for p in _compare_links(demo_site / f"layer/{SHARED}/0/index.html")]
    assert shared == [
        ("imagenet@final", "animals@final"),
        ("imagenet@final", "celeba@final"),
        ("imagenet@final", "celeba_temporal@final"),
        ("imagenet@final", "flowers17@final"),
        ("celeba_temporal@iter_000000", "celeba_temporal@final"),
    ]


def test_the_comparison_view_gets_the_same_pairs(demo_site):
    text = (demo_site / f"data/layer/{SHARED}.js").read_text()
    data = json.loads(text[len('vtlData("layer",') : -3])
    on_page = [
        [p["a"], p["b"], p["label"]] for p in _compare_links(demo_site / f"layer/{SHARED}/0/index.html")
    ]
    assert data["pairs"]["0"] == on_page
    assert set(data["pairs"]) == {str(c) for c in data["channels"]}


def test_compare_page_without_javascript_says_it_shows_no_pair(demo_site):
    tree = _tree(demo_site / "compare/index.html")
    noscript = next(tree.iter(f"{_NS}noscript"))
    # html5lib keeps <noscript> content as text (scripting on).
    assert "no pair is shown here" in "".join(noscript.itertext())
    app = next(_find(tree, "div", id="compare-app"))
    assert app.get("hidden") is not None  # the slider appears only where the script can read the pair
    assert not [img for img in app.iter(f"{_NS}img") if "webp" in (img.get("src") or "")]


# --- 2. honest, derived text -------------------------------------------------------------------------


def test_home_page_says_what_the_atlas_holds(demo_site, demo_atlas):
    channels = _catalog(demo_atlas, "SELECT COUNT(DISTINCT layer || ':' || channel) FROM images")[0][0]
    images = _catalog(demo_atlas, "SELECT COUNT(*) FROM images")[0][0]
    tree = _tree(demo_site / "index.html")
    text = _text(next(tree.iter(f"{_NS}main")))
    assert (channels, images) == (26, 224)
    assert f"{images} images of {channels} channels in 13 of the 57 conv layers" in text
    assert "a width-reduced InceptionV1 (width 0.25)" in text
    assert "Every dataset of this atlas is a synthetic world" in text
    for model, world in [("imagenet", "source"), ("celeba", "faces"), ("animals", "animals")]:
        assert f"{model}: {world} world (synthetic)" in text
    assert "7 snapshots, iteration 0 (imagenet's weights) to final (250 steps)" in text
    for method in ("lucid", "examples", "negative", "diversity", "negative_examples"):
        assert method in text
    assert "every channel" not in text.lower()
    assert "CelebA, Flowers17 and Animals" not in text
    description = next(m for m in tree.iter(f"{_NS}meta") if m.get("name") == "description").get("content")
    assert description.startswith(
        f"Feature visualizations of {channels} channels of a width-reduced InceptionV1"
    )
    assert "synthetic" in description and "every channel" not in description


def test_real_datasets_are_not_called_synthetic(tmp_path):
    models = (
        FakeModel("imagenet", "ImageNet (ILSVRC-2012), TF-slim checkpoint", dataset_kind="checkpoint"),
        FakeModel("flowers17", "Flowers17", parent="imagenet", dataset_kind="flowers17"),
        FakeModel("toy", "toy world", parent="imagenet", dataset_kind="world"),
    )
    atlas = write_fake_atlas(tmp_path / "atlas", models=models, layers=("Conv2d_2b_1x1",), channels=1)
    build(atlas, tmp_path / "dist")
    text = _text(next(_tree(tmp_path / "dist/index.html").iter(f"{_NS}main")))
    assert "flowers17: Flowers17; transferred from imagenet" in text
    assert "toy: toy world (synthetic)" in text
    assert "Of this atlas's datasets, toy world is a synthetic world" in text
    assert "of InceptionV1," in text  # full width
    assert [is_synthetic(k) for k in ("world", "World", "celeba", "", None)] == [
        True,
        True,
        False,
        False,
        False,
    ]


def test_layer_pages_name_the_methods_of_their_own_layer(demo_site, demo_atlas):
    per_layer: dict[str, set[str]] = {}
    for layer, method in _catalog(demo_atlas, "SELECT DISTINCT layer, method FROM images"):
        per_layer.setdefault(layer, set()).add(method)
    for layer, methods in per_layer.items():
        note = _text(next(_find(_tree(demo_site / f"layer/{layer}/index.html"), "p", cls="methods-note")))
        named = set(re.findall(r"\b(lucid|examples|negative_examples|negative|diversity)\b", note))
        assert named == methods, (layer, note)
    only = _text(next(_find(_tree(demo_site / f"layer/{FIG6_ONLY}/index.html"), "p", cls="methods-note")))
    assert "It is the only method rendered for this layer" in only


def test_temporal_grid_shows_the_parent_only_where_it_exists_and_labels_iteration_0(demo_site):
    alone = (demo_site / f"model/celeba_temporal/layer/{FIG6_ONLY}/index.html").read_text()
    assert "imagenet (pre)" not in alone and "not rendered" not in alone
    legend = [
        _text(s)
        for s in _find(
            _tree(demo_site / f"model/celeba_temporal/layer/{SHARED}/index.html"), "span", cls="col"
        )
    ]
    assert legend[:3] == [
        "imagenet (pre)",
        "celeba_temporal it. 0 (imagenet's weights)",
        "celeba_temporal it. 10 (post)",
    ]
    assert not [label for label in legend if "it. 0" in label and "post" in label]
    first_card = (demo_site / f"model/celeba_temporal/layer/{SHARED}/index.html").read_text()
    assert first_card.count('<img class="pre') == 2 * 2  # the parent and iteration 0, two channels


def test_channel_table_lists_each_image_once(demo_site, demo_atlas):
    for page in _channel_pages(demo_site):
        layer, channel = page.relative_to(demo_site).parts[1:3]
        table = next(_find(_tree(page), "table", id="images"))
        rows = [
            tuple(_text(td) for td in list(tr)[:4])
            for tr in next(table.iter(f"{_NS}tbody"))
            if tr.tag == f"{_NS}tr"
        ]
        duplicates = [row for row, n in Counter(rows).items() if n > 1]
        assert not duplicates, (page, duplicates)
        expected = _catalog(
            demo_atlas, "SELECT COUNT(*) FROM images WHERE layer = ? AND channel = ?", layer, int(channel)
        )
        assert len(rows) == expected[0][0], page


def test_channel_pages_show_the_recorded_settings(demo_site, demo_atlas):
    page = demo_site / f"layer/{FIVE_METHODS}/1/index.html"
    table = next(_find(_tree(page), "table", id="images"))
    settings = list(_find(table, "details", cls="settings"))
    assert len(settings) == len(list(_find(table, "tr"))) - 1 - sum(
        len(list(_find(d, "tr"))) for d in settings
    )
    recorded = json.loads(_catalog(demo_atlas, "SELECT settings FROM images LIMIT 1")[0][0])
    first = {_text(tr[0]): _text(tr[1]) for tr in _find(settings[0], "tr")}
    assert first == {name: v if isinstance(v, str) else json.dumps(v) for name, v in recorded.items()}
    assert _text(next(settings[0].iter(f"{_NS}summary"))) == "size 32, steps 128, seed 0"
    method = _text(next(_tree(demo_site / "method/index.html").iter(f"{_NS}main")))
    assert '"settings" column' in method


def test_every_column_and_number_is_explained(demo_site):
    layer = _tree(demo_site / f"model/celeba_temporal/layer/{SHARED}/index.html")
    explain = next(_find(layer, "dl", cls="explain"))
    terms = [_text(dt) for dt in explain.iter(f"{_NS}dt")]
    legend = [_text(s) for s in _find(layer, "span", cls="col")]
    assert set(legend) <= set(terms)
    assert {"objective", "period_px"} <= set(terms)
    assert "dominant repeating pattern" in _text(explain)
    channel = _tree(demo_site / f"layer/{SHARED}/1/index.html")
    headers = [
        _text(th)
        for th in next(_find(channel, "table", id="images")).iter(f"{_NS}th")
        if th.get("scope") == "col"
    ]
    explained = " ".join(_text(dt) for dt in next(_find(channel, "dl", cls="explain")).iter(f"{_NS}dt"))
    for header in headers:
        assert header in explained, header
    assert "period_px" in explained


def test_sort_names_the_column_it_sorts_by(demo_site, demo_atlas):
    tree = _tree(demo_site / f"layer/{SHARED}/index.html")
    options = [_text(o) for o in next(_find(tree, "select", id="sort-column")).iter(f"{_NS}option")]
    assert options == [_text(s) for s in _find(tree, "span", cls="col")]
    keys = [_text(o) for o in next(_find(tree, "select", id="sort-key")).iter(f"{_NS}option")]
    assert keys == ["channel", "objective", "period_px"]
    card = next(_find(tree, "li", cls="card"))
    objectives = [float(v) for v in card.get("data-k0").split(",")]
    expected = dict(
        _catalog(
            demo_atlas,
            "SELECT model, objective FROM images "
            "WHERE layer = ? AND channel = 0 AND method = 'lucid' AND snapshot = 'final'",
            SHARED,
        )
    )
    assert objectives == pytest.approx([expected[m] for m in options])


# --- 3. citable --------------------------------------------------------------------------------------


def test_with_a_base_url_every_citation_url_is_absolute(site):
    page = site / "layer/Mixed_4c_Branch_2_b_3x3/1/index.html"
    tree = _tree(page)
    url = BASE_URL + "layer/Mixed_4c_Branch_2_b_3x3/1/"
    metas = {m.get("name"): m.get("content") for m in tree.iter(f"{_NS}meta") if m.get("name")}
    assert metas["citation_public_url"] == url
    canonical = [link.get("href") for link in tree.iter(f"{_NS}link") if link.get("rel") == "canonical"]
    assert canonical == [url]
    assert "\\url{" + url + "}" in _text(next(_find(tree, "pre", id="bibtex")))
    permanent = [a.get("href") for a in tree.iter(f"{_NS}a") if _text(a) == url]
    assert permanent == [url]
    locs = re.findall(r"<loc>(.*?)</loc>", (site / "sitemap.xml").read_text())
    assert locs and all(loc.startswith(BASE_URL) for loc in locs)
    assert BASE_URL + "404.html" not in locs
    assert json.loads((site / "manifest.json").read_text())["base_url"] == BASE_URL
    cite = _text(next(_tree(site / "cite/index.html").iter(f"{_NS}main")))
    assert f"is at {BASE_URL}layer/" in cite and "without a base URL" not in cite


def test_without_a_base_url_the_build_warns_once_and_the_pages_say_so(demo_build):
    dist, lines = demo_build
    warnings = [line for line in lines if "warning" in line]
    assert len(warnings) == 1 and "citations will be relative" in warnings[0]
    cite = _text(next(_tree(dist / "cite/index.html").iter(f"{_NS}main")))
    assert "This copy of the site was built without a base URL" in cite
    tree = _tree(dist / f"layer/{SHARED}/1/index.html")
    names = [m.get("name") for m in tree.iter(f"{_NS}meta")]
    assert "citation_title" in names and "citation_public_url" not in names
    assert not [link for link in tree.iter(f"{_NS}link") if link.get("rel") == "canonical"]
    assert "built without a base URL" in _text(next(tree.iter(f"{_NS}main")))


def test_404_page_links_home_and_search_from_the_site_root(site, demo_site):
    for dist, base in ((site, BASE_URL), (demo_site, None)):
        tree = _tree(dist / "404.html")
        hrefs = {a.get("href") for a in tree.iter(f"{_NS}a")}
        assert {"index.html", "search/index.html"} <= hrefs
        bases = [b.get("href") for b in tree.iter(f"{_NS}base")]
        assert bases == ([base] if base else [])
        robots = [m.get("content") for m in tree.iter(f"{_NS}meta") if m.get("name") == "robots"]
        assert robots == ["noindex"]
        assert not [link for link in tree.iter(f"{_NS}link") if link.get("rel") == "canonical"]


def test_examples_on_the_cite_search_and_404_pages_are_channels_of_this_atlas(demo_site, site):
    for dist in (demo_site, site):
        cite = _text(next(_tree(dist / "cite/index.html").iter(f"{_NS}main")))
        paths = re.findall(r"(?<![<\w])(layer/[A-Za-z0-9_]+/\d+/)", cite)
        assert paths, cite
        for path in paths:
            assert (dist / path / "index.html").is_file(), path
        query = _text(next(_find(_tree(dist / "search/index.html"), "code", id="search-example")))
        short, channel = query.rsplit(":", 1)
        index = json.loads((dist / "search/index.js").read_text()[len('vtlData("search",') : -3])
        layer = next(entry for entry in index["layers"] if short in entry["names"])
        assert int(channel) in layer["channels"]
        assert f"({query} finds channel {layer['id']}:{channel})" in cite
        example = [
            a.get("href")
            for a in _tree(dist / "404.html").iter(f"{_NS}a")
            if a.get("href").startswith("layer/")
        ]
        assert example and all((dist / unquote(href)).is_file() for href in example)
    assert "4c_2_b_3x3:17" not in (demo_site / "search/index.html").read_text()


# --- placeholders of site_src pages ------------------------------------------------------------------


class _Facts:
    def inline(self) -> dict[str, str]:
        return {"example-channel": "L:1"}


def _page(html: str) -> MarkdownPage:
    return MarkdownPage("p", "P", 1, Markup(html), "")


def test_placeholders_fill_inline_text_and_split_blocks():
    parts = doc_parts(
        _page("<p>See <code>{{atlas:example-channel}}</code>.</p>\n<p>{{atlas:summary}}</p>\n<p>end</p>"),
        _Facts(),
    )
    assert parts == [
        DocPart(Markup("<p>See <code>L:1</code>.</p>\n")),
        DocPart(Markup(""), "summary"),
        DocPart(Markup("\n<p>end</p>")),
    ]
    assert set(BLOCKS) == {"summary", "models", "methods", "measurements", "citing"}
    with pytest.raises(ValueError, match=r"p\.md: \{\{atlas:nope\}\} is not a known placeholder"):
        doc_parts(_page("<p>{{atlas:nope}}</p>"), _Facts())
    with pytest.raises(ValueError, match="is a block: put it in a paragraph of its own"):
        doc_parts(_page("<p>text {{atlas:summary}}</p>"), _Facts())


def test_an_unknown_placeholder_in_site_src_stops_the_build(atlas, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "about.md").write_text("title: About\n\nSee {{atlas:example-chanel}}.\n")
    with pytest.raises(ValueError, match="about.md.*example-chanel.*example-channel"):
        build(atlas, tmp_path / "dist", site_src=src)


# --- 4. keys are shown where they work -------------------------------------------------------------


def test_arrow_keys_are_advertised_only_where_a_previous_or_next_link_exists(demo_site):
    seen = Counter()
    for page in pages(demo_site):
        tree = _tree(page)
        keys = next(_find(tree, "span", cls="keys"), None)
        hint = _text(keys) if keys is not None else ""
        rel = [a.get("rel") for a in tree.iter(f"{_NS}a") if a.get("rel") in ("prev", "next")]
        where = page.relative_to(demo_site).as_posix()
        assert ("←" in hint) == bool(rel), where
        if rel:
            kind = "channel" if re.fullmatch(r"layer/[^/]+/\d+/index\.html", where) else "layer"
            assert hint.endswith(f"previous / next {kind}"), (where, hint)
            seen[kind] += 1
    assert seen["channel"] == 26 and seen["layer"] > 13
    assert "←" not in (demo_site / "index.html").read_text()


def test_bundled_pages_make_no_claim_the_atlas_contradicts():
    text = " ".join(
        (ROOT / "vtl_gallery/site_src" / name).read_text() for name in ("about.md", "method.md", "cite.md")
    )
    for claim in ("every channel of every", "listed on the channel pages", "/17/", "57 conv layers"):
        assert claim not in text, claim
