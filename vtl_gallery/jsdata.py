"""Data for the site's scripts, as small ``.js`` files.

Browsers refuse ``fetch`` of a local JSON file from a page opened through
file://, but they run a script tag: so every data file the JavaScript needs is
a script that hands a JSON value to a callback, e.g.
``vtlData("search", {...});``. The JSON is escaped so that no value can close
a script element or start markup.
"""

from __future__ import annotations

import json

__all__ = ["js_call", "safe_json"]


def safe_json(value: object) -> str:
    """JSON text that is also safe inside a <script> element."""
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def js_call(kind: str, value: object) -> bytes:
    """A script calling ``vtlData(kind, value)``."""
    return f"vtlData({safe_json(kind)},{safe_json(value)});\n".encode()
