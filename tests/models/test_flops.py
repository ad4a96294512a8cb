"""FLOP counts of truncated networks."""

import pytest

from visualizer.models import inception_v1
from visualizer.models.flops import forward_flops, render_step_flops


@pytest.mark.parametrize(
    "layer",
    [
        "Conv2d_1a_7x7",
        "Conv2d_2c_3x3",
        "Mixed_4c_Branch_2_b_3x3",
        "Mixed_4c_Branch_3_b_1x1",
        "Mixed_5b_Branch_2_b_3x3",
        "Mixed_5c",
    ],
)
def test_catalogue_fast_path_matches_a_graph_walk(layer):
    """The ancestor rule from the catalogue counts what the truncated Keras graph contains."""
    model = inception_v1.build(width=0.25, input_size=96, head="single_dense", num_classes=2)
    assert render_step_flops(layer, 96, 0.25) == 2 * forward_flops(model, layer)


def test_full_network_costs_about_one_and_a_half_gmac():
    """GoogLeNet's published budget: about 1.5 G multiply-adds at 224 px (3.0 GFLOP)."""
    assert render_step_flops("Mixed_5c", 224) / 2 == pytest.approx(3.0e9, rel=0.05)
    assert render_step_flops("Mixed_4c_Branch_3_b_1x1", 224) < render_step_flops("Mixed_4c", 224)
