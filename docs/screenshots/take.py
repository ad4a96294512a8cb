"""Take the README screenshots of a built site with headless chromium.

    python docs/screenshots/take.py --dist dist --out docs/screenshots

Serves DIST on a free localhost port and saves home.png, layer.png and
channel.png (1280x900 viewport, top of the page). Needs the ``playwright``
package and a chromium (Debian's /usr/bin/chromium by default).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import threading
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def _first(dist: Path, pattern: str) -> str:
    matches = sorted(dist.glob(pattern), key=lambda p: (len(p.parts), str(p)))
    if not matches:
        raise SystemExit(f"No page matches {pattern} under {dist}: build the site first (make site).")
    return matches[0].relative_to(dist).as_posix()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dist", type=Path, default=Path("dist"))
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument(
        "--layer", default="Mixed_4c_Branch_2_b_3x3", help="layer of layer.png and channel.png"
    )
    args = parser.parse_args()

    layer_dir = args.dist / "layer" / args.layer
    layer_page = (
        f"layer/{args.layer}/index.html" if layer_dir.is_dir() else _first(args.dist, "layer/*/index.html")
    )
    model_pages = sorted(args.dist.glob(f"model/*/layer/{args.layer}/index.html"))
    pre_post = next(
        (p for p in model_pages if "/celeba/" in p.as_posix()), model_pages[0] if model_pages else None
    )
    if pre_post is not None:
        layer_page = pre_post.relative_to(args.dist).as_posix()
    channel_page = f"layer/{args.layer}/2/index.html"
    if not (args.dist / channel_page).exists():
        channel_page = _first(args.dist, "layer/*/*/index.html")

    handler = functools.partial(_Quiet, directory=str(args.dist))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    args.out.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for name, path in (("home", "index.html"), ("layer", layer_page), ("channel", channel_page)):
                page.goto(base + path, wait_until="networkidle")
                page.screenshot(path=str(args.out / f"{name}.png"))
                print(f"{args.out / (name + '.png')}: {path}")
            browser.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
