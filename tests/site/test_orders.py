"""Layer grids sorted by how much each channel changed (#24 item 7): the values, the pre-rendered orders
that work without JavaScript, and the in-place sort with its URL.

The site tests read the demo-shaped site (`demo_site`): three transferred models beside imagenet on
figure 7's layers, and a temporal run (iteration 0 to final) alone on figure 6's.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers.browser import launch_chromium, serve
from vtl_gallery.catalog import ImageRow
from vtl_gallery.orders import (
    ORDERS,
    ChangeOrder,
    LayerPair,
    PairImages,
    change_context,
    objective_change,
    pair_metric,
    period_ratio,
)

from .conftest import XHTML as _NS
from .conftest import element_text as _text
from .conftest import find_elements as _find
from .conftest import parse_html as _tree

FIG7 = "Mixed_4e_Branch_1_b_3x3"  # imagenet, celeba, flowers17 and animals
FIG6_ONLY = "Mixed_4c_Branch_2_b_3x3"  # the temporal run alone


def _image(model: str, objective: float | None, period: float | None = None, channel: int = 0) -> ImageRow:
    metrics = () if period is None else (("period_px", period),)
    return ImageRow(
        f"images/{model}/final/lucid/L/{channel:04d}.png", model, "final", "lucid", "L", channel, "",
        objective, 64, 128, 0, "{}", "0" * 64, 1, "", metrics,
    )  # fmt: skip


def _cards(tree) -> list[tuple[int, str]]:
    """(channel, the value it shows, or "") of each card, in page order."""
    cards = []
    for card in _find(tree, "li", cls="card"):
        shown = next(_find(card, "span", cls="change-value"), None)
        cards.append((int(card.get("data-channel")), _text(shown) if shown is not None else ""))
    return cards


def _objectives(atlas: Path, layer: str) -> dict[tuple[str, str, int], float]:
    """(model, snapshot, channel) -> objective of the grids' images of `layer`, read from the catalog."""
    db = sqlite3.connect(atlas / "catalog.sqlite")
    try:
        rows = db.execute(
            "SELECT model, snapshot, channel, objective FROM images "
            "WHERE layer = ? AND method = 'lucid' AND variant = ''",
            (layer,),
        ).fetchall()
    finally:
        db.close()
    return {(model, snapshot, channel): objective for model, snapshot, channel, objective in rows}


# --- the values ------------------------------------------------------------------------------------


def test_objective_change_is_after_minus_before_and_none_without_both_images():
    assert objective_change(PairImages(_image("a", 1.5), _image("b", 4.0))) == pytest.approx(2.5)
    assert objective_change(PairImages(_image("a", 3.0), _image("b", 1.0))) == pytest.approx(-2.0)
    assert objective_change(PairImages(None, _image("b", 1.0))) is None
    assert (
        objective_change(PairImages(_image("a", float("nan")), _image("b", 1.0))) is None
    )  # a failed render


def test_period_ratio_is_after_over_before_and_none_without_positive_periods():
    assert period_ratio(PairImages(_image("a", 1, 8.0), _image("b", 1, 32.0))) == pytest.approx(4.0)
    assert period_ratio(PairImages(_image("a", 1, 8.0), _image("b", 1))) is None
    assert period_ratio(PairImages(_image("a", 1, 0.0), _image("b", 1, 8.0))) is None


def test_a_ratio_counts_a_factor_either_way_the_same_and_a_difference_by_its_size():
    order = next(o for o in ORDERS if o.slug == "period-ratio")
    assert order.magnitude(4.0) == pytest.approx(order.magnitude(0.25)) == pytest.approx(2.0)
    assert order.magnitude(1.0) == 0 and order.format(2.0) == "×2"
    change = next(o for o in ORDERS if o.slug == "objective-change")
    assert change.magnitude(-3.0) == change.magnitude(3.0) == 3.0
    assert change.format(0.5) == "+0.5" and change.format(-0.25) == "-0.25" and change.format(None) == ""


def test_an_order_with_an_unknown_scale_is_refused_by_name():
    with pytest.raises(ValueError, match="'x'.*unknown scale 'log'.*difference, ratio"):
        ChangeOrder("x", "x", "", objective_change, "log")


def test_a_pair_measurement_becomes_an_order_with_one_line():
    """What issue #23's per-channel metrics need: `pair_metric` and a lookup of each pair's measurements."""
    snap = lambda model, name: SimpleNamespace(model=SimpleNamespace(name=model), name=name)  # noqa: E731
    pair = LayerPair(snap("imagenet", "final"), snap("celeba", "final"), "transfer")
    images = {
        (model, "final", "L", channel): _image(model, 1.0 + channel, channel=channel)
        for model in ("imagenet", "celeba")
        for channel in range(3)
    }
    cards = [SimpleNamespace(channel=SimpleNamespace(index=c)) for c in range(3)]
    measured = {0: 0.9, 2: 0.1}  # channel 1 not measured

    def lookup(before: ImageRow, after: ImageRow) -> dict[str, float]:
        assert (before.model, after.model) == ("imagenet", "celeba") and before.channel == after.channel
        return {"visual_change": measured[after.channel]} if after.channel in measured else {}

    image_orders = [o for o in ORDERS if o.slug in ("objective-change", "period-ratio")]  # not the analysis's
    visual_order = ChangeOrder("visual-change", "visual change", "a test.", pair_metric("visual_change"))
    orders = [*image_orders, visual_order]
    table = change_context("L", cards, [pair], images, lookup, orders)["change"]
    visual = table.orders[-1]
    assert visual.slug == "visual-change" and [o.slug for o in table.orders[:-1]] == ["objective-change"]
    assert [table.value(c, visual, pair) for c in range(3)] == [0.9, None, 0.1]
    assert table.data(1, visual) == "" and table.data(0, visual) == "0.9"
    assert ("visual-change", "celeba") in table.available


# --- the site, without JavaScript ----------------------------------------------------------------


def test_grids_stay_in_channel_order_by_default(demo_site):
    for page in (f"layer/{FIG7}/index.html", f"model/celeba/layer/{FIG7}/index.html"):
        channels = [c for c, _ in _cards(_tree(demo_site / page))]
        assert channels == sorted(channels) and len(channels) == 2, page


def test_a_pre_rendered_order_sorts_by_the_size_of_the_change_and_names_its_pair(demo_site, demo_atlas):
    objectives = _objectives(demo_atlas, FIG7)
    for model in ("celeba", "flowers17", "animals"):
        page = demo_site / f"model/{model}/layer/{FIG7}/by-objective-change/index.html"
        tree = _tree(page)
        change = {c: objectives[(model, "final", c)] - objectives[("imagenet", "final", c)] for c in (0, 1)}
        expected = sorted(change, key=lambda c: (-abs(change[c]), c))
        cards = _cards(tree)
        assert [c for c, _ in cards] == expected, (model, change)
        for channel, shown in cards:
            assert float(shown) == pytest.approx(change[channel], rel=2e-3, abs=1e-3)
        note = _text(next(_find(tree, "p", id="sorted-note")))
        assert f"imagenet (final (1000 steps)) → {model} (final (120 steps))" in note, note
        assert "objective change" in note and "most changed first" in note


def test_a_temporal_run_is_sorted_by_its_change_since_iteration_0(demo_site, demo_atlas):
    objectives = _objectives(demo_atlas, FIG6_ONLY)
    page = demo_site / f"model/celeba_temporal/layer/{FIG6_ONLY}/by-objective-change-in-training/index.html"
    tree = _tree(page)
    first = min(s for m, s, _ in objectives if m == "celeba_temporal" and s.startswith("iter"))
    change = {
        c: objectives[("celeba_temporal", "final", c)] - objectives[("celeba_temporal", first, c)]
        for c in (0, 1)
    }
    assert [c for c, _ in _cards(tree)] == sorted(change, key=lambda c: (-abs(change[c]), c))
    note = _text(next(_find(tree, "p", id="sorted-note")))
    assert "iteration 0 (imagenet's weights)" in note and "→ celeba_temporal (final" in note, note
    # No transfer pair here: the parent has no image of this layer.
    assert not (page.parents[1] / "by-objective-change/index.html").exists()


def test_every_grid_links_to_its_pre_rendered_orders_and_each_link_works(demo_site):
    for page in (f"layer/{FIG7}/index.html", f"model/flowers17/layer/{FIG7}/index.html"):
        tree = _tree(demo_site / page)
        box = next(_find(tree, "details", cls="change-orders"))
        links = [(a.get("href"), _text(a)) for a in _find(box, "a")]
        assert {label for _, label in links} == {"objective change", "period ratio"}, page
        for href, _ in links:
            assert (demo_site / page).parent.joinpath(href).resolve().is_file(), (page, href)
        items = [_text(li) for li in _find(box, "li")]
        if page.startswith("layer/"):  # every transfer pair of the layer, named, in the order of the columns
            columns = [_text(span) for span in _find(tree, "span", cls="col")]
            assert columns[0] == "imagenet" and sorted(columns[1:]) == ["animals", "celeba", "flowers17"]
            assert [i.split(":")[0] for i in items] == [
                f"imagenet → {m} (pre / post transfer)" for m in columns[1:]
            ]
        else:
            assert len(items) == 1 and items[0].startswith("imagenet → flowers17")


def test_each_card_carries_one_value_per_pair_in_the_order_of_the_pair_select(demo_site, demo_atlas):
    objectives = _objectives(demo_atlas, FIG7)
    tree = _tree(demo_site / f"layer/{FIG7}/index.html")
    pairs = [o.get("data-id") for o in next(_find(tree, "select", id="change-pair")).iter(f"{_NS}option")]
    assert pairs == [_text(span) for span in _find(tree, "span", cls="col")][1:]  # after imagenet
    keys = [o.get("data-slug") for o in next(_find(tree, "select", id="change-key")).iter(f"{_NS}option")]
    assert keys == [None, "objective-change", "period-ratio"]
    for card in _find(tree, "li", cls="card"):
        channel = int(card.get("data-channel"))
        values = [float(v) for v in card.get("data-c0").split(",")]
        expected = [
            objectives[(m, "final", channel)] - objectives[("imagenet", "final", channel)] for m in pairs
        ]
        assert values == pytest.approx(expected, rel=1e-5)
        assert all(math.isclose(float(v), 1.0) for v in card.get("data-c1").split(","))  # the fake periods


# --- the site, with JavaScript -------------------------------------------------------------------


@pytest.fixture(scope="module")
def page(demo_site: Path) -> Iterator[Any]:
    with launch_chromium() as browser, serve(demo_site) as url:
        tab = browser.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda error: errors.append(str(error)))
        tab.base = url
        yield tab
    assert not errors, errors


def _order(tab) -> list[int]:
    return tab.eval_on_selector_all("#cards li:not([hidden])", "cards => cards.map(c => +c.dataset.channel)")


@pytest.mark.browser
def test_the_select_sorts_in_place_filters_and_the_url_keeps_the_choice(page, demo_atlas):
    objectives = _objectives(demo_atlas, FIG7)
    change = {c: objectives[("flowers17", "final", c)] - objectives[("imagenet", "final", c)] for c in (0, 1)}
    most = sorted(change, key=lambda c: (-abs(change[c]), c))
    highest = sorted(change, key=lambda c: (-change[c], c))
    page.goto(page.base + f"layer/{FIG7}/index.html")
    page.wait_for_selector("html[data-js=ready]")
    assert page.is_visible("#change-sort") and page.is_disabled("#change-pair")
    page.select_option("#change-key", "0")  # objective change
    flowers = page.eval_on_selector("#change-pair option[data-id=flowers17]", "option => option.value")
    page.select_option("#change-pair", flowers)
    assert _order(page) == most
    page.select_option("#change-direction", "desc")
    assert _order(page) == highest
    page.fill("#change-top", "1")
    assert _order(page) == highest[:1]
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"change": ["objective-change"], "pair": ["flowers17"], "dir": ["desc"], "top": ["1"]}

    page.reload()  # the URL alone restores the view
    page.wait_for_selector("html[data-js=ready]")
    assert _order(page) == highest[:1] and page.input_value("#change-pair") == flowers
    assert page.inner_text("#cards li:not([hidden]) .change-value").startswith(("+", "-"))

    page.select_option("#sort-key", "0")  # the per-image sort takes over, and the change order is forgotten
    assert page.input_value("#change-key") == "" and len(_order(page)) == 2
    assert "change=" not in page.url
    page.select_option("#change-key", "0")
    assert page.input_value("#sort-key") == "" and _order(page) == highest[:1]  # the pair, order and N kept


AXE = Path(__file__).resolve().parents[2] / "build" / "node" / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.browser
@pytest.mark.parametrize("width", [1280, 390])
def test_sorted_grids_fit_a_phone_and_pass_axe_core(page, width):
    page.set_viewport_size({"width": width, "height": 844})
    for path in (
        f"model/celeba/layer/{FIG7}/by-objective-change/index.html",
        f"model/celeba_temporal/layer/{FIG6_ONLY}/by-period-ratio-in-training/index.html",
        f"layer/{FIG7}/index.html?change=period-ratio&pair=animals&dir=asc&top=1",
    ):
        page.goto(page.base + path)
        page.wait_for_selector("html[data-js=ready]")
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        if not AXE.is_file():
            continue  # tests/site/test_a11y.py says how to install it
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id + ' ' + v.nodes[0].html)"
        )
        assert not violations, (path, violations)
