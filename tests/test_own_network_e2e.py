"""End to end on networks of our own: a keras model, its transfer and a frozen graph, trained, rendered,
published with `vtl site`, and crawled: each model lands on its own pages, its own layers on them."""

from __future__ import annotations

import posixpath
import re
import sqlite3
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from tests.helpers.own_network import FROZEN_GRAPH_MODEL, save_tiny_frozen_graph, write_own_config
from visualizer.atlas import catalog
from visualizer.cli import main

pytestmark = pytest.mark.slow

PLAN = """\
[[render.plan]]
models = ["base", "child"]
layers = "every:2"
channels = "first:2"
snapshots = "all"
methods = ["lucid", "negative"]

[[render.plan]]
models = ["child"]
layers = ["pw"]
channels = "first:1"
methods = ["neuron", "diversity", "examples", "negative_examples"]

[render.examples]
images = 16
top = 4

[[render.plan]]
models = ["graph"]
layers = ["tiny_to_pw_relu_1/pw_relu_1/Relu"]  # an op name: an alias of its id
channels = "first:2"
methods = ["lucid", "negative"]

[[render.plan]]
models = ["gchild"]
layers = ["tiny_to_pw_relu_1/dw_relu_1/Relu6"]
channels = "first:1"
methods = ["lucid"]
"""

GRAPH = (
    FROZEN_GRAPH_MODEL
    + """
[[models]]
name = "gchild"
source = "transfer"
parent = "graph"
dataset = { kind = "world", world = "flowers", train_size = 16, validation_size = 8 }
head = "single_dense"
steps = 2
batch_size = 4
"""
)

_HREF = re.compile(r'(?:href|src)="([^"#?]+)')


def _crawl(site: Path) -> set[str]:
    """Every page reachable from index.html by relative links; fails on a broken internal link."""
    seen, queue, broken = {"index.html"}, ["index.html"], []
    while queue:
        here = queue.pop()
        for value in _HREF.findall((site / here).read_text(encoding="utf-8")):
            if urlsplit(value).scheme:
                continue
            target = posixpath.normpath(posixpath.join(posixpath.dirname(here), unquote(value)))
            if (site / target).is_dir():
                target = posixpath.join(target, "index.html")
            if not (site / target).is_file():
                broken.append(f"{here} -> {value}")
            elif target.endswith(".html") and target not in seen:
                seen.add(target)
                queue.append(target)
    assert not broken, broken[:10]
    return seen


def _tables(atlas: Path) -> tuple[list, list]:
    """The ``models`` and ``layers`` rows of an atlas's catalog."""
    db = sqlite3.connect(atlas / catalog.CATALOG_NAME)
    try:
        return (
            db.execute("SELECT * FROM models ORDER BY name").fetchall(),
            db.execute("SELECT * FROM layers ORDER BY network, id").fetchall(),
        )
    finally:
        db.close()


def test_keras_transfer_and_frozen_graph_from_config_to_site(tmp_path, capsys):
    config = write_own_config(tmp_path, PLAN, extra_models=GRAPH)
    save_tiny_frozen_graph(tmp_path / "configs" / "tiny.keras", tmp_path / "configs" / "tiny.pb")
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    assert main(["render", "--config", str(config)]) == 0, capsys.readouterr().err
    atlas = tmp_path / "atlas"
    report = catalog.check(atlas)
    # base: 1 layer x 2 channels x 2 methods; child: 3 snapshots of the same, and 4 more methods;
    # graph: 2 channels x 2 methods; gchild (the graph's transfer): 1.
    assert report.ok and report.images == 4 + 3 * 4 + 4 + 4 + 1
    methods = {
        path.parts[-3] for path in (atlas / "images" / "child").rglob("*.png")
    }  # <method>/<layer>/<file>
    assert methods == {"lucid", "negative", "neuron", "diversity", "examples", "negative_examples"}, methods
    images = {path.relative_to(atlas / "images").parts[0] for path in (atlas / "images").rglob("*.png")}
    assert images == {"base", "child", "graph", "gchild"}
    out = tmp_path / "dist"
    assert main(["site", "--atlas", str(atlas), "--out", str(out)]) == 0, capsys.readouterr().err
    reached = _crawl(out)
    for model, layer in (
        ("base", "dw_relu"),
        ("child", "dw_relu"),
        ("graph", "tiny_to_pw_relu_1_pw_relu_1_Relu"),
        ("gchild", "tiny_to_pw_relu_1_dw_relu_1_Relu6"),
    ):
        own = [page for page in reached if f"/{model}/" in f"/{page}" and page.startswith("model/")]
        assert own, (model, sorted(reached)[:20])
        text = " ".join((out / page).read_text(encoding="utf-8") for page in own)
        assert layer in text, (model, layer)
    # Each network's layers on its own pages (docs/gallery.md#several-networks), its models only.
    layer_pages = {tuple(page.split("/")[1:4:2]) for page in reached if page.startswith("network/")}
    assert {("base", "dw_relu"), ("graph", "tiny_to_pw_relu_1_pw_relu_1_Relu")} <= layer_pages
    channel = (out / "network/base/layer/dw_relu/0/index.html").read_text(encoding="utf-8")
    linked = set(re.findall(r'href="[./]*model/([A-Za-z0-9_]+)/', channel))
    assert linked & {"base", "child", "graph", "gchild"} == {"base", "child"}
    db = sqlite3.connect(atlas / catalog.CATALOG_NAME)
    networks = dict(db.execute("SELECT name, network FROM models"))
    db.close()
    assert networks == {"base": "base", "child": "base", "graph": "graph", "gchild": "graph"}
    tables = _tables(atlas)
    assert ("base", "dw_relu") in {row[:2] for row in tables[1]}
    catalog.rebuild(atlas)  # the images alone give the same networks and layer rows
    assert _tables(atlas) == tables
