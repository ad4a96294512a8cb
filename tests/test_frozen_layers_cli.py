"""``vtl layers --model <file>.pb``: a frozen graph's catalogue, as a table or JSON, and its errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("tensorflow")

from tests.helpers.own_network import save_tiny_frozen_graph, save_tiny_keras  # noqa: E402
from visualizer.cli import main  # noqa: E402

IDS = [
    "tiny_to_pw_relu_1_c1_relu_1_Relu",
    "tiny_to_pw_relu_1_dw_relu_1_Relu6",
    "tiny_to_pw_relu_1_pw_relu_1_Relu",
]


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pb")
    return save_tiny_frozen_graph(save_tiny_keras(folder / "tiny.keras"), folder / "tiny.pb")


def _with_node(source, target, name: str, op: str):
    """A copy of the graph at `source` with one more node, written to `target`."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(source.read_bytes())
    node = graph_def.node.add(name=name, op=op)
    if op == "Placeholder":
        node.attr["dtype"].type = tf.float32.as_datatype_enum
    target.write_bytes(graph_def.SerializeToString())
    return target


def test_the_table_lists_the_graphs_layers(graph, capsys):
    assert main(["layers", "--model", str(graph)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["#", "id", "kind", "channels"]
    rows = [line.split() for line in out[1:-1]]
    assert [row[1] for row in rows] == IDS and [row[2] for row in rows] == ["conv", "depthwise", "conv"]
    assert [row[3] for row in rows] == ["8", "8", "12"]
    assert out[-1] == "3 layers, 28 channels (graph order)"


def test_json_has_the_same_rows(graph, capsys):
    assert main(["layers", "--model", str(graph), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["id"] for row in rows] == IDS
    assert [row["kernel"] for row in rows] == [[3, 3], [3, 3], [1, 1]]
    assert rows[1]["stride"] == [2, 2] and "tiny_to_pw_relu_1/dw_1/depthwise" in rows[1]["aliases"]


def test_several_placeholders_need_input(graph, tmp_path, capsys):
    two = _with_node(graph, tmp_path / "two.pb", "labels", "Placeholder")
    assert main(["layers", "--model", str(two)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "two.pb" in err and "input, labels" in err and "--input NAME" in err
    assert main(["layers", "--model", str(two), "--input", "input", "--json"]) == 0
    assert [row["id"] for row in json.loads(capsys.readouterr().out)] == IDS
    assert main(["layers", "--model", str(two), "--input", "image"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no input placeholder 'image'" in err and "input, labels" in err


def test_an_op_outside_the_allowlist_is_refused_in_one_line(graph, tmp_path, capsys):
    bad = _with_node(graph, tmp_path / "bad.pb", "reader", "ReadFile")
    assert main(["layers", "--model", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bad.pb" in err and "'ReadFile'" in err


def test_a_file_that_is_not_a_graph(tmp_path, capsys):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\x00not a graph")
    assert main(["layers", "--model", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "junk.pb" in err and "not a frozen TF1 GraphDef" in err
