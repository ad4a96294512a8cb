"""Spatial-scale stability through transfer, measured from an atlas catalog."""

import numpy as np
import pytest

from visualizer import cli
from visualizer.analysis.spatial import image_metrics
from visualizer.analysis.transfer import _ranks, depth_trend, scale_stability
from visualizer.atlas.catalog import Catalog, ImageRecord
from visualizer.atlas.keys import ImageKey
from visualizer.pngio import to_uint8, write_png_atomic

SIZE = 64


def _grating(period: float, angle: float) -> np.ndarray:
    y, x = np.mgrid[:SIZE, :SIZE]
    wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period)
    return 0.5 + 0.4 * wave[..., None] * np.ones(3)


def _atlas(tmp_path, periods_before, periods_after):
    """Two models, two layers; channel c of a layer is a grating of the given period."""
    records = []
    for model, periods in (("imagenet", periods_before), ("celeba", periods_after)):
        for layer, layer_periods in periods.items():
            for channel, period in enumerate(layer_periods):
                key = ImageKey(model, "final", "lucid", layer, channel)
                pixels = to_uint8(_grating(period, 0.3 * channel))
                record = ImageRecord(key, 1.0, {"size": SIZE}, {"channels": len(layer_periods)})
                record.metrics = image_metrics(pixels)
                record.bytes = write_png_atomic(tmp_path / key.relpath, pixels, record.png_text())
                records.append(record)
    with Catalog(tmp_path) as catalog:
        catalog.add_images(records)
    return tmp_path


def test_stable_scales_are_measured_as_stable(tmp_path):
    before = {"Conv2d_2b_1x1": [4, 6, 8, 12], "Mixed_4c_Branch_2_b_3x3": [8, 16, 21, 32]}
    atlas = _atlas(tmp_path, before, before)
    scales = scale_stability(atlas, "imagenet", "celeba")
    assert [s.layer for s in scales] == ["Conv2d_2b_1x1", "Mixed_4c_Branch_2_b_3x3"]
    for scale in scales:
        assert scale.channels == 4 and scale.within_2x == 1.0
        assert scale.correlation == pytest.approx(1.0, abs=0.02)
    assert scales[0].median_before == pytest.approx(7, rel=0.15)


def test_changed_scales_are_measured_as_changed(tmp_path):
    before = {"Conv2d_2b_1x1": [4, 6, 8, 12]}
    after = {"Conv2d_2b_1x1": [16, 24, 32, 48]}  # every period four times larger
    (scale,) = scale_stability(_atlas(tmp_path, before, after), "imagenet", "celeba")
    assert scale.within_2x == 0.0
    assert scale.median_after / scale.median_before == pytest.approx(4, rel=0.2)


def test_missing_model_names_the_models(tmp_path):
    atlas = _atlas(tmp_path, {"Conv2d_2b_1x1": [4, 8]}, {"Conv2d_2b_1x1": [4, 8]})
    with pytest.raises(ValueError, match="models in the atlas: celeba, imagenet"):
        scale_stability(atlas, "imagenet", "flowers17")


def test_ties_share_ranks_so_flat_periods_give_no_trend():
    np.testing.assert_array_equal(_ranks([3, 1, 3, 2]), [2.5, 0, 2.5, 1])
    from visualizer.analysis.transfer import LayerScale

    flat = [LayerScale(f"l{i}", i, 4, 64.0, 64.0, None, 1.0) for i in range(5)]
    assert depth_trend(flat) is None  # no spread in periods: no correlation to report
    rising = [LayerScale(f"l{i}", i, 4, 4.0 * 2**i, 0.0, None, 1.0) for i in range(5)]
    assert depth_trend(rising) == pytest.approx(1.0)


def test_cli_reports_a_table(tmp_path, capsys):
    atlas = _atlas(tmp_path, {"Conv2d_2b_1x1": [4, 8, 16]}, {"Conv2d_2b_1x1": [4, 8, 16]})
    assert cli.main(["analyse", "--atlas", str(atlas)]) == 0
    out = capsys.readouterr().out
    assert "Conv2d_2b_1x1" in out and "100% keep their period within a factor 2" in out
    assert cli.main(["analyse", "--atlas", str(tmp_path / "none")]) == 2
