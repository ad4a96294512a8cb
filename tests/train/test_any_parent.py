"""Transfers of a parent that is not InceptionV1: the cut, the head, freezing, bad base layers, resume."""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers.own_network import tiny_keras_model, write_own_config
from visualizer.config import load_config
from visualizer.errors import is_expected
from visualizer.models.layers import UnknownLayerError
from visualizer.models.own import NoChannelAxisError, prepare_image_model
from visualizer.train.any_parent import freeze_layers, transfer_network
from visualizer.train.snapshots import list_snapshots, load_snapshot


@pytest.fixture(scope="module")
def parent():
    return prepare_image_model(tiny_keras_model(), (-1.0, 1.0))


def test_the_parent_is_cut_at_its_last_feature_map_and_left_untouched(parent):
    before = [weight.copy() for weight in parent.get_weights()]
    model = transfer_network(parent, 7, "dense", multi_label=False)
    names = [layer.name for layer in model.layers]
    assert names[-3:] == ["global_pool", "dense_hidden", "predictions"] and "logits" not in names
    assert "pool" not in names and names[names.index("global_pool") - 1] == "pw_relu"
    assert model.output.shape[-1] == 7
    images = np.random.default_rng(0).random((2, 40, 40, 3), dtype="float32")  # any size
    cut = parent.get_layer("pw_relu").output
    import keras

    np.testing.assert_allclose(
        keras.Model(model.inputs, model.get_layer("pw_relu").output)(images),
        keras.Model(parent.inputs, cut)(images),
        atol=1e-6,
    )
    model.get_layer("c1").kernel.assign(np.zeros(model.get_layer("c1").kernel.shape, "float32"))
    assert all(np.array_equal(a, b) for a, b in zip(before, parent.get_weights()))


def test_base_layer_cuts_earlier_and_single_dense_is_one_layer(parent):
    model = transfer_network(parent, 3, "single_dense", True, base_layer="dw")  # an alias of dw_relu
    names = [layer.name for layer in model.layers]
    assert names[-2:] == ["global_pool", "predictions"] and "pw" not in names
    assert model.get_layer("predictions").activation.__name__ == "sigmoid"


def test_a_base_layer_that_does_not_exist_names_close_matches(parent):
    with pytest.raises(UnknownLayerError) as caught:
        transfer_network(parent, 3, "dense", False, base_layer="pw_rleu", source="model 'base'")
    assert "pw_relu" in str(caught.value) and "model 'base'" in str(caught.value)
    assert is_expected(caught.value)


def test_a_base_layer_without_a_channel_axis_is_refused(parent):
    with pytest.raises(NoChannelAxisError) as caught:
        transfer_network(parent, 3, "dense", False, base_layer="pool")
    assert "'pool'" in str(caught.value) and "'pw_relu'" in str(caught.value) and is_expected(caught.value)


def test_freeze_keeps_layers_fixed_and_names_unknown_ones(parent):
    model = transfer_network(parent, 3, "dense", False)
    freeze_layers(model, ["c1", "c1_bn"])
    assert not model.get_layer("c1").trainable and model.get_layer("pw").trainable
    with pytest.raises(UnknownLayerError, match="close matches: c1_bn"):
        freeze_layers(model, ["c1_nb"], "model 'child'")


def _weights(runs, name, snapshot):
    return load_snapshot(runs, name, snapshot)[0].get_weights()


def test_an_interrupted_transfer_resumes_to_the_same_snapshots(tmp_path):
    """Killed after step 3 and resumed, the run's snapshots equal an uninterrupted run's."""
    from visualizer.train.trainer import train_all

    class Stop(Exception):
        pass

    def stop_after_three(model, done):
        if model == "child" and done == 3:
            raise Stop

    extra = 'freeze = ["c1"]\nresume_every = 1'
    runs = {}
    for label, interrupt in (("whole", False), ("resumed", True)):
        config = load_config(write_own_config(tmp_path / label, extra_child=extra))
        if interrupt:
            with pytest.raises(Stop):
                train_all(config, progress=False, on_step=stop_after_three)
            assert [m["snapshot"] for m in list_snapshots(config.resolve_path("runs"), "child")] == [
                "iter_000000",
                "iter_000002",
            ]
        results = train_all(config, progress=False)
        assert [r.status for r in results][-1] == ("resumed" if interrupt else "trained")
        runs[label] = config.resolve_path("runs")
    for snapshot in ("iter_000000", "iter_000002", "final"):
        for a, b in zip(
            _weights(runs["whole"], "child", snapshot), _weights(runs["resumed"], "child", snapshot)
        ):
            np.testing.assert_array_equal(a, b)
    base = _weights(runs["whole"], "base", "final")
    final = load_snapshot(runs["whole"], "child", "final")[0]
    np.testing.assert_array_equal(final.get_layer("c1").get_weights()[0], base[0])  # frozen: the parent's
    assert not np.array_equal(
        final.get_layer("pw").get_weights()[0],
        load_snapshot(runs["whole"], "base", "final")[0].get_layer("pw").get_weights()[0],
    )


def test_a_changed_keras_file_is_imported_again(tmp_path):
    from visualizer.train.trainer import train_all

    config = load_config(write_own_config(tmp_path))
    assert [r.status for r in train_all(config, ["base"], progress=False)] == ["loaded"]
    assert [r.status for r in train_all(config, ["base"], progress=False)] == ["finished before"]
    changed = tiny_keras_model()
    changed.get_layer("c1").kernel.assign(np.ones(changed.get_layer("c1").kernel.shape, "float32"))
    changed.save(tmp_path / "configs" / "tiny.keras")
    assert [r.status for r in train_all(config, ["base"], progress=False)] == ["loaded"]
    kernel = load_snapshot(config.resolve_path("runs"), "base", "final")[0].get_layer("c1").get_weights()[0]
    assert np.all(kernel == 1.0)
