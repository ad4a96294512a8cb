"""Every page parses as valid HTML, and every internal link and image resolves."""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote, urlsplit

import html5lib
import pytest

from vtl_gallery.writer import first_screen

from .conftest import pages

_NS = "{http://www.w3.org/1999/xhtml}"


def _parse(path: Path):
    parser = html5lib.HTMLParser(strict=True, namespaceHTMLElements=True)
    return parser.parse(path.read_bytes(), transport_encoding="utf-8")


def _links(tree):
    for element in tree.iter():
        for attribute in ("href", "src", "action"):
            value = element.get(attribute)
            if value is not None:
                yield element.tag.removeprefix(_NS), value


def test_every_page_is_valid_html(site):
    for page in pages(site):
        try:
            tree = _parse(page)
        except html5lib.html5parser.ParseError as error:
            pytest.fail(f"{page.relative_to(site)}: {error}")
        where = page.relative_to(site)
        assert tree.get("lang") == "en", where
        titles = tree.findall(f".//{_NS}title")
        assert len(titles) == 1 and titles[0].text.strip(), where
        ids = [el.get("id") for el in tree.iter() if el.get("id") is not None]
        assert len(ids) == len(set(ids)), (where, sorted({i for i in ids if ids.count(i) > 1}))
        for img in tree.iter(f"{_NS}img"):
            assert img.get("alt"), (where, img.get("src"))
            assert img.get("width", "").isdigit() and img.get("height", "").isdigit(), (where, img.get("src"))
        assert tree.find(f".//{_NS}main") is not None, where


def test_crawl_every_internal_link_and_image(site):
    """Follow every href/src from the home page; all must be relative and exist."""
    start = "index.html"
    seen, queue, broken = {start}, [start], []
    ids_cache: dict[str, set[str]] = {}

    def ids_of(rel: str) -> set[str]:
        if rel not in ids_cache:
            ids_cache[rel] = {el.get("id") for el in _parse(site / rel).iter() if el.get("id")}
        return ids_cache[rel]

    while queue:
        here = queue.pop()
        for _tag, value in _links(_parse(site / here)):
            parts = urlsplit(value)
            if parts.scheme in ("http", "https", "mailto", "data"):
                continue
            assert not parts.scheme and not value.startswith("/"), f"{here}: non-relative link {value!r}"
            if not parts.path:  # same-page anchor
                if parts.fragment:
                    assert parts.fragment in ids_of(here), f"{here}: missing anchor #{parts.fragment}"
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(here), unquote(parts.path)))
            assert not target.startswith(".."), f"{here}: {value!r} leaves the site"
            if (site / target).is_dir():
                target = posixpath.join(target, "index.html")
            if not (site / target).is_file():
                broken.append(f"{here} -> {value}")
                continue
            if parts.fragment and target.endswith(".html"):
                assert parts.fragment in ids_of(target), f"{here}: {value!r} has no anchor"
            if target.endswith(".html") and target not in seen:
                seen.add(target)
                queue.append(target)
    assert not broken, broken[:20]
    # 404.html is reached by a missing address, not a link; its links are checked below.
    every_page = {p.relative_to(site).as_posix() for p in pages(site)} - {"404.html"}
    assert every_page == seen, f"pages not reachable by links: {sorted(every_page - seen)[:10]}"
    for _tag, value in _links(_parse(site / "404.html")):
        path = urlsplit(value).path
        if not urlsplit(value).scheme and path:
            assert (site / unquote(path)).exists(), f"404.html -> {value}"


def test_layer_page_images_are_small_and_only_the_first_screen_eager(site):
    tree = _parse(site / "layer/Mixed_4c_Branch_2_b_3x3/index.html")
    images = list(tree.iter(f"{_NS}img"))
    assert images
    eager = min(len(images), first_screen("layer.html"))
    assert [img.get("loading") for img in images] == ["eager"] * eager + ["lazy"] * (len(images) - eager)
    for img in images:
        assert img.get("decoding") == "async" and ".webp" in img.get("src")
        # 32 px sources fit the thumbnail size: the grid shows the (only) WebP of each image.
        assert "/view/" in img.get("src") and int(img.get("width")) <= 96
