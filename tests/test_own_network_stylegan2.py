"""The ``stylegan2`` method on networks other than InceptionV1: a keras model, its transfer and a frozen
graph, from a config through `vtl render` to the catalog, with objectives the models' own layers give."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.helpers.own_network import FROZEN_GRAPH_MODEL, save_tiny_frozen_graph, write_own_config
from tests.prior.conftest import randomized
from visualizer.atlas import catalog
from visualizer.atlas.methods import get_method, method_settings
from visualizer.atlas.sources import render_model
from visualizer.cli import main
from visualizer.config import load_config
from visualizer.prior.weights import load_generator, save_npz

pytestmark = pytest.mark.slow

GRAPH_LAYER = "tiny_to_pw_relu_1_pw_relu_1_Relu"
PLAN = f"""\
[[render.plan]]
models = ["base", "child"]
layers = ["pw"]
channels = "first:2"
snapshots = "all"
methods = ["stylegan2"]

[[render.plan]]
models = ["graph"]
layers = ["{GRAPH_LAYER}"]
channels = "first:2"
methods = ["stylegan2"]

[render.prior]
generator = "tiny.npz"
steps = 4
lam = 0.1
learning_rate = 0.1
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    root = tmp_path_factory.mktemp("own-stylegan2")
    config_path = write_own_config(root, PLAN, extra_models=FROZEN_GRAPH_MODEL)
    save_tiny_frozen_graph(root / "configs" / "tiny.keras", root / "configs" / "tiny.pb")
    save_npz(randomized(seed=2), root / "tiny.npz")
    assert main(["train", "--config", str(config_path), "--quiet"]) == 0
    assert main(["render", "--config", str(config_path)]) == 0
    return root, load_config(config_path)


def _records(config) -> dict[tuple[str, str, int], catalog.ImageRecord]:
    atlas = config.resolve_path(config.project.atlas_dir)
    records = [catalog.record_from_png(atlas, path) for path in catalog.iter_image_files(atlas)]
    return {(r.key.model, r.key.snapshot, r.key.channel): r for r in records if r.key.method == "stylegan2"}


def test_every_model_gets_its_stylegan2_images(rendered):
    _, config = rendered
    records = _records(config)
    assert catalog.check(config.resolve_path(config.project.atlas_dir)).ok
    # base: final; child: snapshots 0, 2 and final; graph: final. Two channels each.
    expected = {("base", "final"), ("child", "iter_000000"), ("child", "iter_000002"), ("child", "final")}
    expected |= {("graph", "final")}
    assert {(model, snapshot) for model, snapshot, _ in records} == expected
    assert len(records) == 2 * len(expected)
    for record in records.values():
        assert record.settings["generator"] == "tiny.npz" and record.settings["size"] == 16
        assert not record.settings["failed"] and np.isfinite(record.objective)
    assert {record.key.layer for record in records.values() if record.key.model != "graph"} == {"pw_relu"}


def _channel_means(net: keras.Model, images: np.ndarray, size: int) -> np.ndarray:
    """Each image's channel means in `net`, after the prior's downscale to the classifier's side."""
    view = keras.ops.image.resize(images, (size, size), interpolation="bilinear", antialias=True)
    return np.asarray(keras.ops.mean(net(view), axis=(1, 2)), dtype="float64")


def _unmodified(root, model: str, snapshot: str) -> tuple[keras.Model, float, float]:
    """The network as its own file holds it, cut at ``pw_relu``, and the range its input expects."""
    if model == "base":  # the user's file: it expects images in [-1, 1]
        original = keras.models.load_model(root / "configs" / "tiny.keras", compile=False)
        lo, hi = -1.0, 1.0
    else:  # the trained snapshot, as `vtl train` saved it
        original = keras.models.load_model(root / "runs" / model / snapshot / "model.keras", compile=False)
        lo, hi = 0.0, 1.0
    return keras.Model(original.inputs, original.get_layer("pw_relu").output), lo, hi


@pytest.mark.parametrize(
    ("model", "snapshot"), [("base", "final"), ("child", "final"), ("child", "iter_000002")]
)
def test_objectives_are_the_models_own_activations_of_the_images(rendered, model, snapshot):
    root, config = rendered
    records = _records(config)
    settings = method_settings("stylegan2", config, model)
    seed = records[(model, snapshot, 0)].settings["seed"]
    network, layer = render_model(
        config, config.resolve_path(config.project.runs_dir), model, snapshot, "pw_relu"
    )
    again = get_method("stylegan2")(network, layer, [0, 1], seed=seed, **settings)
    # The same seed gives the catalog's objectives back.
    np.testing.assert_allclose(
        again.objectives, [records[(model, snapshot, c)].objective for c in (0, 1)], rtol=1e-5
    )
    # The objective is the channel's mean in the unmodified network, on the image downscaled to render.size.
    net, lo, hi = _unmodified(root, model, snapshot)
    means = _channel_means(net, lo + np.asarray(again.images, "float32") * (hi - lo), settings["size"])
    np.testing.assert_allclose(again.objectives, means[[0, 1], [0, 1]], rtol=1e-5)


def test_the_prior_differentiates_through_a_frozen_graph(rendered):
    """The ascent raises a frozen graph's live channels: its gradient reaches w."""
    from visualizer.prior.generative import render_with_prior

    _, config = rendered
    settings = method_settings("stylegan2", config, "graph")
    network, layer = render_model(
        config, config.resolve_path(config.project.runs_dir), "graph", "final", GRAPH_LAYER
    )
    channels = list(range(int(network.output.shape[-1])))
    rendering = render_with_prior(
        network,
        layer,
        channels,
        load_generator(settings["generator"]),
        size=32,
        steps=6,
        lam=0.0,
        learning_rate=0.1,
        seed=0,
        randomize_noise=False,
        progress=False,
    )
    live = rendering.start_objectives > 0  # a channel at zero after its ReLU has no gradient
    assert live.sum() >= 2
    assert np.all(rendering.distances[live] > 0)
    assert np.all(rendering.objectives[live] > rendering.start_objectives[live])
    means = _channel_means(network, np.asarray(rendering.images, "float32"), 32)
    np.testing.assert_allclose(rendering.objectives, means[channels, channels], rtol=1e-5, atol=1e-7)
