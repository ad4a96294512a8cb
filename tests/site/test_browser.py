"""The built site in a real headless chromium: clicks, search, keys, the slider, file://."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import launch_chromium, serve

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(site: Path) -> Iterator[str]:
    with serve(site) as url:
        yield url


def _watch(page) -> list[str]:
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None,
    )
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    # Loads cut short by leaving a page (net::ERR_ABORTED) are not errors.
    page.on(
        "requestfailed",
        lambda r: (
            None if "ERR_ABORTED" in (r.failure or "") else problems.append(f"failed: {r.url} {r.failure}")
        ),
    )
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    return problems


def test_browse_search_keys_and_compare(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    problems = _watch(page)
    page.goto(server, wait_until="load")
    page.wait_for_selector("html[data-js=ready]")
    assert "Visualizing Transfer Learning" in page.title()

    # Reach a channel page by clicking: Layers -> a layer -> its first card.
    page.click("header nav >> text=Layers")
    page.click("#layer-table >> text=Mixed_4c_Branch_2_b_3x3")
    page.wait_for_selector("#cards")
    page.click("#cards li.card >> nth=0")
    page.wait_for_selector("html[data-js=ready]")
    assert page.inner_text("h1").replace("\n", "") == "Mixed_4c_Branch_2_b_3x3:0"

    # Keyboard: -> goes to the next channel.
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**/layer/Mixed_4c_Branch_2_b_3x3/1/index.html")

    # Search by an alias: the figure-6 short id, then a slim scope with a channel.
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    page.keyboard.type("4c_2_b_3x3")
    page.wait_for_selector("#search-results a")
    assert page.inner_text("#search-results a >> nth=0").startswith("Mixed_4c_Branch_2_b_3x3")
    page.fill("#q", "InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3:2")
    page.wait_for_selector("#search-results a >> text=Mixed_4c_Branch_2_b_3x3:2")
    page.keyboard.press("Enter")
    page.wait_for_url("**/layer/Mixed_4c_Branch_2_b_3x3/2/index.html")
    page.wait_for_selector("html[data-js=ready]")

    # The comparison slider, from the channel page.
    page.click(".compare-links a.button >> nth=0")
    page.wait_for_function("document.getElementById('cmp-img-b').getAttribute('src')")
    assert "celeba/final" in page.get_attribute("#cmp-img-b", "src")
    assert "imagenet/final" in page.get_attribute("#cmp-img-a", "src")
    assert page.input_value("#cmp-channel") == "2"
    page.fill("#cmp-range", "20")
    assert page.evaluate("document.getElementById('cmp-top').style.clipPath") == "inset(0px 0px 0px 20%)"
    page.select_option("#cmp-b", "celeba_temporal@iter_000010")
    assert "celeba_temporal/iter_000010" in page.get_attribute("#cmp-img-b", "src")
    page.check("input[value=side]")
    assert page.locator("#cmp-side figure").count() == 2
    page.wait_for_load_state("networkidle")
    assert not problems, problems
    page.close()


def test_layer_page_loads_under_1mb_before_scrolling(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "layer/Mixed_4c_Branch_2_b_3x3/index.html", wait_until="networkidle")
    loaded = page.evaluate(
        "performance.getEntriesByType('resource').reduce((s, e) => s + e.encodedBodySize, 0)"
        " + performance.getEntriesByType('navigation')[0].encodedBodySize"
    )
    assert loaded < 1_000_000
    page.close()


def test_works_from_file_urls(browser, site):
    page = browser.new_page()
    problems = _watch(page)
    page.goto((site / "search/index.html").as_uri() + "?q=mixed4b")
    page.wait_for_selector("#search-page-results a")
    assert "Mixed_4c" in page.inner_text("#search-page-results")
    page.click("#search-page-results a >> nth=0")
    page.wait_for_selector("#cards")
    assert page.url.startswith("file://") and page.url.endswith("/index.html")
    assert not problems, problems
    page.close()


# --- #24: comparisons, the slider, keys, search and citations on the demo-shaped site -----------------

SHARED = "Mixed_5b_Branch_3_b_1x1"  # every model of the demo has it
FIG6_ONLY = "Mixed_4c_Branch_2_b_3x3"  # only the temporal run has it


@pytest.fixture(scope="module")
def demo_server(demo_site: Path) -> Iterator[str]:
    with serve(demo_site) as url:
        yield url


def _compare(page, base: str, query: str) -> None:
    page.goto(base + "compare/index.html" + query)
    page.wait_for_selector("html[data-js=ready]")
    page.wait_for_function("document.getElementById('cmp-layer').options.length > 0")
    page.wait_for_load_state("networkidle")


def _range(page) -> float:
    return float(page.input_value("#cmp-range"))


def test_slider_follows_clicks_and_drags_and_the_address_reopens_the_view(browser, demo_server):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = _watch(page)
    _compare(page, demo_server, f"?layer={SHARED}&channel=1&a=imagenet@final&b=celeba@final")
    assert "imagenet/final" in page.get_attribute("#cmp-img-a", "src")
    assert "celeba/final" in page.get_attribute("#cmp-img-b", "src")
    box = page.locator("#cmp-slider").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.click(box["x"] + 0.25 * box["width"], y)
    assert _range(page) == pytest.approx(25, abs=1)
    assert "25" in page.evaluate("document.getElementById('cmp-top').style.clipPath")
    page.mouse.move(box["x"] + 0.3 * box["width"], y)
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], y, steps=4)
    assert _range(page) == pytest.approx(50, abs=1)  # it follows the pointer while the button is down
    page.mouse.move(box["x"] + 0.8 * box["width"], y, steps=4)
    page.mouse.up()
    assert _range(page) == pytest.approx(80, abs=1)
    page.wait_for_function("location.search.includes('pos=')")
    pos = float(page.evaluate("new URLSearchParams(location.search).get('pos')"))
    assert pos == pytest.approx(80, abs=1)
    page.select_option("#cmp-channel", "0")
    page.check("input[value=side]")
    shared = page.url
    assert "view=side" in shared and "channel=0" in shared

    # A shared link reopens the same comparison.
    page.goto("about:blank")
    page.goto(shared)
    page.wait_for_function("document.querySelectorAll('#cmp-side figure').length === 2")
    assert page.is_checked("input[value=side]")
    assert (page.input_value("#cmp-a"), page.input_value("#cmp-b")) == ("imagenet@final", "celeba@final")
    assert page.input_value("#cmp-channel") == "0"
    assert _range(page) == pytest.approx(pos)
    page.check("input[value=slider]")
    assert f"celeba/final/lucid/{SHARED}/0000.webp" in page.get_attribute("#cmp-img-b", "src")

    # The fragment works too (for hosts that drop query strings).
    _compare(
        page,
        demo_server,
        f"#layer={FIG6_ONLY}&channel=1&a=celeba_temporal@iter_000000&b=celeba_temporal@final",
    )
    assert "celeba_temporal/iter_000000" in page.get_attribute("#cmp-img-a", "src")
    assert page.is_hidden("#cmp-status")
    assert not problems, problems
    page.close()


def test_compare_reports_a_missing_pair_and_substitutes_none(browser, demo_server):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    problems = _watch(page)
    # The pair the old channel pages linked to on figure 6's layers, and one with a missing model.
    for a, b, said in [
        ("imagenet@final", "celeba_temporal@final", "This pair is not in this atlas: imagenet"),
        ("celeba_temporal@final", "celeba_temporal@final", "A and B are the same image"),
    ]:
        _compare(page, demo_server, f"?layer={FIG6_ONLY}&channel=1&a={a}&b={b}")
        assert said in page.inner_text("#cmp-status")
        assert page.is_hidden("#cmp-slider") and page.is_hidden("#cmp-side")
        assert page.get_attribute("#cmp-img-a", "src") is None  # nothing else was drawn in its place
        assert (page.input_value("#cmp-a"), page.input_value("#cmp-b")) == (a, b)
        chosen = page.eval_on_selector("#cmp-a", "s => s.options[s.selectedIndex].textContent")
        assert chosen.endswith("(not in this atlas)") == a.startswith("imagenet")
        assert "celeba_temporal: iteration 0 (imagenet's weights) → final" in page.inner_text("#cmp-pairs")
    # The pairs offered are real: one click shows one.
    page.click("#cmp-pairs a.button >> nth=0")
    assert page.is_visible("#cmp-slider") and page.is_hidden("#cmp-status")
    assert "a=celeba_temporal%40iter_000000" in page.url or "a=celeba_temporal@iter_000000" in page.url

    _compare(page, demo_server, "?layer=Mixed_9z_Nope&channel=0&a=imagenet@final&b=celeba@final")
    assert "has no images in this atlas" in page.inner_text("#cmp-status")
    assert (
        page.input_value("#cmp-layer") == "Mixed_9z_Nope" and page.get_attribute("#cmp-img-b", "src") is None
    )
    _compare(
        page,
        demo_server,
        f"?layer={FIG6_ONLY}&channel=17&a=celeba_temporal@iter_000000&b=celeba_temporal@final",
    )
    assert f"Channel {FIG6_ONLY}:17 was not rendered" in page.inner_text("#cmp-status")
    assert "are 0–1" in page.inner_text("#cmp-status")
    assert page.get_attribute("#cmp-img-b", "src") is None

    # A bare address shows a pair of the first layer, never an image with itself.
    _compare(page, demo_server, "")
    assert page.is_visible("#cmp-slider")
    assert page.input_value("#cmp-a") != page.input_value("#cmp-b")
    assert not problems, problems
    page.close()


def test_arrow_keys_work_where_the_footer_shows_them(browser, demo_server):
    page = browser.new_page()
    page.goto(demo_server + f"layer/{SHARED}/index.html")
    page.wait_for_selector("html[data-js=ready]")
    assert "previous / next layer" in page.inner_text("footer")
    page.keyboard.press("ArrowRight")
    page.wait_for_url("**/layer/Mixed_5c_Branch_0_a_1x1/index.html")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/layer/{SHARED}/index.html")
    page.goto(demo_server + f"model/celeba/layer/{SHARED}/index.html")
    page.wait_for_selector("html[data-js=ready]")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url("**/model/celeba/layer/Mixed_4f_Branch_2_b_3x3/index.html")
    page.goto(demo_server + "index.html")
    page.wait_for_selector("html[data-js=ready]")
    assert "←" not in page.inner_text("footer")
    page.close()


def test_layer_grid_sorts_by_the_chosen_column(browser, demo_server):
    page = browser.new_page()
    page.goto(demo_server + f"layer/{SHARED}/index.html")
    page.wait_for_selector("html[data-js=ready]")
    page.select_option("#sort-key", "0")  # objective
    for column in range(4):
        page.select_option("#sort-column", str(column))
        for order in ("desc", "asc"):
            page.select_option("#sort-order", order)
            values = page.eval_on_selector_all(
                "#cards li", f"cards => cards.map(c => parseFloat(c.dataset.k0.split(',')[{column}]))"
            )
            assert values == sorted(values, reverse=order == "desc"), (column, order, values)
    page.select_option("#sort-key", "")
    assert page.eval_on_selector_all("#cards li", "cards => cards.map(c => +c.dataset.channel)") == [0, 1]
    assert page.is_disabled("#sort-column")
    page.close()


def test_search_says_when_a_channel_was_not_rendered(browser, demo_server):
    page = browser.new_page()
    problems = _watch(page)
    page.goto(demo_server + "index.html")
    page.wait_for_selector("html[data-js=ready]")
    page.fill("#q", "4c_2_b_3x3:17")
    page.wait_for_selector("#search-results a")
    first = page.inner_text("#search-results a >> nth=0")
    assert f"{FIG6_ONLY}:17 was not rendered" in first and "0–1" in first

    page.goto(demo_server + "search/index.html?q=4c_2_b_3x3:17")
    page.wait_for_selector("#search-page-results .channel-links a")
    links = page.eval_on_selector_all(
        "#search-page-results .channel-links a", "a => a.map(x => x.textContent)"
    )
    assert links == ["0", "1"]
    page.click("#search-page-results .channel-links a >> text=1")
    page.wait_for_url(f"**/layer/{FIG6_ONLY}/1/index.html")

    # The search page's example finds a channel page.
    page.goto(demo_server + "search/index.html")
    page.wait_for_selector("html[data-js=ready]")
    example = page.inner_text("#search-example")
    page.fill("#q", example)
    page.wait_for_selector("#search-results a")
    assert "not rendered" not in page.inner_text("#search-results a >> nth=0")
    page.keyboard.press("Enter")
    page.wait_for_url("**/layer/*/" + example.rsplit(":", 1)[1] + "/index.html")
    assert not problems, problems
    page.close()


def test_copy_button_does_not_cover_the_bibtex(browser, demo_server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo_server + f"layer/{SHARED}/1/index.html")
    page.wait_for_selector("html[data-js=ready]")
    button = page.locator("button[data-copy=bibtex]")
    assert button.is_visible()
    b = button.bounding_box()
    pre = page.locator("#bibtex").bounding_box()
    overlap_x = b["x"] < pre["x"] + pre["width"] and pre["x"] < b["x"] + b["width"]
    overlap_y = b["y"] < pre["y"] + pre["height"] and pre["y"] < b["y"] + b["height"]
    assert not (overlap_x and overlap_y), (b, pre)
    page.close()


def test_compare_records_the_view_from_file_urls(browser, demo_site):
    page = browser.new_page()
    problems = _watch(page)
    page.goto(
        (demo_site / "compare/index.html").as_uri()
        + f"?layer={SHARED}&channel=0&a=imagenet@final&b=animals@final"
    )
    page.wait_for_selector("#cmp-img-b[src]")
    page.check("input[value=side]")
    page.wait_for_function("location.href.includes('view=side')")
    page.goto(page.url)
    page.wait_for_function("document.querySelectorAll('#cmp-side figure').length === 2")
    assert page.input_value("#cmp-b") == "animals@final"
    assert not problems, problems
    page.close()


PHONE = {"width": 390, "height": 844}
# One page of each type of the demo-shaped site; the channel and grid pages carry the longest names
# (a frozen-graph alias in "Also known as", a temporal run's 7-image cards).
PAGE_TYPES = {
    "home": "",
    "layers index": "layer/",
    "layer": "layer/Mixed_4c_Branch_2_b_3x3/",
    "model-layer grid": "model/celeba_temporal/layer/Mixed_4c_Branch_2_b_3x3/",
    "channel": "layer/Mixed_4c_Branch_2_b_3x3/0/",
    "figure 6": "figures/figure-6/",
    "figure 7": "figures/figure-7/",
    "compare": "compare/",
    "search": "search/?q=mixed_4c",
    "cite": "cite/",
    "downloads": "downloads/",
    "404": "404.html",
}


def test_phone_pages_never_scroll_sideways(browser, demo_server):
    page = browser.new_page(viewport=PHONE)
    wide: list[str] = []
    for kind, path in PAGE_TYPES.items():
        page.goto(demo_server + path, wait_until="load")
        assert page.title(), kind
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            wide.append(f"{kind} ({path or '/'}): {scroll} px wide in a {inner} px window")
    page.close()
    assert not wide, wide


def test_phone_figure7_scrolls_in_its_box_and_keeps_row_labels(browser, demo_server):
    page = browser.new_page(viewport=PHONE)
    page.goto(demo_server + "figures/figure-7/", wait_until="load")
    box = page.locator("main .figure-scroll").first
    box.scroll_into_view_if_needed()
    width, client, overflow = box.evaluate(
        "b => [b.scrollWidth, b.clientWidth, getComputedStyle(b).overflowX]"
    )
    assert overflow == "auto" and width > client, "figure 7 should scroll inside its own box at 390 px"
    # Scrolling shows a cue (the right edge fades) until the end is reached.
    assert box.evaluate("b => getComputedStyle(b).getPropertyValue('--fade-end')") not in ("", "0px")

    label = page.locator("main .figure-scroll tbody th").first
    before = label.bounding_box()
    box.evaluate("b => { b.scrollLeft = b.scrollWidth; }")
    page.wait_for_function("() => document.querySelector('main .figure-scroll').scrollLeft > 0")
    after = label.bounding_box()
    frame = box.bounding_box()
    # Sticky at the box's left edge (it starts one border-spacing, 3 px, to the right of it).
    assert after["x"] == pytest.approx(before["x"], abs=4), "the row label scrolled away"
    assert frame["x"] - 1 <= after["x"] and after["x"] + after["width"] <= frame["x"] + frame["width"] + 1
    assert label.is_visible()
    # The label is on top of the images that slid under it.
    x, y = after["x"] + after["width"] / 2, after["y"] + after["height"] / 2
    assert page.evaluate("([x, y]) => !!document.elementFromPoint(x, y).closest('th')", [x, y])
    assert box.evaluate("b => getComputedStyle(b).getPropertyValue('--fade-end')") == "0px"
    page.close()


def test_menu_collapses_on_phones_and_is_inline_on_wide_screens(browser, demo_server):
    page = browser.new_page(viewport=PHONE)
    page.goto(demo_server, wait_until="load")
    menu = page.locator("header details.menu")
    summary = menu.locator("summary")
    link = page.locator("header nav a", has_text="Layers")
    assert summary.is_visible() and not link.is_visible()
    # Keyboard: Tab reaches the summary, Enter opens it, the links are then reachable.
    summary.focus()
    page.keyboard.press("Enter")
    assert menu.evaluate("d => d.open") and link.is_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent.trim()") == "Layers"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    assert not menu.evaluate("d => d.open") and not link.is_visible()
    page.close()

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(demo_server, wait_until="load")
    assert not page.locator("header details.menu summary").is_visible()
    links = page.locator("header nav a")
    assert links.count() >= 5
    assert all(links.nth(i).is_visible() for i in range(links.count()))
    # Inline: every link on the one header line, beside the brand.
    tops = {round(links.nth(i).bounding_box()["y"]) for i in range(links.count())}
    assert len(tops) == 1, tops
    page.close()
