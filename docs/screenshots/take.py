"""Take the documentation's screenshots of a built site with headless chromium, at two widths.

    python docs/screenshots/take.py --dist dist --out docs/screenshots

Serves DIST on a free localhost port and saves, for each page type in
`SHOTS` (or `SHOWCASE_SHOTS` with ``--set showcase``), ``<name>.png`` (a
1280x900 desktop window) and ``<name>-phone.png`` (390x844, a phone), each
the top of the page as it first appears. Pages are found in the built site,
so any atlas works; a page type the site lacks is skipped with a note. The
PNGs are reduced to a 256-colour palette (Pillow), which keeps them a
fraction of their size; ``--full-colour`` keeps every colour.
Needs the ``playwright`` package and a chromium (Debian's /usr/bin/chromium
by default).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from PIL import Image
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WIDTHS = {"": (1280, 900), "-phone": (390, 844)}
"""File name suffix -> viewport (width, height) in CSS pixels, at a device pixel ratio of 1."""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@dataclass(frozen=True)
class Shot:
    """One page type: its file name and how to find an example of it in a built site.

    Attributes:
        name: the screenshot's name (``channel`` -> channel.png and channel-phone.png).
        find: the page's site path (with a query, if any) in the site under the given folder, or None.
        ready: a CSS selector to wait for before the shot (the search page's results), or ``""``.
        anchor: a JavaScript expression for the element to scroll to the top of the window (below a sticky
            header) before the shot; ``""`` or no element: the page's top.
    """

    name: str
    find: Callable[[Path, str], str | None]
    ready: str = ""
    anchor: str = ""


def _page(path: str) -> Callable[[Path, str], str | None]:
    def find(dist: Path, layer: str) -> str | None:
        return path if (dist / path).is_file() else None

    return find


def _first(pattern: str, prefer: str = "") -> Callable[[Path, str], str | None]:
    """The first page matching `pattern` (``{layer}``: the chosen layer, else any), preferring `prefer`."""

    def find(dist: Path, layer: str) -> str | None:
        for wanted in (pattern.format(layer=layer), pattern.format(layer="*")):
            found = sorted(
                dist.glob(wanted), key=lambda p: (prefer not in p.as_posix(), len(p.parts), str(p))
            )
            if found:
                return found[0].relative_to(dist).as_posix()
        return None

    return find


def _model_layer(dist: Path, layer: str) -> str | None:
    """A model's grid of `layer`, a temporal run's if there is one (it shows the snapshots)."""
    pages = sorted(dist.glob(f"model/*/layer/{layer}/index.html")) or sorted(
        dist.glob("model/*/layer/*/index.html")
    )
    if not pages:
        return None
    temporal = [p for p in pages if "temporal" in p.as_posix()]
    return (temporal or pages)[0].relative_to(dist).as_posix()


def _widest_layer(dist: Path, layer: str) -> str | None:
    """The all-models grid with the most models (columns), the first in paper order among equals."""
    pages = sorted(dist.glob("layer/*/index.html"))
    if not pages:
        return None
    best = max(pages, key=lambda p: p.read_text().count('<span class="col '))
    return best.relative_to(dist).as_posix()


def _sorted_layer(dist: Path, layer: str) -> str | None:
    """A model's grid sorted by objective change: of `layer` if it has one (a temporal run's, by training)."""
    for pattern in (
        f"model/*/layer/{layer}/by-objective-change*/index.html",
        "model/*/layer/*/by-objective-change/index.html",
    ):
        pages = sorted(dist.glob(pattern))
        if pages:
            return pages[0].relative_to(dist).as_posix()
    return None


def _compare(dist: Path, layer: str) -> str | None:
    """The comparison view of the first pair a channel page offers."""
    for channel in sorted(dist.glob("layer/*/*/index.html")):
        match = re.search(r'href="(?:\.\./)+compare/(?:index\.html)?\?([^"]+)"', channel.read_text())
        if match:
            return "compare/index.html?" + match.group(1).replace("&amp;", "&")
    return None


def _search(dist: Path, layer: str) -> str | None:
    """The search page with the example query it shows (a channel by an alias), else the layer's name."""
    page = dist / "search/index.html"
    if not page.is_file():
        return None
    example = re.search(r'<code id="search-example">([^<]+)</code>', page.read_text())
    return "search/index.html?q=" + quote(example.group(1) if example else layer)


EXAMPLES = """(() => {
  const row = document.getElementById("methods-celeba") || document.querySelector("[id^=methods-]");
  return row && ([...row.querySelectorAll("figure")].find(f => /examples/.test(f.textContent)) || row);
})()"""
"""The dataset examples of celeba (else of the first model with other methods) on a channel page."""

SCROLL = """element => {
  const header = document.querySelector("header");
  const sticky = header && ["sticky", "fixed"].includes(getComputedStyle(header).position);
  const below = sticky ? header.offsetHeight + 8 : 0;
  window.scrollTo(0, element.getBoundingClientRect().top + window.scrollY - below);
}"""

IMAGES_SHOWN = """() => [...document.images]
  .filter(image => {
    const box = image.getBoundingClientRect();
    return box.bottom > 0 && box.top < innerHeight;
  })
  .every(image => image.complete && image.naturalWidth > 0)"""
"""True once every image in the window has loaded (lazy ones load after a scroll)."""

SHOTS: tuple[Shot, ...] = (
    Shot("home", _page("index.html")),
    Shot("layers", _page("layer/index.html")),
    Shot("layer-all", _widest_layer),
    Shot("layer", _model_layer),
    Shot("layer-sorted", _sorted_layer, anchor="document.querySelector('.grid-tools')"),
    Shot("channel", _first("layer/{layer}/2/index.html")),
    # A transferred model's dataset examples: the caption says which dataset's images they are.
    Shot(
        "channel-methods", _first("layer/*/0/index.html", prefer="Mixed_4e_Branch_1_b_3x3"), anchor=EXAMPLES
    ),
    Shot("compare", _compare),
    Shot("figure-6", _page("figures/figure-6/index.html")),
    Shot("figure-7", _page("figures/figure-7/index.html")),
    Shot("models", _page("model/index.html")),
    Shot("model", _first("model/*/index.html", prefer="/celeba/")),
    Shot("search", _search, ready="#search-page-results li"),
    Shot("observations", _page("observations/index.html")),
    Shot("model-pair", _first("observations/*/index.html")),
    Shot("downloads", _page("downloads/index.html")),
    Shot("cite", _page("cite/index.html")),
)
"""Every page type, in the order the files are written."""

SHOWCASE_SHOTS: tuple[Shot, ...] = (
    Shot("efficientnet-home", _page("index.html")),
    Shot("efficientnet-layers", _page("layer/index.html")),
    Shot("efficientnet-figure-7", _first("network/*/figures/figure-7/index.html")),
    Shot("efficientnet-channel", _first("network/*/layer/{layer}/1/index.html")),
)
"""The showcase atlas (configs/efficientnet.toml): a network other than InceptionV1 (``--set showcase``)."""


def quantize(path: Path) -> None:
    """Rewrite a PNG with a 256-colour palette (dithered), as small as Pillow makes it."""
    with Image.open(path) as image:
        paletted = image.convert("RGB").quantize(
            colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG
        )
    paletted.save(path, optimize=True)


def main() -> None:
    """Take every screenshot of `SHOTS` at both widths."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=Path("dist"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--layer", default="Mixed_4c_Branch_2_b_3x3", help="the layer of the layer and channel shots"
    )
    parser.add_argument("--full-colour", action="store_true", help="keep every colour (larger files)")
    parser.add_argument(
        "--set",
        choices=("pages", "showcase"),
        default="pages",
        help="every page type, or the showcase's pages",
    )
    args = parser.parse_args()
    shots = SHOWCASE_SHOTS if args.set == "showcase" else SHOTS
    if not (args.dist / "index.html").is_file():
        raise SystemExit(
            f"No site at {args.dist}: build it first (make site, or vtl site --out {args.dist})."
        )

    handler = functools.partial(_Quiet, directory=str(args.dist))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            for suffix, (width, height) in WIDTHS.items():
                page = browser.new_page(viewport={"width": width, "height": height}, device_scale_factor=1)
                for shot in shots:
                    path = shot.find(args.dist, args.layer)
                    if path is None:
                        print(f"{shot.name}: no such page in {args.dist}, skipped")
                        continue
                    page.goto(base + path, wait_until="networkidle")
                    page.wait_for_selector("html[data-js=ready]")
                    if shot.ready:
                        page.wait_for_selector(shot.ready)
                    anchor = page.evaluate_handle(shot.anchor) if shot.anchor else None
                    if anchor is not None and anchor.as_element() is not None:
                        anchor.as_element().evaluate(SCROLL)
                    page.wait_for_function(IMAGES_SHOWN)
                    target = args.out / f"{shot.name}{suffix}.png"
                    page.screenshot(path=str(target))
                    if not args.full_colour:
                        quantize(target)
                    print(f"{target}: {path} ({target.stat().st_size // 1024} KB)")
                page.close()
            browser.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
