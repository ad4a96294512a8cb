"""Dataset examples: receptive fields, top activations on a planted network, contact sheets."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visualizer.analysis.examples import contact_sheet, dataset_examples, top_activations
from visualizer.models.graph import grid_geometry, receptive_field
from visualizer.models.layers import UnknownLayerError


def _fixed_conv(name: str, kernel: np.ndarray) -> keras.layers.Conv2D:
    layer = keras.layers.Conv2D(kernel.shape[-1], kernel.shape[:2], padding="same", use_bias=False, name=name)
    layer.build((None, None, None, kernel.shape[2]))
    layer.set_weights([kernel.astype("float32")])
    return layer


def colour_detector(size: int | None = 32) -> keras.Model:
    """Layer ``colours`` (stride 4): channel 0 is red minus the rest, 1 blue minus the rest.

    `size` None takes images of any size, as the atlas's InceptionV1 snapshots do.
    """
    inputs = keras.Input((size, size, 3))
    kernel = np.zeros((1, 1, 3, 2))
    kernel[0, 0, :, 0] = [1.0, -0.5, -0.5]
    kernel[0, 0, :, 1] = [-0.5, -0.5, 1.0]
    x = _fixed_conv("colours_conv", kernel)(inputs)
    x = keras.layers.AveragePooling2D(4, name="colours")(x)
    return keras.Model(inputs, x)


def test_receptive_field_follows_the_widest_branch():
    inputs = keras.Input((64, 64, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="a")(inputs)  # 3, stride 1
    x = keras.layers.MaxPooling2D(2, name="pool")(x)  # 3 + 1 = 4, stride 2
    narrow = keras.layers.Conv2D(4, 1, name="narrow")(x)  # 4
    wide = keras.layers.Conv2D(4, 5, padding="same", dilation_rate=2, name="wide")(x)  # 4 + 4 * 2 * 2 = 20
    x = keras.layers.Concatenate(name="joined")([narrow, wide])
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="last")(x)  # 20 + 2 * 2 = 24, stride 4
    model = keras.Model(inputs, x)
    assert receptive_field(model, "pool") == (4, 2)
    assert receptive_field(model, "narrow") == (4, 2)
    assert receptive_field(model, "joined") == (20, 2)
    assert receptive_field(model, "last") == (24, 4)


def test_inception_receptive_fields_match_the_architecture():
    from visualizer.models import inception_v1

    model = inception_v1.build(width=0.125, input_size=64, head="single_dense", num_classes=2)
    # Conv2d_1a 7/2, pool 3/2, Conv2d_2c 3/1, pool 3/2, then +2 strides per 3x3 in each block.
    assert receptive_field(model, "Conv2d_1a_7x7") == (7, 2)
    assert receptive_field(model, "Conv2d_2c_3x3") == (19, 4)
    assert receptive_field(model, "Mixed_3b_Branch_0_a_1x1") == (27, 8)
    assert receptive_field(model, "Mixed_3b_Branch_3_b_1x1") == (43, 8)
    assert receptive_field(model, "Mixed_5c_Branch_3_b_1x1") == (379, 32)


def _output(model: keras.Model, layer: str):
    """`layer`'s output in `model`'s graph (a nested model's own output tensor is not)."""
    return model.outputs[0] if model.get_layer(layer) is model.layers[-1] else model.get_layer(layer).output


def _support(model: keras.Model, layer: str, size: int, row: int, column: int) -> tuple[int, int, int, int]:
    """Rows and columns (first, last) of the input pixels that unit (row, column) of `layer` sees."""
    import tensorflow as tf

    probe = keras.Model(model.input, _output(model, layer))
    images = tf.ones((1, size, size, 3))
    with tf.GradientTape() as tape:
        tape.watch(images)
        value = tf.reduce_sum(probe(images)[0, row, column])
    seen = np.abs(tape.gradient(value, images).numpy()[0]).sum(axis=-1) > 0
    rows, columns = np.flatnonzero(seen.any(axis=1)), np.flatnonzero(seen.any(axis=0))
    return rows[0], rows[-1], columns[0], columns[-1]


@pytest.mark.parametrize("size", [64, 67])
def test_unit_positions_follow_same_padding(size):
    """Each unit's field sits where the gradient says, with TensorFlow's odd padding pixel after."""
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(2, 7, strides=2, padding="same", name="stem")(inputs)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same", name="pool")(x)
    x = keras.layers.ZeroPadding2D(((1, 0), (1, 0)), name="pad")(x)
    x = keras.layers.Conv2D(2, 3, padding="valid", name="valid")(x)
    even = keras.layers.Conv2D(2, 4, padding="same", name="even")(x)  # sees units -1..+2
    dilated = keras.layers.Conv2D(2, 3, padding="same", dilation_rate=2, name="dilated")(x)  # -2..+2
    shifted = keras.layers.ZeroPadding2D(((2, 0), (2, 0)), name="shift")(x)
    shifted = keras.layers.Conv2D(2, 3, name="shifted")(shifted)  # -2..0: the union is -2..+2, not "even"
    joined = keras.layers.Concatenate(name="joined")([even, shifted])
    x = keras.layers.Concatenate(name="all")([joined, dilated])
    inner_input = keras.Input((None, None, 6))
    inner = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(inner_input)
    x = keras.Model(inner_input, inner, name="nested")(x)
    model = keras.Model(inputs, x)
    for layer in ("stem", "pool", "valid", "even", "dilated", "shifted", "joined", "nested"):
        geometry = grid_geometry(model, layer, size)
        probe = keras.Model(model.input, _output(model, layer))
        assert geometry.cells == probe(np.zeros((1, size, size, 3), "float32")).shape[1]
        half = (geometry.field - 1) / 2
        inside = [
            unit
            for unit in range(geometry.cells)
            if geometry.offset + unit * geometry.stride - half >= 0
            and geometry.offset + unit * geometry.stride + half <= size - 1
        ]
        assert inside, layer
        for unit in inside[:: max(1, len(inside) // 3)]:
            first, last, left, right = _support(model, layer, size, unit, unit)
            assert geometry.offset + unit * geometry.stride == (first + last) / 2 == (left + right) / 2, layer
            assert last - first + 1 == geometry.field, layer
    assert grid_geometry(model, "nested").offset is None
    assert receptive_field(model, "nested") == (grid_geometry(model, "nested").field, 8)


def test_geometry_refuses_rectangular_windows():
    inputs = keras.Input((16, 16, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, (3, 1), name="tall")(inputs))
    with pytest.raises(ValueError, match="'tall' \\(Conv2D\\) treats rows and columns differently"):
        grid_geometry(model, "tall", 16)


def test_geometry_refuses_layers_that_resample():
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.UpSampling2D(name="up")(inputs)
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="after")(x))
    with pytest.raises(ValueError, match="UpSampling2D layer 'up' are not supported"):
        grid_geometry(model, "after", 16)


def _planted_images(count: int = 20, size: int = 32, seed: int = 0):
    """Grey noise; images 3, 11 and 17 carry a red square, image 5 a blue one, at known places."""
    rng = np.random.default_rng(seed)
    images = 0.45 + 0.1 * rng.random((count, size, size, 3))
    red = {3: (4, 20), 11: (24, 8), 17: (16, 16)}
    for index, (row, column) in red.items():
        images[index, row : row + 4, column : column + 4] = [1.0, 0.0, 0.0]
    images[5, 0:4, 0:4] = [0.0, 0.0, 1.0]
    images[11, 24:28, 8:12] = [0.9, 0.0, 0.0]  # a little weaker than the others
    return images.astype("float32"), red


def test_top_activations_find_the_planted_squares():
    images, red = _planted_images()
    activations, indices, positions = top_activations(colour_detector(), "colours", [0, 1], images, top=3)
    assert sorted(indices[0]) == sorted(red) and indices[0][-1] == 11  # the weaker square comes last
    assert np.all(np.diff(activations[0]) <= 0)
    for image, (row, column) in zip(indices[0], positions[0]):
        assert (row, column) == (red[image][0] // 4, red[image][1] // 4)
    assert indices[1][0] == 5 and tuple(positions[1][0]) == (0, 0)
    in_threes = top_activations(colour_detector(), "colours", [0, 1], images, top=3, batch_size=3)
    for found, again in zip((activations, indices, positions), in_threes):
        np.testing.assert_array_equal(found, again)


def test_contact_sheets_show_the_examples_best_first():
    images, red = _planted_images()
    found = dataset_examples(colour_detector(), "colours", [0], images, top=4, crop=8)
    assert found.sheets.shape == (1, 2 * 8 + 2, 2 * 8 + 2, 3) and found.crop == 8  # 2 x 2 crops
    sheet = found.sheets[0]
    for slot in range(3):  # the three red images: each crop holds its square
        row, column = divmod(slot, 2)
        crop = sheet[row * 10 : row * 10 + 8, column * 10 : column * 10 + 8]
        assert (crop[..., 0] > 0.85).sum() >= 16 and crop[..., 2].min() < 0.05
    assert np.all(sheet[8:10] == 1.0)  # the white gap between rows
    for model in (colour_detector(), colour_detector(size=None)):
        default = dataset_examples(model, "colours", [0], images, top=1)
        assert default.crop == 4  # the receptive field: a 1x1 conv, then a 4x4 pooling
        assert default.sheets[0][..., 0].min() > 0.95  # the window is the pooled cell: the square exactly


def test_contact_sheet_needs_a_square_count():
    crop = np.zeros((4, 4, 3), "float32")
    assert contact_sheet([crop]).shape == (4, 4, 3)
    with pytest.raises(ValueError, match="square number of crops .* received 3"):
        contact_sheet([crop] * 3)


def test_bad_arguments_name_the_valid_values():
    images, _ = _planted_images()
    model = colour_detector()
    with pytest.raises(ValueError, match="perfect square .* received 5"):
        dataset_examples(model, "colours", [0], images, top=5)
    with pytest.raises(ValueError, match="valid channels are 0..1"):
        dataset_examples(model, "colours", [0, 2], images)
    with pytest.raises(ValueError, match="top=9 examples need at least 9 images; received 4"):
        dataset_examples(model, "colours", [0], images[:4])
    with pytest.raises(ValueError, match="between 1 and the image side 32; received 40"):
        dataset_examples(model, "colours", [0], images, crop=40)
    with pytest.raises(ValueError, match="must be square, .* received shape \\(20, 32, 16, 3\\)"):
        dataset_examples(colour_detector(size=None), "colours", [0], images[:, :, :16])
    with pytest.raises(UnknownLayerError, match="colours"):
        dataset_examples(model, "colour", [0], images)


def test_a_channel_no_image_activates_gets_a_grey_sheet():
    """A ReLU channel that is 0 on every image has no best examples: grey sheet, listed as inactive."""
    images, _ = _planted_images()
    inputs = keras.Input((32, 32, 3))
    colours = colour_detector()(inputs)
    dead = _fixed_conv("keep_red", np.diag([1.0, 0.0]).reshape(1, 1, 2, 2))(colours)  # channel 1: always 0
    model = keras.Model(inputs, keras.layers.ReLU(name="fires")(dead))
    found = dataset_examples(model, "fires", [0, 1], images, top=4, crop=8)
    assert found.inactive == [1]
    assert np.all(found.sheets[1] == 0.5) and found.activations[1, 0] == 0
    assert found.sheets[0].max() == 1.0 and found.sheets[0].min() < 0.05


def test_negative_examples_are_the_images_a_channel_responds_to_least():
    """Red-minus-the-rest is lowest on the blue square: the first negative example, cut around it."""
    images, _ = _planted_images()
    found = dataset_examples(colour_detector(), "colours", [0], images, top=4, crop=4, negative=True)
    assert found.indices[0][0] == 5 and tuple(found.positions[0][0]) == (0, 0)
    assert found.activations[0][0] < -0.4 and np.all(np.diff(found.activations[0]) >= 0)
    assert found.sheets[0][:4, :4, 2].min() == 1.0 and found.sheets[0][:4, :4, 0].max() == 0.0
    positive = top_activations(colour_detector(), "colours", [0], images, top=4)
    assert 5 not in positive[1][0] and positive[0][0][0] > 0.4
