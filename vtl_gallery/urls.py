"""Every path of the site, in one place.

Pages live in directories (``layer/Mixed_4c_Branch_2_b_3x3/17/index.html``)
so that their public URL is short, stable and citable
(``<base_url>/layer/Mixed_4c_Branch_2_b_3x3/17/``). Inside the site every
link is relative to the page that holds it, so the same files work from any
sub-path of a web server and straight from disk (file://).

Paths here are site-relative POSIX strings: a page path ends in ``/``, a file
path does not. `Linker` turns them into links from one page.

URLs that come from outside the atlas (site.toml, ``--base-url``, links in
site_src/ Markdown) pass `unsafe_url` first: only http(s), mailto and
relative links reach an ``href``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

from vtl_gallery.catalog import INCEPTION_V1, UnsafeAtlasError

__all__ = ["LINK_SCHEMES", "WEB_SCHEMES", "Linker", "allowed_text", "safe_output_path", "unsafe_url"]

LINK_SCHEMES = ("http", "https", "mailto")
"""Schemes a link from site.toml or site_src/ may have (relative links are allowed too)."""
WEB_SCHEMES = ("http", "https")
"""Schemes of an absolute URL the site is served from (``base_url``)."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_HIDING = re.compile(r"[\s\x00-\x1f\x7f]")
_SCHEME = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]*):")

HOME = ""
MODELS = "model/"
LAYERS = "layer/"
FIGURES = "figures/"
FIGURE6 = "figures/figure-6/"
FIGURE7 = "figures/figure-7/"
COMPARE = "compare/"
SEARCH = "search/"
DOWNLOADS = "downloads/"
NOT_FOUND = "404.html"
"""The page static hosts serve for a missing path (at the site root, whatever the path asked for)."""


def model(name: str) -> str:
    """Page of one model."""
    return f"model/{name}/"


def model_layer(model_name: str, layer: str) -> str:
    """Grid of one layer in one model, next to its parent."""
    return f"model/{model_name}/layer/{layer}/"


def _network_prefix(network: str) -> str:
    """Where a network's layer pages live: the site root for InceptionV1, ``network/<id>/`` for any other."""
    return "" if network == INCEPTION_V1 else f"network/{network}/"


def layer(layer_id: str, network: str = INCEPTION_V1) -> str:
    """Grid of one layer in every model of its network.

    InceptionV1's layers are at ``layer/<id>/`` (the permanent URLs of the
    paper's atlas); another network's at ``network/<network>/layer/<id>/``,
    whatever else the atlas holds, so that no URL moves when a network is added.
    """
    return f"{_network_prefix(network)}layer/{layer_id}/"


def channel(layer_id: str, index: int, network: str = INCEPTION_V1) -> str:
    """Page of one channel, in every model of its network."""
    return f"{layer(layer_id, network)}{index}/"


def layer_key(layer_id: str, network: str = INCEPTION_V1) -> str:
    """A layer's site-wide name (compare's ``layer=``): its id; ``<network>/<id>`` beyond InceptionV1."""
    return layer_id if network == INCEPTION_V1 else f"{network}/{layer_id}"


def figures_index(network: str = INCEPTION_V1) -> str:
    """Where a network's figure pages live: ``figures/`` for InceptionV1, ``network/<id>/figures/`` else.

    The site's figures index is ``figures/`` (`FIGURES`) whatever networks the atlas holds.
    """
    return f"{_network_prefix(network)}figures/"


def figure6(network: str = INCEPTION_V1) -> str:
    """Figure 6 of a network (`FIGURE6` for InceptionV1)."""
    return f"{figures_index(network)}figure-6/"


def figure7(network: str = INCEPTION_V1) -> str:
    """Figure 7 of a network for its default post-transfer model (`FIGURE7` for InceptionV1)."""
    return f"{figures_index(network)}figure-7/"


def figure7_model(model_name: str, network: str = INCEPTION_V1) -> str:
    """Figure 7 rebuilt for another post-transfer model of a network."""
    return f"{figure7(network)}{model_name}/"


def page(slug: str) -> str:
    """A Markdown page from site_src/."""
    return f"{slug}/"


def original(atlas_path: str) -> str:
    """The original PNG (the atlas path, minus its ``images/`` prefix, under ``img/``)."""
    return "img/" + atlas_path.removeprefix("images/")


def thumb(atlas_path: str) -> str:
    """Grid thumbnail (WebP)."""
    return "thumb/" + atlas_path.removeprefix("images/").removesuffix(".png") + ".webp"


def view(atlas_path: str) -> str:
    """View size (WebP)."""
    return "view/" + atlas_path.removeprefix("images/").removesuffix(".png") + ".webp"


def layer_zip(model_name: str, layer_id: str) -> str:
    """Bulk download of one layer of one model."""
    return f"downloads/{model_name}/{layer_id}.zip"


def layer_data(layer_id: str, network: str = INCEPTION_V1) -> str:
    """Script with one layer's image table, for the comparison view."""
    return f"data/{_network_prefix(network)}layer/{layer_id}.js"


def output_file(path: str) -> str:
    """The file a site path is written to (``index.html`` for a page)."""
    return path + "index.html" if path == "" or path.endswith("/") else path


class Linker:
    """Relative links from one page.

    Args:
        here: the page's site path (``layer/X/17/``).
        pretty: link to ``dir/`` instead of ``dir/index.html``.
    """

    def __init__(self, here: str, pretty: bool = False):
        self.here = here
        self.pretty = pretty
        depth = here.count("/")
        self.root = "../" * depth

    def __call__(self, target: str) -> str:
        """Relative link from this page to `target` (a site path)."""
        if target == "" or target.endswith("/"):
            rel = self.root + target
            if self.pretty:
                return rel or "./"
            return rel + "index.html"
        return self.root + target


def safe_output_path(dist: Path, site_path: str) -> Path:
    """The file under `dist` for a site path, refusing anything that leaves it.

    Args:
        dist: the output directory.
        site_path: a site-relative path.

    Returns:
        The absolute output path.

    Raises:
        UnsafeAtlasError: if the path is absolute, has ``..`` or resolves
            outside `dist` (a symlink, for example).
    """
    rel = output_file(site_path)
    parts = rel.split("/")
    if any(part in ("..", ".", "") for part in parts) or "\\" in rel:
        raise UnsafeAtlasError(f"Refusing to write {rel!r}: it is not a plain path inside dist/.")
    target = dist / Path(*parts)
    resolved_dist = dist.resolve()
    if not target.resolve().is_relative_to(resolved_dist):
        raise UnsafeAtlasError(f"Refusing to write {rel!r}: it resolves outside dist/ ({target.resolve()}).")
    return target


def allowed_text(schemes: Collection[str] = LINK_SCHEMES, relative: bool = True) -> str:
    """What `unsafe_url` accepts, in words (for error messages)."""
    names = [f"{scheme}:" for scheme in schemes]
    if relative:
        return ", ".join(names) + " or a relative URL"
    return "an absolute URL with scheme " + " or ".join(names)


def unsafe_url(value: str, schemes: Collection[str] = LINK_SCHEMES, *, relative: bool = True) -> str | None:
    """Why `value` must not become a link, or None if it is safe.

    Browsers drop leading spaces and control characters and every tab or
    newline of a URL, and decode HTML character references in an attribute,
    so ``" JaVa\\tscript:"`` and ``"javascript&#58;"`` both have the script
    scheme. Here the scheme is read after HTML-decoding and removing every
    space and control character (stricter than any browser), and compared
    case-insensitively; beyond that, any control character (tabs and
    newlines included) is refused.

    Args:
        value: the URL as written (in site.toml, on the command line, in Markdown).
        schemes: the schemes allowed, lower case.
        relative: whether a URL without a scheme is allowed; if False the URL
            must be absolute, with a host, and without whitespace.

    Returns:
        A short reason (naming the scheme found) if `value` is refused, else None.
    """
    for text in dict.fromkeys((value, html.unescape(value))):
        match = _SCHEME.match(_HIDING.sub("", text))
        if match and match.group(1).lower() not in schemes:
            return f"its scheme {match.group(1).lower() + ':'!r} is not allowed"
        if _CONTROL.search(text):
            return "it contains a control character (tab, newline, ...)"
    if not relative:
        if not _SCHEME.match(value):
            return "it is not an absolute URL"
        if any(c.isspace() for c in value) or not urlsplit(value).netloc:
            return "it is not an absolute URL with a host (and no spaces)"
    return None
