"""Atlas methods: the renderer pool reuses compiled steps without mixing up weights."""

import keras
import numpy as np
import pytest

from visualizer.atlas.methods import (
    Method,
    available_methods,
    get_method,
    method_record,
    method_settings,
    registered_methods,
    unregister_method,
)
from visualizer.atlas.methods.optimized import RendererPool
from visualizer.models import inception_v1
from visualizer.render import render_channels


def _model(seed, head="single_dense"):
    keras.utils.set_random_seed(seed)
    return inception_v1.build(num_classes=3, head=head, width=0.125)


def test_pooled_renders_equal_fresh_renders_for_each_snapshot():
    """Weights copied into the shared template give the images a fresh renderer gives."""
    pool = RendererPool()
    models = [_model(1), _model(2, head="dense"), _model(1)]
    settings = dict(size=32, transforms="lucid", param="fft", decorrelate=True)
    pooled = [
        pool.renderer(m, "Conv2d_2c_3x3", **settings).render([0, 5], steps=4, seed=3, progress=False)
        for m in models
    ]
    assert len(pool._renderers) == 1  # one compiled renderer served all three models
    for model, rendering in zip(models, pooled):
        fresh = render_channels(model, "Conv2d_2c_3x3", [0, 5], size=32, steps=4, seed=3, progress=False)
        np.testing.assert_allclose(rendering.images, fresh.images, atol=1e-5)
    assert not np.allclose(pooled[0].images, pooled[1].images)
    np.testing.assert_allclose(pooled[0].images, pooled[2].images, atol=1e-6)


def test_unknown_method_lists_the_valid_ones():
    assert "lucid" in available_methods()
    with pytest.raises(
        ValueError, match="valid: diversity, examples, lucid, negative, negative_examples, neuron, stylegan2"
    ):
        get_method("deepdream")


def test_the_neuron_method_renders_lucid_s_neuron_objective():
    model = _model(4)
    settings = dict(size=32, steps=4, seed=3, transforms="lucid", param="fft", decorrelate=True)
    result = get_method("neuron")(model, "Conv2d_2c_3x3", [0, 5], **settings)
    del settings["steps"], settings["seed"]
    fresh = render_channels(
        model, "Conv2d_2c_3x3", [0, 5], steps=4, seed=3, objective="neuron", progress=False, **settings
    )
    np.testing.assert_allclose(result.images, fresh.images, atol=1e-5)
    np.testing.assert_allclose(result.objectives, fresh.objectives, rtol=1e-4)
    channel = get_method("lucid")(model, "Conv2d_2c_3x3", [0, 5], steps=4, seed=3, **settings)
    assert not np.allclose(result.images, channel.images, atol=1e-3)


def test_the_negative_method_lowers_the_pre_relu_channel():
    """``negative`` is Lucid's method minimizing the batch norm's output: the channel's pre-ReLU mean."""
    model = _model(4)
    settings = dict(size=32, steps=4, seed=3, transforms="lucid", param="fft", decorrelate=True)
    result = get_method("negative")(model, "Conv2d_2c_3x3", [0, 5], **settings)
    assert result.recorded == {"pre_relu_layer": "Conv2d_2c_3x3_bn"}
    fresh = render_channels(
        model, "Conv2d_2c_3x3_bn", [0, 5], size=32, steps=4, seed=3, objective="negative", progress=False
    )
    np.testing.assert_allclose(result.images, fresh.images, atol=1e-5)
    np.testing.assert_allclose(result.objectives, fresh.objectives, rtol=1e-4)


def test_the_diversity_method_lays_each_channel_s_group_on_a_sheet():
    """``diversity`` renders `images` diverse images per channel, in batches of whole groups, as one sheet."""
    from visualizer.analysis.examples import SHEET_GAP

    model = _model(4)
    settings = dict(size=24, steps=3, seed=3, transforms="lucid", param="fft", decorrelate=True)
    result = get_method("diversity")(
        model, "Conv2d_2c_3x3", [0, 5, 7], images=4, weight=100.0, batch_size=2, **settings
    )
    assert result.images.shape == (3, 2 * 24 + SHEET_GAP, 2 * 24 + SHEET_GAP, 3) and result.failed == []
    fresh = render_channels(
        model,
        "Conv2d_2c_3x3",
        [5] * 4,
        size=24,
        steps=3,
        seed=3,
        diversity=100.0,
        progress=False,
    )
    sheet = result.images[1]
    for index in range(4):  # channel 5's sheet holds Lucid's batch of four of channel 5, row by row
        row, column = divmod(index, 2)
        top, left = row * (24 + SHEET_GAP), column * (24 + SHEET_GAP)
        np.testing.assert_allclose(sheet[top : top + 24, left : left + 24], fresh.images[index], atol=1e-4)
    assert result.objectives[1] == pytest.approx(fresh.objectives.mean(), rel=1e-3)
    assert np.all(sheet[24 : 24 + SHEET_GAP] == 1.0)


def test_register_method_checks_the_settings_function_against_per_model():
    from visualizer.atlas.methods import register_method

    with pytest.raises(TypeError, match=r"'two' cannot be called as \(config\) with per_model=False"):
        register_method("two", settings=lambda config, model: {})
    with pytest.raises(
        TypeError, match=r"'one' cannot be called as \(config, model name\) with per_model=True"
    ):
        register_method("one", settings=lambda config: {}, per_model=True)
    with pytest.raises(TypeError, match="'keyword' cannot be called"):
        register_method("keyword", settings=lambda config, *, model: {}, per_model=True)
    assert not {"two", "one", "keyword"} & set(available_methods())
    # Defaults and *args are fine: the decorator registers the function it is applied to, and only then.
    decorators = {
        "defaults": register_method("defaults", settings=lambda config, model=None: {}, per_model=True),
        "star": register_method("star", settings=lambda *args: {}),
    }
    assert not set(decorators) & set(available_methods())
    try:
        for name, decorate in decorators.items():

            def render(model, layer, channels, **settings):
                """A method that renders nothing."""

            assert decorate(render) is render
            record = method_record(name)
            assert (record.render, record.kind, record.description) == (
                render,
                "image",
                "A method that renders nothing.",
            )
        assert method_settings("defaults", None, "any model") == {} and method_settings("star", None) == {}
    finally:
        for name in decorators:
            unregister_method(name)
    assert not set(decorators) & set(available_methods())


def _render_nothing(model, layer, channels, **settings):
    """Renders nothing."""


@pytest.mark.parametrize(
    "fields, error",
    [
        (dict(name="-flag"), "Invalid method name '-flag'"),
        (dict(name="../up"), "Invalid method name"),
        (dict(kind="video"), "kind 'video'; valid: image, sheet"),
        (dict(description=""), "one-line description"),
        (dict(description="two\nlines"), "one-line description"),
    ],
)
def test_a_method_record_refuses_what_the_atlas_or_gallery_could_not_use(fields, error):
    with pytest.raises(ValueError, match=error):
        Method(**{"name": "ok", "kind": "image", "render": _render_nothing, "description": "Fine.", **fields})


def test_every_built_in_method_is_one_record_with_a_kind_a_description_and_an_order():
    records = registered_methods()
    assert [record.name for record in records] == [
        "lucid",
        "neuron",
        "stylegan2",
        "negative",
        "examples",
        "negative_examples",
        "diversity",
    ]
    kinds = {record.name: record.kind for record in records}
    assert {name for name, kind in kinds.items() if kind == "sheet"} == {
        "examples",
        "negative_examples",
        "diversity",
    }
    for record in records:
        assert record.description.strip() and "\n" not in record.description
        assert get_method(record.name) is record.render
    assert method_record("examples").per_model and not method_record("lucid").per_model
    checked = {record.name for record in records if record.check is not None}
    assert checked == {"stylegan2", "examples", "negative_examples"}  # what their config tables must hold
    with pytest.raises(ValueError, match="valid: diversity, examples, lucid"):
        method_record("deepdream")
