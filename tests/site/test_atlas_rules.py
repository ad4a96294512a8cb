"""The gallery reads the atlas's rules from its catalog: methods, key grammar, path format, figure layers.

The visualizer records them (``methods`` table, ``meta`` keys); the gallery
keeps one fallback copy of each for atlases rendered before they were recorded.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.helpers.fake_atlas import DEFAULT_MODELS, write_fake_atlas
from visualizer.atlas.methods import method_record
from visualizer.models.layers import figure7_layers
from vtl_gallery.catalog import KeyRules, UnsafeAtlasError, check_component
from vtl_gallery.pages import PAPER_FIGURE7

from .conftest import build

RULE_KEYS = ("key_pattern", "path_format", "figure6_layers", "figure7_layers")


def _sql(atlas: Path, *statements: tuple) -> None:
    db = sqlite3.connect(atlas / "catalog.sqlite")
    for statement in statements:
        db.execute(*statement)
    db.commit()
    db.close()


def _figure7_rows(dist: Path) -> list[str]:
    text = (dist / "figures/figure-7/index.html").read_text()
    return re.findall(r'<th scope="row">(?:<a [^>]*>)?([\w-]+)', text)


@pytest.fixture(scope="module")
def deep_atlas(tmp_path_factory) -> Path:
    """A parent and a transferred model, rendered at a figure-7 layer and the deepest layer."""
    return write_fake_atlas(
        tmp_path_factory.mktemp("deep") / "atlas",
        models=DEFAULT_MODELS[:2],
        layers=("Conv2d_2b_1x1", "Mixed_5c_Branch_3_b_1x1"),
        channels=1,
        size=8,
    )


def test_figure7_is_the_recorded_list_even_where_the_deepest_layer_is_rendered(deep_atlas, tmp_path):
    """Counting every 7th layer back from the deepest would pick Mixed_5c_Branch_3_b_1x1 and Conv2d_1a_7x7."""
    build(deep_atlas, tmp_path / "dist")
    assert _figure7_rows(tmp_path / "dist") == [layer.id for layer in figure7_layers()]
    text = (tmp_path / "dist/figures/figure-7/index.html").read_text()
    assert "follows the list, not the caption" in text


def test_figure_pages_show_the_layers_the_atlas_records(deep_atlas, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(deep_atlas, copy)
    recorded7 = ["Mixed_5c_Branch_3_b_1x1", "Conv2d_1a_7x7", "Not_a_layer"]
    _sql(
        copy,
        ("UPDATE meta SET value = ? WHERE key = 'figure7_layers'", (json.dumps(recorded7),)),
        ("UPDATE meta SET value = ? WHERE key = 'figure6_layers'", (json.dumps(["Conv2d_2b_1x1"]),)),
    )
    build(copy, tmp_path / "dist")
    assert _figure7_rows(tmp_path / "dist") == recorded7
    fig7 = (tmp_path / "dist/figures/figure-7/index.html").read_text()
    assert "not in this atlas&#39;s layer table" in fig7
    fig6 = (tmp_path / "dist/figures/figure-6/index.html").read_text()
    assert "(a) <code>2b_1x1</code>" in fig6 and "4c_2_b_3x3" not in fig6


def test_an_atlas_without_recorded_rules_uses_the_gallery_s_one_copy(deep_atlas, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(deep_atlas, copy)
    _sql(copy, ("DELETE FROM meta WHERE key IN (?, ?, ?, ?)", RULE_KEYS), ("DROP TABLE methods",))
    build(copy, tmp_path / "dist")
    assert _figure7_rows(tmp_path / "dist") == list(PAPER_FIGURE7)
    assert tuple(layer.id for layer in figure7_layers()) == PAPER_FIGURE7  # the copy agrees with the rule
    _sql(
        copy,
        (
            "UPDATE images SET model = '-rf', path = replace(path, 'images/celeba/', 'images/-rf/') "
            "WHERE model = 'celeba'",
        ),
    )
    with pytest.raises(UnsafeAtlasError, match="Refusing model name '-rf'"):
        build(copy, tmp_path / "dist2")


def test_the_recorded_key_grammar_and_path_format_validate_the_atlas(deep_atlas, tmp_path):
    narrow = tmp_path / "narrow"
    shutil.copytree(deep_atlas, narrow)
    _sql(narrow, ("UPDATE meta SET value = '[a-z0-9_]+' WHERE key = 'key_pattern'",))
    with pytest.raises(UnsafeAtlasError, match=r"Refusing layer id 'Conv2d_1a_7x7'.*\[a-z0-9_\]\+"):
        build(narrow, tmp_path / "dist-narrow")
    other_format = tmp_path / "format"
    shutil.copytree(deep_atlas, other_format)
    _sql(
        other_format,
        ("UPDATE meta SET value = 'images/{model}/{layer}/{channel}.png' WHERE key = 'path_format'",),
    )
    with pytest.raises(UnsafeAtlasError, match=r"its key implies 'images/celeba/Conv2d_2b_1x1/0\.png'"):
        build(other_format, tmp_path / "dist-format")


def test_key_rules_keep_every_component_one_plain_path_segment():
    rules = KeyRules.from_meta({"key_pattern": ".*"})  # however wide a recorded grammar is
    for bad in ("..", ".hidden", "a/b", "a\\b", ""):
        with pytest.raises(UnsafeAtlasError):
            rules.check(bad, "layer id")
    assert rules.check("odd+name", "layer id") == "odd+name"
    for bad in ("-rf", "--help"):  # the gallery's own copy refuses a leading dash, as the visualizer does
        with pytest.raises(UnsafeAtlasError, match="Refusing"):
            check_component(bad, "model name")
    with pytest.raises(UnsafeAtlasError, match="fields must be among"):
        KeyRules.from_meta({"path_format": "images/{model.__class__}/{channel}.png"})
    with pytest.raises(UnsafeAtlasError, match="key_pattern"):
        KeyRules.from_meta({"key_pattern": "[unclosed"})


def test_channel_pages_print_the_descriptions_the_catalog_holds(tmp_path):
    atlas = write_fake_atlas(
        tmp_path / "atlas",
        models=DEFAULT_MODELS[:1],
        layers=("Conv2d_2b_1x1",),
        channels=1,
        methods=("lucid", "diversity"),
    )
    _sql(
        atlas, ("UPDATE methods SET description = '<b>Edited</b> in the catalog.' WHERE name = 'diversity'",)
    )
    build(atlas, tmp_path / "dist")
    page = (tmp_path / "dist/layer/Conv2d_2b_1x1/0/index.html").read_text()
    section = page[page.index("<h2>Other methods</h2>") :]
    assert "<code>diversity</code>: &lt;b&gt;Edited&lt;/b&gt; in the catalog." in section
    assert f"<code>lucid</code>: {method_record('lucid').description}".replace("'", "&#39;") in section
    assert method_record("diversity").description.replace("'", "&#39;") not in section
