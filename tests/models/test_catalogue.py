"""The layer catalogue of any Keras model: keras.applications networks, small graphs, InceptionV1, the CLI."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from visualizer import cli
from visualizer.models import inception_v1
from visualizer.models import layers as slim
from visualizer.models.catalogue import (
    LayerInfo,
    LayerSelectionError,
    discover_layers,
    find_layer,
    select_layers,
)
from visualizer.models.flatten import rebuild_flat
from visualizer.models.graph import truncate
from visualizer.models.layers import UnknownLayerError

# Each network's convolution-like layers, counted from its published architecture.
APPLICATIONS: dict[str, tuple[str, int, dict]] = {
    # Conv1, the first block's depthwise and projection, 16 blocks of three, Conv_1.
    "MobileNetV2": ("MobileNetV2", 1 + 2 + 16 * 3 + 1, {"alpha": 0.35}),
    # conv1, 16 bottlenecks of three, 4 projection shortcuts.
    "ResNet50V2": ("ResNet50V2", 1 + 16 * 3 + 4, {}),
    # stem, 16 blocks (depthwise, squeeze, excite, projection), 15 expansions, top.
    "EfficientNetB0": ("EfficientNetB0", 1 + 16 * 4 + 15 + 1, {}),
    # conv1, 58 dense layers of two convs, 3 transitions.
    "DenseNet121": ("DenseNet121", 1 + (6 + 12 + 24 + 16) * 2 + 3, {}),
    # the stem, 3 + 3 + 9 + 3 blocks of one depthwise convolution, 3 downsamplings (the stem and the
    # downsamplings are nested Sequentials, listed by their layers).
    "ConvNeXtTiny": ("ConvNeXtTiny", 1 + 3 + 3 + 9 + 3 + 3, {}),
    # 13 convolutions.
    "VGG16": ("VGG16", 13, {}),
}
_BUILT: dict[str, keras.Model] = {}


def application(name: str) -> keras.Model:
    """A keras.applications network without weights or top, for images of any size (built once)."""
    if name not in _BUILT:
        constructor, _, kwargs = APPLICATIONS[name]
        _BUILT[name] = getattr(keras.applications, constructor)(
            include_top=False, weights=None, input_shape=(None, None, 3), **kwargs
        )
    return _BUILT[name]


def expected_channels(model: keras.Model, row: LayerInfo) -> int:
    """The channels a catalogued layer must have, read from its convolution's settings."""
    conv = model.get_layer(row.conv)
    if isinstance(conv, keras.layers.DepthwiseConv2D):
        return conv.input.shape[-1] * conv.depth_multiplier
    if isinstance(conv, keras.layers.Dense):
        return conv.units
    return conv.filters


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_the_catalogue_of_an_application_network(name):
    model = rebuild_flat(application(name), copy_weights=False)  # ConvNeXt's nested layers by name
    catalogue = discover_layers(model)
    assert len(catalogue) == APPLICATIONS[name][1]
    order = [layer.name for layer in model.layers]
    positions = [order.index(row.id) for row in catalogue]
    assert positions == sorted(positions), "graph order"
    assert [row.graph_index for row in catalogue] == list(range(len(catalogue)))
    assert len({row.id for row in catalogue}) == len(catalogue)
    for row in catalogue:
        assert row.aliases[0] == row.id and row.conv in row.aliases
        assert row.channels == model.get_layer(row.id).output.shape[-1] == expected_channels(model, row), (
            row.id
        )
        assert row.receptive_field is not None and row.receptive_field >= row.kernel[0]
        assert row.kind in ("conv", "depthwise")


@pytest.mark.parametrize(
    "name, index, layer_id, aliases, kind, channels, kernel, stride, field",
    [
        # conv, batch norm and ReLU6 make one layer; a projection has no nonlinearity after it.
        ("MobileNetV2", 0, "Conv1_relu", ("Conv1", "bn_Conv1"), "conv", 16, (3, 3), (2, 2), 3),
        ("MobileNetV2", 5, "block_1_project_BN", ("block_1_project",), "conv", 8, (1, 1), (1, 1), 11),
        ("EfficientNetB0", 0, "stem_activation", ("stem_conv", "stem_bn"), "conv", 32, (3, 3), (2, 2), 3),
        # ResNetV2 is pre-activation: the batch norm after a conv belongs to the next unit.
        ("ResNet50V2", 0, "conv1_conv", (), "conv", 64, (7, 7), (2, 2), 7),
        (
            "ResNet50V2",
            1,
            "conv2_block1_1_relu",
            ("conv2_block1_1_conv", "conv2_block1_1_bn"),
            "conv",
            64,
            (1, 1),
            (1, 1),
            11,
        ),
        ("ResNet50V2", 4, "conv2_block1_3_conv", (), "conv", 256, (1, 1), (1, 1), 19),
        ("DenseNet121", 0, "conv1_relu", ("conv1_conv", "conv1_bn"), "conv", 64, (7, 7), (2, 2), 7),
        # A grouped convolution with one filter per channel is depthwise.
        (
            "ConvNeXtTiny",
            1,
            "convnext_tiny_stage_0_block_0_depthwise_conv",
            (),
            "depthwise",
            96,
            (7, 7),
            (1, 1),
            4 + 6 * 4,
        ),
        # A conv with its own ReLU is taken as it is.
        ("VGG16", 12, "block5_conv3", (), "conv", 512, (3, 3), (1, 1), 196),
    ],
)
def test_catalogued_layers_are_taken_after_their_batch_norm_and_nonlinearity(
    name, index, layer_id, aliases, kind, channels, kernel, stride, field
):
    row = discover_layers(application(name))[index]
    assert (row.id, row.aliases[1:], row.kind) == (layer_id, aliases, kind)
    assert (row.channels, row.kernel, row.stride, row.receptive_field) == (channels, kernel, stride, field)


def test_dense_layers_on_feature_maps_when_asked():
    model = application("ConvNeXtTiny")
    plain, with_dense = discover_layers(model), discover_layers(model, dense=True)
    dense = [row for row in with_dense if row.kind == "dense"]
    assert len(dense) == 2 * len([row for row in plain if row.kind == "depthwise"])  # two per block
    assert [row.id for row in with_dense if row.kind != "dense"] == [row.id for row in plain]
    first = dense[0]
    assert first.id == "convnext_tiny_stage_0_block_0_gelu"  # Dense, then GELU
    assert first.conv == "convnext_tiny_stage_0_block_0_pointwise_conv_1" and first.channels == 4 * 96


# -- selections ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet_catalogue() -> list[LayerInfo]:
    return discover_layers(application("MobileNetV2"))


def test_select_all_and_every_n(mobilenet_catalogue):
    assert select_layers(mobilenet_catalogue, "all") == mobilenet_catalogue
    every = select_layers(mobilenet_catalogue, "every:5")
    assert [row.graph_index for row in every] == list(range(4, len(mobilenet_catalogue), 5))
    assert select_layers(mobilenet_catalogue, "every:1") == mobilenet_catalogue


@pytest.mark.parametrize("name", list(APPLICATIONS))
def test_figure7_is_eight_layers_evenly_spaced_ending_with_the_deepest(name):
    catalogue = discover_layers(application(name))
    chosen = select_layers(catalogue, "figure7")
    indices = [row.graph_index for row in chosen]
    assert len(chosen) == 8 and indices[-1] == len(catalogue) - 1
    gaps = np.diff([-1, *indices])
    assert gaps.min() >= 1 and gaps.max() - gaps.min() <= 1, indices


def test_figure7_of_a_small_network_is_all_of_it():
    inputs = keras.Input((None, None, 3))
    x = inputs
    for index in range(5):
        x = keras.layers.Conv2D(4, 3, activation="relu", name=f"c{index}")(x)
    catalogue = discover_layers(keras.Model(inputs, x))
    assert select_layers(catalogue, "figure7") == catalogue


def test_select_by_names_and_aliases(mobilenet_catalogue):
    chosen = select_layers(
        mobilenet_catalogue, ["block_1_project_BN", "BLOCK_1_EXPAND", "bn_Conv1", "Conv1_relu"]
    )
    assert [row.id for row in chosen] == ["block_1_project_BN", "block_1_expand_relu", "Conv1_relu"]
    assert find_layer(mobilenet_catalogue, "block_1_expand_relu:0").id == "block_1_expand_relu"


def test_an_unknown_name_is_refused_with_close_matches(mobilenet_catalogue):
    with pytest.raises(UnknownLayerError) as caught:
        select_layers(mobilenet_catalogue, ["block_1_expand_rlu"], source="mobilenet.keras")
    message = str(caught.value)
    assert "Unknown layer 'block_1_expand_rlu' in the catalogue of mobilenet.keras" in message
    assert "Close matches: block_1_expand_relu" in message
    with pytest.raises(UnknownLayerError, match="Its layers: Conv1_relu, expanded_conv_depthwise_relu"):
        find_layer(mobilenet_catalogue, "zzzzzzzz")


@pytest.mark.parametrize(
    "spec, message",
    [
        ("every:0", "whole number N >= 1"),
        ("every:x", "whole number N >= 1"),
        ("every:60", "selects nothing: the catalogue has 52 layers"),
        ("figure 7", "valid: all, every:N, figure7"),
        ([], "non-empty list of layer names"),
        (3, "valid: all, every:N, figure7"),
        ("figure6", "names layers of the paper's InceptionV1"),
    ],
)
def test_a_bad_selector_is_refused(mobilenet_catalogue, spec, message):
    with pytest.raises(LayerSelectionError, match=message):
        select_layers(mobilenet_catalogue, spec)


# -- InceptionV1 keeps its own catalogue --------------------------------------------------------


def test_the_slim_inception_v1_keeps_its_catalogue_aliases_and_paper_order():
    model = inception_v1.build(width=0.25)
    catalogue = discover_layers(model)
    assert [row.id for row in catalogue] == [layer.id for layer in slim.LAYERS]
    assert [row.aliases for row in catalogue] == [layer.aliases for layer in slim.LAYERS]
    assert [row.paper_index for row in catalogue] == [layer.paper_index for layer in slim.LAYERS]
    assert [row.channels for row in catalogue] == [
        inception_v1.scaled_channels(layer.channels, 0.25) for layer in slim.LAYERS
    ]
    assert [row.id for row in select_layers(catalogue, "figure7")] == list(slim.FIGURE7_IDS)
    assert [row.id for row in select_layers(catalogue, "figure6")] == [
        row.id for row in slim.figure6_layers()
    ]
    layer = slim.resolve_layer("Mixed_4c_Branch_2_b_3x3")
    for alias in (*layer.aliases, layer.graph_op + ":0", "mixed_4c_branch_2_b_3x3"):
        assert find_layer(catalogue, alias).id == layer.id


# -- small graphs -------------------------------------------------------------------------------


def test_layer_kinds_and_what_follows_them():
    inputs = keras.Input((None, None, 3))
    a = keras.layers.SeparableConv2D(6, 3, padding="same", name="separable")(inputs)
    a = keras.layers.ReLU(name="separable_relu")(a)  # a nonlinearity without a batch norm
    b = keras.layers.Conv2D(5, 3, padding="same", name="shared")(a)  # read by two layers: taken as is
    c = keras.layers.BatchNormalization(name="shared_bn")(b)
    d = keras.layers.Add(name="add")([b, keras.layers.Conv2D(5, 1, name="side")(a)])
    e = keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same", name="up")(keras.layers.Add()([c, d]))
    f = keras.layers.Dense(7, name="logits")(keras.layers.GlobalAveragePooling2D()(e))
    model = keras.Model(inputs, [e, f])
    catalogue = discover_layers(model, dense=True)
    assert [(row.id, row.kind) for row in catalogue] == [
        ("separable_relu", "separable"),
        ("shared", "conv"),
        ("side", "conv"),
        ("up", "transpose"),
    ]  # a Dense after pooling is not on a feature map
    assert catalogue[-1].receptive_field is None and catalogue[-1].grid_stride is None
    assert catalogue[0].receptive_field == 3


def test_a_sequential_model_is_catalogued():
    model = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(4, 3, name="c1"),
            keras.layers.BatchNormalization(name="c1_bn"),
            keras.layers.Activation("relu", name="c1_relu"),
            keras.layers.Conv2D(5, 3, strides=2, name="c2"),
        ]
    )
    catalogue = discover_layers(model)
    assert [(row.id, row.aliases, row.receptive_field) for row in catalogue] == [
        ("c1_relu", ("c1_relu", "c1", "c1_bn"), 3),
        ("c2", ("c2",), 5),
    ]


# -- `vtl layers --model` -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    x = keras.layers.DepthwiseConv2D(3, name="dw")(x)
    keras.Model(inputs, x, name="tiny").save(path)
    return str(path)


def test_vtl_layers_model_prints_the_catalogue(model_file, capsys):
    assert cli.main(["layers", "--model", model_file]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["#", "id", "kind", "channels", "kernel", "stride", "field", "aliases"]
    assert lines[1].split() == ["1", "stem_relu", "conv", "8", "3x3", "2", "3", "stem,", "stem_bn"]
    assert lines[2].split() == ["2", "dw", "depthwise", "8", "3x3", "1", "7"]
    assert lines[-1] == "2 layers, 16 channels (graph order)"
    assert cli.main(["layers", "--model", model_file, "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert records[0]["id"] == "stem_relu" and records[0]["aliases"] == ["stem_relu", "stem", "stem_bn"]
    assert records[1]["kernel"] == [3, 3] and records[1]["receptive_field"] == 7


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model", "{missing}"], "No model file at"),
        (["--model", "{garbage}"], "is not a Keras model file"),
        (["--model", "{model}", "--order", "paper"], "--order paper is the paper's InceptionV1 order"),
    ],
)
def test_vtl_layers_model_errors_are_one_line(model_file, tmp_path, capsys, args, message):
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a model")
    paths = {"missing": tmp_path / "none.keras", "garbage": garbage, "model": model_file}
    assert cli.main(["layers", *[arg.format(**paths) for arg in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vtl layers: ") and message in err and "\n" not in err


# -- rendering a discovered layer ---------------------------------------------------------------


def _middle(rows: list[LayerInfo]) -> LayerInfo:
    return rows[len(rows) // 2]


# Which layer of each network renders, and whether the fused copy rewrites any of its convolutions
# (ConvNeXt's are grouped, depthwise, or inside nested Sequential models: the copy keeps them as they are).
RENDERED: dict[str, tuple] = {
    "MobileNetV2": (lambda rows: next(row for row in rows if row.id.endswith("project_BN")), True),
    "ResNet50V2": (_middle, True),
    "EfficientNetB0": (_middle, True),
    "DenseNet121": (_middle, True),
    "ConvNeXtTiny": (lambda rows: next(row for row in rows if row.kind == "dense"), False),
    "VGG16": (_middle, True),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(RENDERED))
def test_a_discovered_layer_renders_and_its_objective_matches_the_model(name):
    """The atlas's channel method renders two channels through the fused copy (not the fallback),
    and each objective is the unmodified model's channel mean on the rendered image."""
    from visualizer.atlas.methods import get_method
    from visualizer.render.fused import FusedConv2D
    from visualizer.render.render import ChannelRenderer

    keras.utils.set_random_seed(0)
    model = application(name)
    pick, rewrites_convolutions = RENDERED[name]
    row = pick(discover_layers(model, dense=True))
    channels = [0, row.channels - 1]
    result = get_method("lucid")(model, row.id, channels, size=32, steps=8, seed=0)
    assert "fused" not in result.recorded, "the fused copy took every layer type: no fallback"
    fused_net = ChannelRenderer.from_keywords(model, row.id, size=32).net
    rewritten = sum(isinstance(layer, FusedConv2D) for layer in fused_net.layers)
    assert (rewritten > 0) == rewrites_convolutions, rewritten
    assert result.images.shape == (2, 32, 32, 3) and not result.failed
    activations = keras.ops.convert_to_numpy(truncate(model, row.id)(result.images, training=False))
    expected = np.array([activations[i, ..., c].mean() for i, c in enumerate(channels)])
    scale = np.abs(expected).max()
    assert np.isfinite(expected).all() and scale > 0 and expected[0] != expected[1]
    np.testing.assert_allclose(result.objectives, expected, rtol=1e-5, atol=1e-5 * scale)
