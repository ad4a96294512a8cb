"""A headless chromium and a local HTTP server for the tests that open the built site in a browser.

`launch_chromium()` skips the test, saying how to get what is missing, when chromium or Playwright
is not installed; `serve(directory)` serves a folder (a built site) on a free port of 127.0.0.1.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    """Serves files without logging each request to stderr."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        pass


@contextmanager
def launch_chromium() -> Iterator[Any]:
    """Yield a headless chromium launched by Playwright (`CHROMIUM` with `ARGS`), closed on exit.

    Skips the test when chromium is not at `CHROMIUM` (`bash tests/setup_system.sh` installs it) or
    when Playwright is not installed.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"chromium not found at {CHROMIUM}; run `bash tests/setup_system.sh` (needs root and apt-get)"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def serve(directory: Path | str) -> Iterator[str]:
    """Serve `directory` over HTTP on a free port of 127.0.0.1 in a background thread, quietly.

    Yields the base URL, ending in "/"; the server shuts down on exit.
    """
    handler = functools.partial(_Quiet, directory=str(directory))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
