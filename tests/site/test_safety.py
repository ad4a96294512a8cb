"""Names from the atlas and site_src/ are escaped; unsafe keys are refused before anything is written."""

from __future__ import annotations

import sqlite3

import pytest
from fake_atlas import DEFAULT_MODELS, FakeModel, write_fake_atlas

from generator.catalog import UnsafeAtlasError
from generator.content import render_markdown

from .conftest import ROOT, build


def _files(path):
    # SQLite may create the -shm/-wal companions of a WAL catalog even for a read-only reader.
    return sorted(
        p.relative_to(path).as_posix() for p in path.rglob("*") if not p.name.endswith(("-shm", "-wal"))
    )


def test_markup_in_catalog_text_is_escaped(tmp_path):
    evil = FakeModel(
        "evil_model",
        "<script>alert('dataset')</script>",
        parent="imagenet",
        description='<img src=x onerror="alert(1)">',
    )
    atlas = write_fake_atlas(
        tmp_path / "atlas", models=(DEFAULT_MODELS[0], evil), layers=("Conv2d_2b_1x1",), channels=2
    )
    dist = tmp_path / "dist"
    build(atlas, dist)
    for page in dist.rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text, page
        assert "<img src=x" not in text, page
    home = (dist / "model/evil_model/index.html").read_text()
    assert "&lt;script&gt;alert(&#39;dataset&#39;)&lt;/script&gt;" in home
    index = (dist / "search/index.js").read_text()
    assert "</script>" not in index and "\\u003cscript\\u003e" in index


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("layers", "id", "../../evil"),
        ("images", "layer", "../../../outside"),
        ("images", "model", "<script>alert(1)</script>"),
        ("images", "snapshot", ".hidden"),
        ("models", "name", "a/b"),
    ],
)
def test_unsafe_key_components_are_refused(tmp_path, table, column, value):
    atlas = write_fake_atlas(tmp_path / "sub" / "atlas", layers=("Conv2d_2b_1x1",), channels=1)
    db = sqlite3.connect(atlas / "catalog.sqlite")
    key = {"layers": "id", "images": "path", "models": "name"}[table]
    first = db.execute(f"SELECT {key} FROM {table} LIMIT 1").fetchone()[0]
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, first))
    db.commit()
    db.close()
    before = _files(tmp_path)
    with pytest.raises(UnsafeAtlasError, match="Refusing"):
        build(atlas, tmp_path / "sub" / "dist")
    assert _files(tmp_path) == before  # nothing written anywhere, dist/ not even created


def test_image_path_must_match_its_key(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", layers=("Conv2d_2b_1x1",), channels=1)
    db = sqlite3.connect(atlas / "catalog.sqlite")
    db.execute("UPDATE images SET path = '../../etc/passwd' WHERE rowid = 1")
    db.commit()
    db.close()
    with pytest.raises(UnsafeAtlasError, match="its key implies"):
        build(atlas, tmp_path / "dist")


def test_output_must_not_overlap_the_atlas(atlas, tmp_path):
    with pytest.raises(UnsafeAtlasError, match="must not contain"):
        build(atlas, atlas.parent)


def test_markdown_raw_html_and_script_links_are_neutralised():
    html, meta = render_markdown(
        "title: T <b>\n\n# Hi <script>alert(1)</script>\n\n"
        "[x](javascript:alert(1)) [ok](../cite/index.html)\n"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert 'href="../cite/index.html"' in html
    assert meta["title"] == "T <b>"  # plain text; templates escape it


def test_site_src_markdown_page_title_is_escaped(atlas, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "site.toml").write_text((ROOT / "site_src/site.toml").read_text())
    (src / "notes.md").write_text("title: <script>x</script>\n\nBody <iframe src=x></iframe>\n")
    dist = tmp_path / "dist"
    build(atlas, dist, site_src=src)
    text = (dist / "notes/index.html").read_text()
    assert "<script>x" not in text and "<iframe" not in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text
