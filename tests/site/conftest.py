"""Fixtures of the site tests: a small fake atlas and the site built from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.fake_atlas import DEMO_MODELS, write_fake_atlas
from vtl_gallery.build import build_site

ROOT = Path(__file__).resolve().parents[2]
BASE_URL = "https://example.org/vtl/"


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
