"""Accessibility in a real headless chromium: axe-core on every page type, and the search combobox.

axe-core comes from npm (`bash tests/setup_system.sh` installs it under build/node/); without it, or
without chromium or Playwright, these tests skip and say why. Every page type of the demo-shaped site
is checked at a desktop and a phone width; any serious or critical violation fails, listed with its
rule, the elements and the page.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.browser import launch_chromium, serve

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "build" / "node" / "node_modules" / "axe-core" / "axe.min.js"
WIDTHS = {"desktop": (1280, 900), "phone": (390, 844)}
FAILING = ("serious", "critical")

SHARED = "Mixed_5b_Branch_3_b_1x1"  # every model of the demo-shaped atlas has it
FIG6 = "Mixed_4c_Branch_2_b_3x3"  # the temporal run's figure-6 layer (short id 4c_2_b_3x3)

# One page of each type: (name, site path with query, text the page must show).
PAGES = (
    ("home", "", "Visualizing Transfer Learning"),
    ("models", "model/", "Models"),
    ("model", "model/celeba/", "celeba"),
    ("model layer", f"model/celeba/layer/{SHARED}/", SHARED),
    ("layers index", "layer/", "Layers"),
    ("layer", f"layer/{SHARED}/", SHARED),
    ("channel", f"layer/{SHARED}/1/", f"{SHARED}:1"),
    ("temporal channel", f"layer/{FIG6}/0/", f"{FIG6}:0"),
    ("compare", f"compare/?layer={SHARED}&channel=1", "Compare"),
    ("figures", "figures/", "figures"),
    ("figure 6", "figures/figure-6/", "Figure 6"),
    ("figure 7", "figures/figure-7/", "Figure 7"),
    ("search", "search/?q=4c_2_b_3x3:1", "Search"),
    ("cite (Markdown)", "cite/", "cite"),
    ("method (Markdown)", "method/", "method"),
    ("downloads", "downloads/", "Downloads"),
    ("404", "404.html", "not found"),
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not AXE.is_file():
        if shutil.which("npm") is None:
            pytest.skip(f"axe-core not found at {AXE}, and npm, which installs it, is missing")
        pytest.skip(f"axe-core not found at {AXE}; run `bash tests/setup_system.sh` (installs it with npm)")
    with launch_chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def server(demo_site: Path) -> Iterator[str]:
    with serve(demo_site) as url:
        yield url


def _serious(page) -> list[str]:
    """Run axe-core on the page as it stands; one line per serious or critical violation and element."""
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " targets: v.nodes.map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}: {v['help']}) at {target}"
        for v in violations
        if v["impact"] in FAILING
        for target in v["targets"]
    ]


def _open(page, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"{url}: HTTP {response and response.status}"
    page.wait_for_selector("html[data-js=ready]")
    if "/compare/" in url:  # its form and images come from script data
        page.wait_for_function("document.getElementById('cmp-layer').options.length > 0")
        page.wait_for_selector("#cmp-img-b[src]")
    if "/search/" in url and "q=" in url:
        page.wait_for_selector("#search-page-results a")


def test_the_checker_reports_serious_violations(browser):
    # A page with known faults: the next test passes because axe found none, not because it did not run.
    page = browser.new_page()
    page.set_content(
        '<html lang="en"><body><main><p style="color:#bbb;background:#fff">faint text</p>'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>'
    )
    found = " ".join(_serious(page))
    assert "color-contrast" in found and "image-alt" in found, found
    page.close()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_no_serious_or_critical_violation_on_any_page_type(browser, server, width):
    w, h = WIDTHS[width]
    page = browser.new_page(viewport={"width": w, "height": h})
    problems: list[str] = []
    for name, path, text in PAGES:
        _open(page, server + path)
        assert text.lower() in page.inner_text("main").lower(), f"{name} ({path}) does not show {text!r}"
        problems += [f"{name} ({path or '/'}): {line}" for line in _serious(page)]
    # The header's search with its list of results open (the combobox and its options).
    _open(page, server)
    page.fill("#q", "4c_2_b_3x3")
    page.wait_for_selector("#search-results [role=option]")
    problems += [f"home, search list open: {line}" for line in _serious(page)]
    page.close()
    assert not problems, f"{len(problems)} serious or critical axe-core violations at {w}x{h}:\n" + "\n".join(
        problems
    )


def _attr(page, selector: str, name: str) -> str | None:
    return page.get_attribute(selector, name)


def test_search_box_is_a_combobox_driven_by_the_keyboard(browser, server):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    failed: list[str] = []
    page.on("response", lambda r: failed.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    _open(page, server + f"layer/{SHARED}/")
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.id") == "q"
    assert _attr(page, "#q", "role") == "combobox"
    assert _attr(page, "#q", "aria-expanded") == "false"
    assert _attr(page, "#q", "aria-controls") == "search-results"
    assert _attr(page, "#search-results", "role") == "listbox"

    # Typing lists the hits and selects the first; focus stays in the box.
    page.keyboard.type("4c_2_b_3x3:1")
    page.wait_for_selector("#search-results [role=option]")
    assert _attr(page, "#q", "aria-expanded") == "true"
    options = page.locator("#search-results [role=option]")
    count = options.count()
    assert count >= 2
    ids = [options.nth(i).get_attribute("id") for i in range(count)]
    assert len(set(ids)) == count and all(ids)
    assert options.nth(0).get_attribute("aria-selected") == "true"
    assert page.evaluate("document.activeElement.id") == "q"
    assert page.locator("[role=status]", has_text="results").count() == 1

    # The channel hit and its layer hit show the thumbnail of that channel and of the layer's first one.
    first = options.nth(0)
    assert first.inner_text().startswith(f"{FIG6}:1")
    assert f"/lucid/{FIG6}/0001.webp" in first.locator("img").get_attribute("src")
    layer_hit = page.locator(f'#search-results [role=option][href$="layer/{FIG6}/index.html"]')
    assert f"/lucid/{FIG6}/0000.webp" in layer_hit.locator("img").get_attribute("src")
    page.wait_for_function(
        "Array.from(document.querySelectorAll('#search-results img'))"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )

    # Down and Up move the active option (aria-activedescendant), wrapping at the ends.
    page.keyboard.press("ArrowDown")
    assert _attr(page, "#q", "aria-activedescendant") == ids[0]
    page.keyboard.press("ArrowDown")
    assert _attr(page, "#q", "aria-activedescendant") == ids[1]
    assert options.nth(1).get_attribute("aria-selected") == "true"
    assert options.nth(0).get_attribute("aria-selected") == "false"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert _attr(page, "#q", "aria-activedescendant") == ids[-1]

    # Escape closes the list and keeps the text; a second Escape clears it.
    page.keyboard.press("Escape")
    assert _attr(page, "#q", "aria-expanded") == "false"
    assert page.is_hidden("#search-results")
    assert _attr(page, "#q", "aria-activedescendant") is None
    assert page.input_value("#q") == "4c_2_b_3x3:1"
    page.keyboard.press("Escape")
    assert page.input_value("#q") == ""

    # Enter opens the active option.
    page.keyboard.type("4c_2_b_3x3:1")
    page.wait_for_selector("#search-results [role=option]")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    target = options.nth(1).evaluate("a => a.href")
    page.keyboard.press("Enter")
    page.wait_for_url(target)
    assert not failed, failed
    page.close()


def test_search_works_without_javascript(browser, server):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(server + f"layer/{SHARED}/", wait_until="load")
    assert _attr(page, "#q", "role") is None  # no combobox that could never open
    page.fill("#q", "4c_2_b_3x3")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/**q=4c_2_b_3x3")
    link = page.locator("#main table a", has_text=FIG6)
    assert link.count() == 1
    link.click()
    page.wait_for_url(f"**/layer/{FIG6}/index.html")
    context.close()


# The analysis pages need an atlas with analysis tables; tests/site/test_observations_site.py writes them.
ANALYSIS_PAGES = (
    ("observations", "observations/", "Observations"),
    ("model pair", "observations/imagenet-final-to-celeba-final-channel/", "Per-layer metrics"),
    ("channel with metrics and circuit", "layer/Mixed_3b_Branch_3_b_1x1/0/", "Rewired circuit"),
)


@pytest.fixture(scope="module")
def analysis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from tests.helpers.fake_atlas import write_fake_atlas
    from tests.site.conftest import build
    from tests.site.test_observations_site import add_analysis

    atlas = write_fake_atlas(tmp_path_factory.mktemp("a11y_analysis") / "atlas")
    add_analysis(atlas)
    dist = tmp_path_factory.mktemp("a11y_analysis_site") / "dist"
    build(atlas, dist)
    with serve(dist) as url:
        yield url


@pytest.mark.parametrize("width", list(WIDTHS))
def test_analysis_pages_have_no_serious_violation_and_fit_a_phone(browser, analysis_server, width):
    w, h = WIDTHS[width]
    page = browser.new_page(viewport={"width": w, "height": h})
    problems: list[str] = []
    for name, path, text in ANALYSIS_PAGES:
        _open(page, analysis_server + path)
        assert text.lower() in page.inner_text("main").lower(), f"{name} ({path}) does not show {text!r}"
        problems += [f"{name} ({path}): {line}" for line in _serious(page)]
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        if scroll > inner:
            problems.append(f"{name} ({path}): {scroll} px wide in a {inner} px window")
    page.close()
    assert not problems, f"{len(problems)} problems at {w}x{h}:\n" + "\n".join(problems)
