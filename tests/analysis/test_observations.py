"""The observation tests' statistics, nulls and decision rules on planted per-channel values."""

from __future__ import annotations

import numpy as np
import pytest

from visualizer.analysis import observations as obs

MIDDLE = ["Mixed_4c_Branch_2_a_1x1", "Mixed_4d_Branch_0_a_1x1"]


def test_stages_follow_the_resolution_of_the_network():
    assert obs.stage("Conv2d_2b_1x1") == "lower" and obs.stage("Mixed_3c_Branch_1_b_3x3") == "lower"
    assert obs.stage("Mixed_4f_Branch_2_b_3x3") == "middle" and obs.stage("Mixed_5b_Branch_3_b_1x1") == "top"


def _responses(rng, count, reused):
    """An after model's responses to before images: with `reused`, each channel answers its own old image."""
    matrix = rng.uniform(0.0, 0.3, (count, count))
    if reused:
        matrix[np.arange(count), np.arange(count)] = rng.uniform(0.8, 1.2, count)
    return matrix, np.ones(count)


@pytest.mark.parametrize("reused", [True, False])
def test_middle_reuse_holds_only_when_channels_answer_their_own_old_image(reused):
    rng = np.random.default_rng(0)
    responses, own, channels = {}, {}, {}
    for layer in MIDDLE:
        responses[layer], own[layer] = _responses(rng, 8, reused)
        channels[layer] = list(range(8))
    responses["Conv2d_2b_1x1"], own["Conv2d_2b_1x1"] = _responses(rng, 8, not reused)  # not a middle layer
    channels["Conv2d_2b_1x1"] = list(range(8))
    entry = obs.middle_reuse(responses, own, channels)
    assert entry.n == 16 and entry.holds is reused
    assert (entry.value > 0.7) is reused and entry.null < 0.3
    assert all(ref.layer in MIDDLE for ref in entry.best + entry.worst)


def test_stable_scale_needs_each_channel_to_keep_its_own_period():
    rng = np.random.default_rng(0)
    periods = 2.0 ** rng.uniform(2, 6, 24)
    layers, channels = ["Conv2d_2b_1x1"] * 24, list(range(24))
    kept = obs.stable_scale(periods, periods * 2 ** rng.uniform(-0.5, 0.5, 24), layers, channels)
    assert kept.holds is True and kept.value == 1.0 and kept.null < 0.6
    shuffled = obs.stable_scale(periods, rng.permutation(periods), layers, channels)
    assert shuffled.holds is False


def test_colour_test_holds_for_colour_only_change_in_lower_layers():
    layers = ["Conv2d_2b_1x1"] * 8 + ["Mixed_5b_Branch_3_b_1x1"] * 8
    channels = list(range(16))
    colour = np.r_[np.full(8, 1.0), np.full(8, 0.1)]
    structure = np.r_[np.linspace(0.1, 0.3, 8), np.full(8, 1.0)]  # the top layers do not count
    entry = obs.low_layers_colour(colour, structure, layers, channels)
    assert entry.holds is True and entry.n == 8
    everything = obs.low_layers_colour(np.full(16, 1.2), np.full(16, 0.9), layers, channels)
    assert everything.holds is False and "not below 0.5" in everything.reason  # structure changed too


def test_image_scale_and_redundancy_tests_read_the_sign_of_paired_differences():
    layers = ["Mixed_5c_Branch_0_a_1x1"] * 10
    rng = np.random.default_rng(1)
    before = rng.uniform(0.1, 0.3, 10)
    assert obs.image_scale_structure(before, before + 0.2, layers, list(range(10))).holds is True
    assert obs.image_scale_structure(before, before - 0.2, layers, list(range(10))).holds is False
    small, large = rng.uniform(0.6, 0.9, 40), rng.uniform(0.6, 0.9, 40)
    assert obs.small_data_redundancy(small + 0.1, small, MIDDLE * 20, list(range(40))).holds is True
    assert obs.small_data_redundancy(small, large, MIDDLE * 20, list(range(40))).holds is False


def test_fewer_than_five_channels_give_no_verdict_and_say_why():
    layers = ["Mixed_5b_Branch_3_b_1x1"] * 4
    entry = obs.image_scale_structure(np.zeros(4), np.ones(4), layers, [0, 1, 2, 3])
    assert entry.holds is None and entry.value is None and "at least 5" in entry.reason and entry.n == 4
    early = obs.early_adaptation(np.zeros((3, 2, 2)), [0, 10], ["Conv2d_2b_1x1"] * 3, [0, 1, 2])
    assert early.holds is None and "3 rendered snapshots" in early.reason


def test_an_entry_is_json_ready():
    entry = obs.image_scale_structure(
        np.zeros(6), np.full(6, np.nan), ["Mixed_5b_Branch_3_b_1x1"] * 6, range(6)
    )
    data = entry.as_dict()
    assert data["holds"] is None and data["value"] is None
    assert set(data) >= {"id", "statement", "metric", "value", "ci", "null", "p", "holds", "reason", "n"}
