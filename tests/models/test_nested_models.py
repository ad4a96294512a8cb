"""Nested models (a keras.applications base called as one layer, ConvNeXt's Sequential stem) behave like
flat ones: catalogued by their inner layers, rendered, cut at an inner layer, and trained as transfers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visualizer.models.catalogue import discover_layers
from visualizer.models.flatten import has_nested_models, nested_outputs, rebuild_flat
from visualizer.models.graph import truncate
from visualizer.models.own import cut, feature_layer, prepare_image_model

SIZE = 48


def fine_tuned(outer_conv_name: str = "") -> tuple[keras.Model, keras.Model]:
    """(A researcher's model holding a MobileNetV2 base as one layer, that base), weights=None."""
    keras.utils.set_random_seed(4)
    base = keras.applications.MobileNetV2(
        include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), alpha=0.35
    )
    inputs = keras.Input((SIZE, SIZE, 3))
    x = inputs
    if outer_conv_name:  # an outer layer whose name the base also uses
        x = keras.layers.Conv2D(3, 1, name=outer_conv_name)(x)
    x = base(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="fine_tuned"), base


@pytest.fixture(scope="module")
def nested():
    return fine_tuned()


def _images(count: int = 2, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(0).random((count, size, size, 3)).astype("float32")


def test_the_catalogue_lists_the_layers_inside_a_nested_base(nested):
    model, base = nested
    assert has_nested_models(model)
    expected = [
        (row.id, row.aliases, row.channels, row.kind, row.receptive_field) for row in discover_layers(base)
    ]
    for candidate in (model, prepare_image_model(model, (-1.0, 1.0))):
        rows = discover_layers(candidate)
        assert [(r.id, r.aliases, r.channels, r.kind, r.receptive_field) for r in rows] == expected
    assert len(expected) == 52


def test_the_flattened_model_computes_what_the_nested_one_does(nested):
    model, base = nested
    flat = prepare_image_model(model, (-1.0, 1.0))
    assert not has_nested_models(flat) and nested_outputs(flat) == {base.name: "out_relu"}
    images = _images()
    # In training mode too: `base(x, training=False)` keeps the base's batch norms in inference.
    for training in (False, True):
        np.testing.assert_allclose(
            flat(images, training=training), model(2 * images - 1, training=training), rtol=1e-5, atol=1e-6
        )
    # Weights are copies: the flat model shares no variable with the original.
    assert not {id(v) for v in flat.weights} & {id(v) for v in model.weights}


def test_an_inner_layer_renders_with_the_objective_of_the_unmodified_base(nested):
    from visualizer.render.render import render_channels

    model, base = nested
    flat = prepare_image_model(model, (-1.0, 1.0))
    rendering = render_channels(
        flat, "block_2_expand_relu", [0, 3], size=SIZE, steps=3, seed=1, progress=False
    )
    assert rendering.layer == "block_2_expand_relu"
    inner = keras.Model(base.inputs, base.get_layer("block_2_expand_relu").output)
    acts = np.asarray(inner(2 * np.asarray(rendering.images) - 1), dtype="float64").mean(axis=(1, 2))
    np.testing.assert_allclose(rendering.objectives, acts[[0, 1], [0, 3]], rtol=1e-5)


def test_base_layer_can_name_an_inner_layer(nested):
    model, base = nested
    flat = prepare_image_model(model)
    name = feature_layer(flat, "block_3_expand", "fine_tuned.keras")
    assert name == "block_3_expand_relu"
    head = cut(flat, name)
    images = _images(1)
    expected = keras.Model(base.inputs, base.get_layer(name).output)(images)
    np.testing.assert_allclose(head(images), expected, rtol=1e-5, atol=1e-6)
    assert feature_layer(flat, "", "fine_tuned.keras") == "out_relu"  # the last feature map is inside


def test_an_inner_name_taken_by_an_outer_layer_gets_the_nested_models_prefix():
    model, base = fine_tuned(outer_conv_name="Conv1")
    flat = prepare_image_model(model)
    names = [layer.name for layer in flat.layers]
    assert len(names) == len(set(names))
    assert "Conv1" in names and f"{base.name}_Conv1" in names
    assert flat.get_layer("Conv1").kernel.shape == (1, 1, 3, 3)  # the outer layer keeps its name
    outer, inner = discover_layers(flat)[:2]
    assert (outer.id, outer.conv) == ("Conv1", "Conv1")
    assert (inner.id, inner.conv) == ("Conv1_relu", f"{base.name}_Conv1")
    np.testing.assert_allclose(flat(_images()), model(_images()), rtol=1e-5, atol=1e-6)


def test_convnext_s_sequential_stem_is_catalogued():
    model = keras.applications.ConvNeXtTiny(include_top=False, weights=None, input_shape=(64, 64, 3))
    rows = discover_layers(model)
    assert rows[0].id == "convnext_tiny_stem_conv"
    assert (rows[0].channels, rows[0].kernel, rows[0].stride, rows[0].receptive_field) == (
        96,
        (4, 4),
        (4, 4),
        4,
    )
    downsampling = [row.id for row in rows if "downsampling" in row.id]
    assert downsampling == [f"convnext_tiny_downsampling_conv_{i}" for i in range(3)]
    flat = rebuild_flat(model)
    images = _images(1, 64)
    np.testing.assert_allclose(flat(images), model(images), rtol=1e-5, atol=1e-5)
    assert nested_outputs(flat)["convnext_tiny_stem"] == "convnext_tiny_stem_layernorm"
    stem = truncate(flat, "convnext_tiny_stem_layernorm")(images)
    expected = keras.Model(model.inputs, model.get_layer("convnext_tiny_stem").output)(images)
    np.testing.assert_allclose(stem, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_a_transfer_of_a_nested_model_trains_and_renders(tmp_path, nested):
    from tests.helpers.own_network import write_own_config
    from visualizer.atlas import catalog
    from visualizer.cli import main
    from visualizer.train.snapshots import load_snapshot

    model, _ = nested
    (tmp_path / "configs").mkdir()
    model.save(tmp_path / "configs" / "tiny.keras")  # the helper's config names this file
    plan = (
        '[[render.plan]]\nmodels = ["base", "child"]\nlayers = ["block_1_expand", "Conv1"]\n'
        'channels = "first:1"\nsnapshots = "final"\nmethods = ["lucid"]\n'
    )
    config = write_own_config(tmp_path, plan, extra_child='base_layer = "block_2_expand"')
    assert main(["train", "--config", str(config), "--quiet"]) == 0
    child, _ = load_snapshot(tmp_path / "runs", "child", "final")
    names = {layer.name for layer in child.layers}
    assert {"Conv1", "block_1_expand_relu", "block_2_expand_relu"} <= names and "block_3_expand" not in names
    assert main(["render", "--config", str(config)]) == 0
    atlas = tmp_path / "atlas"
    assert catalog.check(atlas).ok
    keys = {tuple(path.split("/")[1:5]) for path in catalog.iter_image_files(atlas)}
    assert {
        (m, "final", "lucid", layer)
        for m in ("base", "child")
        for layer in ("Conv1_relu", "block_1_expand_relu")
    } == keys
