"""FLOP counts of any Keras model from its layers' shapes, against hand counts and published budgets."""

from __future__ import annotations

import keras
import pytest
from keras import layers as kl

from visualizer.models.flops import (
    forward_flops,
    layer_forward_flops,
    model_forward_flops,
    model_render_step_flops,
)


def _tiny() -> keras.Model:
    """Every counted layer type once, on 16 px images; the hand counts are in the test."""
    inputs = keras.Input((None, None, 3))
    x = kl.Conv2D(4, 3, strides=2, padding="same", name="conv")(inputs)  # 8x8x4
    x = kl.BatchNormalization(name="bn")(x)
    x = kl.DepthwiseConv2D(3, padding="same", depth_multiplier=2, name="dw")(x)  # 8x8x8
    x = kl.ReLU(name="relu")(x)
    x = kl.SeparableConv2D(6, 3, padding="valid", name="sep")(x)  # 6x6x6
    x = kl.Conv2D(6, 1, groups=3, name="grouped")(x)  # 6x6x6
    x = kl.Conv2DTranspose(5, 3, strides=2, padding="same", name="up")(x)  # 12x12x5
    pointwise = kl.Dense(7, name="pointwise")(x)  # per position: 12x12x7
    pooled = kl.GlobalAveragePooling2D(name="pool")(pointwise)
    return keras.Model(inputs, kl.Dense(10, name="logits")(pooled))


HAND = {  # multiply-adds of each layer at 16 px
    "conv": 8 * 8 * (3 * 3 * 3) * 4,
    "dw": 8 * 8 * (3 * 3) * 4 * 2,
    "sep": 6 * 6 * (3 * 3 * 8 + 8 * 6),
    "grouped": 6 * 6 * (6 // 3) * 6,
    "up": 6 * 6 * (3 * 3 * 6) * 5,  # each input position scatters the kernel
    "pointwise": 12 * 12 * 5 * 7,
    "logits": 7 * 10,
}


def test_a_tiny_model_is_counted_by_hand():
    model = _tiny()
    assert model_forward_flops(model, size=16) == 2 * sum(HAND.values())
    running = 0
    for name in HAND:
        running += HAND[name]
        assert model_forward_flops(model, name, size=16) == 2 * running, name
    assert model_render_step_flops(model, "sep", size=16) == 4 * (HAND["conv"] + HAND["dw"] + HAND["sep"])


def test_only_the_branch_a_layer_depends_on_counts():
    inputs = keras.Input((None, None, 3))
    left = kl.Conv2D(8, 3, padding="same", name="left")(inputs)
    right = kl.Conv2D(16, 5, padding="same", name="right")(inputs)
    model = keras.Model(inputs, kl.Concatenate(name="join")([left, right]))
    assert model_forward_flops(model, "left", size=10) == 2 * 100 * 27 * 8
    assert model_forward_flops(model, "join", size=10) == 2 * 100 * (27 * 8 + 75 * 16)


def test_nested_sequential_and_functional_models_are_counted():
    inner_in = keras.Input((None, None, 4))
    inner = keras.Model(inner_in, kl.Conv2D(2, 1, name="inner_conv")(inner_in), name="inner")
    stem = keras.Sequential([kl.Conv2D(4, 2, strides=2, name="stem_conv")], name="stem")
    inputs = keras.Input((None, None, 3))
    model = keras.Model(inputs, inner(stem(inputs)))
    assert model_forward_flops(model, size=8) == 2 * (16 * 12 * 4 + 16 * 4 * 2)


def test_the_count_agrees_with_the_inception_counter():
    from visualizer.models import inception_v1

    model = inception_v1.build(width=0.25, input_size=96, head="single_dense", num_classes=2)
    for layer in ("Conv2d_2c_3x3", "Mixed_4c_Branch_2_b_3x3", "Mixed_5c"):
        assert model_forward_flops(model, layer) == forward_flops(model, layer)


def test_mobilenet_v2_costs_its_published_300_million_multiply_adds():
    """MobileNetV2 (alpha 1.0, 224 px): 300 M multiply-adds in its paper's table."""
    model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
    assert model_forward_flops(model) / 2 == pytest.approx(300e6, rel=0.03)
    assert model_forward_flops(model, "block_8_project_BN") < model_forward_flops(model)


def test_a_model_of_any_size_needs_a_size():
    with pytest.raises(ValueError, match="size="):
        model_forward_flops(_tiny())


def test_other_layers_count_nothing():
    pool = kl.MaxPooling2D()
    assert layer_forward_flops(pool, (1, 8, 8, 3)) == 0
