"""The built site in a real headless chromium: clicks, search, keys, the slider, file://."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"chromium not found at {CHROMIUM}; run `bash tests/setup_system.sh` (needs root and apt-get)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_Quiet, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


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
    page.click("text=Compare with slider")
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
