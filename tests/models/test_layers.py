"""The layer catalogue: counts, aliases, orders and errors."""

import pytest

from visualizer.models import layers
from visualizer.models.layers import LAYERS, PAPER_ORDER, UnknownLayerError


def test_paper_counts():
    """57 conv layers and 7,280 channels, as the paper states."""
    assert len(LAYERS) == 57
    assert sum(layer.channels for layer in LAYERS) == 7280
    assert len({layer.id for layer in LAYERS}) == 57


def test_every_alias_resolves_to_its_layer():
    for layer in LAYERS:
        for alias in layer.aliases:
            assert layers.resolve(alias) is layer
        assert layers.resolve(layer.id.lower()) is layer


def test_mixed_5b_scope_quirk():
    """The release scopes Mixed_5b's second Branch_2 conv as Conv2d_0a_3x3."""
    layer = layers.resolve("Mixed_5b_Branch_2_b_3x3")
    assert layer.slim_scope == "InceptionV1/Mixed_5b/Branch_2/Conv2d_0a_3x3"
    assert layers.resolve("5b_2_b_3x3") is layer
    assert layers.resolve("InceptionV1/Mixed_5c/Branch_2/Conv2d_0b_3x3").id == "Mixed_5c_Branch_2_b_3x3"


def test_lucid_block_names_are_shifted_by_one_letter():
    assert layers.resolve("mixed4b").id == "Mixed_4c"
    assert layers.resolve("mixed3a").id == "Mixed_3b"
    assert layers.resolve("mixed5b").id == "Mixed_5c"
    assert layers.resolve("InceptionV1/InceptionV1/Mixed_4c/concat:0").id == "Mixed_4c"
    assert [block.channels for block in layers.BLOCKS] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]


def test_figure7_is_the_eight_layers_the_paper_prints():
    """Every 7th layer in paper order from the second (0-based 1, 8, ..., 50); not ending with the deepest."""
    ids = [layer.id for layer in layers.figure7_layers()]
    assert len(ids) == 8
    assert ids[:3] == ["Conv2d_2b_1x1", "Mixed_3b_Branch_3_b_1x1", "Mixed_4b_Branch_1_a_1x1"]
    assert ids[-1] == "Mixed_5b_Branch_3_b_1x1"
    assert ids == [PAPER_ORDER[index].id for index in (1, 8, 15, 22, 29, 36, 43, 50)]
    assert PAPER_ORDER[0].id == "Conv2d_1a_7x7" and "Conv2d_1a_7x7" not in ids
    assert PAPER_ORDER[-1].id == "Mixed_5c_Branch_3_b_1x1" and PAPER_ORDER[-1].id not in ids


def test_paper_order_inside_a_block():
    block = [layer.id.removeprefix("Mixed_4c_") for layer in PAPER_ORDER if layer.block == "Mixed_4c"]
    assert block == [
        "Branch_1_a_1x1",
        "Branch_2_a_1x1",
        "Branch_0_a_1x1",
        "Branch_1_b_3x3",
        "Branch_2_b_3x3",
        "Branch_3_b_1x1",
    ]
    assert [layer.graph_index for layer in LAYERS] == list(range(57))


def test_figure6_short_ids():
    assert [layer.id for layer in layers.figure6_layers()][0] == "Mixed_4c_Branch_2_b_3x3"
    assert [layer.short_id for layer in layers.figure6_layers()] == [
        "4c_2_b_3x3",
        "4d_3_b_1x1",
        "4e_2_a_1x1",
        "4f_1_a_1x1",
        "5b_3_b_1x1",
        "5c_0_a_1x1",
    ]


def test_unknown_layer_lists_close_matches():
    with pytest.raises(UnknownLayerError) as error:
        layers.resolve("Mixed_4c_Branch_2_b_5x5")
    assert "Mixed_4c_Branch_2_b_3x3" in str(error.value)
    assert error.value.suggestions[0] == "Mixed_4c_Branch_2_b_3x3"


def test_block_is_not_a_conv_layer():
    with pytest.raises(UnknownLayerError) as error:
        layers.resolve_layer("mixed4b")
    assert "Mixed_4c_Branch_0_a_1x1" in str(error.value)


def test_parse_channel():
    layer, index = layers.parse_channel("4c_2_b_3x3:17")
    assert (layer.id, index) == ("Mixed_4c_Branch_2_b_3x3", 17)
    with pytest.raises(ValueError, match="0..63"):
        layers.parse_channel("Mixed_4c_Branch_2_b_3x3:64")
    with pytest.raises(ValueError, match="<layer>:<index>"):
        layers.parse_channel("Mixed_4c_Branch_2_b_3x3")
