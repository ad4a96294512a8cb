"""The vtl command line."""

import json

from visualizer import cli


def test_layers_json(capsys):
    assert cli.main(["layers", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 57
    assert records[0]["id"] == "Conv2d_1a_7x7"
    assert sum(r["channels"] for r in records) == 7280


def test_layers_table_in_paper_order(capsys):
    assert cli.main(["layers", "--order", "paper"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split()[1] == "Conv2d_2b_1x1"
    assert lines[-1] == "57 layers, 7280 channels (paper order)"
