"""The fused copy on a network we did not write: EfficientNet-Lite0 (random weights, random batch norms).

Fused renders must give the objective of the model's own layers to 1e-5, on
a depthwise layer (its batch norm is not folded; the copy computes the whole
layer) and on a projection batch norm (folded into its 1x1 convolution, which
then computes only each image's own channel).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from visualizer.models import efficientnet_lite
from visualizer.models.catalogue import discover_layers
from visualizer.models.graph import truncate
from visualizer.render.fused import FusedConv2D, Passthrough
from visualizer.render.render import ChannelRenderer

SIZE, STEPS = 32, 8


@pytest.fixture(scope="module")
def lite0() -> keras.Model:
    """EfficientNet-Lite0 without its classifier; random weights and batch-norm statistics (seed 0)."""
    keras.utils.set_random_seed(0)
    model = efficientnet_lite.build(weights=None, include_top=False)
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 1.5, channels).astype("float32"))
            layer.beta.assign(rng.normal(0.0, 0.2, channels).astype("float32"))
            layer.moving_mean.assign(rng.normal(0.0, 0.2, channels).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, channels).astype("float32"))
    return model


def _own_objectives(model: keras.Model, layer: str, images: np.ndarray, channels: list[int]) -> np.ndarray:
    """Each image's channel mean through the model's own layers."""
    acts = keras.ops.convert_to_numpy(truncate(model, layer)(images, training=False))
    return np.array([acts[i, ..., c].mean() for i, c in enumerate(channels)])


def _assert_close(actual, expected) -> None:
    expected = np.asarray(expected, dtype="float64")
    scale = np.abs(expected).max()
    assert np.isfinite(expected).all() and scale > 1e-6  # large enough for a relative comparison
    np.testing.assert_allclose(np.asarray(actual, "float64"), expected, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize(
    ("kind", "selects"),
    [("depthwise", False), ("project", True)],
)
def test_fused_renders_give_the_unfused_objective(lite0, kind, selects):
    rows = discover_layers(lite0)
    if kind == "depthwise":
        row = next(r for r in rows if r.conv == "block4a_dwconv")
        assert row.kind == "depthwise" and row.id == "block4a_activation"
    else:
        row = next(r for r in rows if r.conv == "block4c_project_conv")
        assert row.id == "block4c_project_bn"
    channels = [0, 7, row.channels - 1]

    fused = ChannelRenderer.from_keywords(lite0, row.id, size=SIZE, fuse=True)
    assert fused.selects_channels is selects
    rewritten = [layer for layer in fused.net.layers if isinstance(layer, FusedConv2D)]
    assert rewritten and any(layer.norm is not None for layer in rewritten)  # batch norms folded
    if selects:  # the target's own batch norm is folded into its convolution
        assert isinstance(fused.net.get_layer("block4c_project_bn"), Passthrough)
    rendering = fused.render(channels, steps=STEPS, seed=3, progress=False)
    assert rendering.settings["fuse"] is True and not rendering.failed
    _assert_close(rendering.objectives, _own_objectives(lite0, row.id, rendering.images, channels))

    # And the other way round: the model's own layers' render, scored by the fused copy.
    own = ChannelRenderer.from_keywords(lite0, row.id, size=SIZE, fuse=False)
    unfused = own.render(channels, steps=STEPS, seed=3, progress=False)
    assert unfused.settings["fuse"] is False
    score = ChannelRenderer.from_keywords(lite0, row.id, size=SIZE, fuse=True, select_channels=False).net
    acts = keras.ops.convert_to_numpy(score(unfused.images, training=False))
    _assert_close([acts[i, ..., c].mean() for i, c in enumerate(channels)], unfused.objectives)
