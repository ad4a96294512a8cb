"""Fixtures of the site tests: a small fake atlas and the site built from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import html5lib
import pytest

from tests.helpers.fake_atlas import DEMO_MODELS, write_fake_atlas
from vtl_gallery.build import build_site

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://example.org/vtl/"
XHTML = "{http://www.w3.org/1999/xhtml}"  # the namespace html5lib gives HTML elements' tags


def build(atlas: Path, dist: Path, **kwargs):
    """Build quietly with the repository's site_src/."""
    kwargs.setdefault("site_src", ROOT / "vtl_gallery" / "site_src")
    kwargs.setdefault("base_url", BASE_URL)
    kwargs.setdefault("workers", 1)
    return build_site(atlas, dist, log=lambda line: None, **kwargs)


@pytest.fixture(scope="session")
def atlas(tmp_path_factory) -> Path:
    """The default fake atlas (4 models incl. imagenet and a temporal run, 5 layers, 4 channels)."""
    return write_fake_atlas(tmp_path_factory.mktemp("atlas") / "atlas")


@pytest.fixture(scope="session")
def site(atlas, tmp_path_factory) -> Path:
    """The site built from `atlas`; tests must not modify it."""
    dist = tmp_path_factory.mktemp("site") / "dist"
    build(atlas, dist)
    return dist


@pytest.fixture(scope="session")
def demo_atlas(tmp_path_factory) -> Path:
    """Shaped like the demo atlas (DEMO_MODELS, 2 channels per layer): a temporal run alone on figure 6's
    layers, three more methods on one layer, synthetic worlds, width 0.25."""
    return write_fake_atlas(tmp_path_factory.mktemp("demo") / "atlas", models=DEMO_MODELS, channels=2)


@pytest.fixture(scope="session")
def demo_build(demo_atlas, tmp_path_factory) -> tuple[Path, list[str]]:
    """The site of `demo_atlas` built without a base URL, and the lines its build logged."""
    dist = tmp_path_factory.mktemp("demo_site") / "dist"
    lines: list[str] = []
    build_site(demo_atlas, dist, site_src=ROOT / "vtl_gallery" / "site_src", workers=1, log=lines.append)
    return dist, lines


@pytest.fixture(scope="session")
def demo_site(demo_build) -> Path:
    """The site of `demo_atlas`, without a base URL; tests must not modify it."""
    return demo_build[0]


def pages(dist: Path) -> list[Path]:
    """Every HTML page of a built site."""
    return sorted(dist.rglob("*.html"))


def parse_html(path: Path) -> Any:
    """The element tree of an HTML file, parsed the way a browser does (html5lib); tags carry `XHTML`."""
    return html5lib.parse(path.read_bytes(), transport_encoding="utf-8")


def element_text(element: Any) -> str:
    """The text of an element and its descendants, with runs of whitespace collapsed to one space."""
    return " ".join("".join(element.itertext()).split())


def find_elements(
    tree: Any,
    tag: str,
    cls: str | None = None,
    id: str | None = None,  # noqa: A002 - HTML's name
) -> Iterator[Any]:
    """The `tag` elements under `tree`, in document order, having class `cls` and id `id` when given."""
    for element in tree.iter(f"{XHTML}{tag}"):
        if cls is not None and cls not in (element.get("class") or "").split():
            continue
        if id is not None and element.get("id") != id:
            continue
        yield element
