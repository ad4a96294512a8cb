"""A new method is one function and one registration: checked, planned, rendered, recorded and described."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from tests.conftest import ROOT
from tests.helpers.fake_runs import write_tiny_experiment
from visualizer.atlas import catalog
from visualizer.atlas.job import render_atlas
from visualizer.atlas.methods import MethodResult, register_method, unregister_method
from visualizer.atlas.plan import make_plan
from visualizer.config import ConfigError, load_config
from vtl_gallery.build import build_site

FLAT = "A flat colour per channel, for tests."
SHEET = "The flat colours as a contact sheet, for tests."


def _flat(model, layer, channels, *, seed, size, steps, shade):
    """One flat colour per channel: red encodes the channel, green the shade."""
    images = np.zeros((len(channels), size, size, 3), dtype="float32")
    images[..., 0] = np.asarray(channels, dtype="float32")[:, None, None] / 100
    images[..., 1] = shade
    return MethodResult(images, np.asarray(channels, dtype="float64"), [])


def _settings(config):
    return {"size": config.render.size, "steps": 0, "shade": 0.25}


@pytest.fixture
def throwaway_methods():
    """Two methods registered the way a new method file registers its function; removed afterwards."""
    register_method(
        "flat_test", settings=_settings, step_flops=lambda config, layer_id: 1.0, order=5, description=FLAT
    )(_flat)
    register_method(
        "flat_sheet",
        settings=_settings,
        step_flops=lambda config, layer_id: 1.0,
        kind="sheet",
        order=1,  # first of all by order, yet a sheet: the grids still show the image method
        description=SHEET,
    )(_flat)
    yield
    unregister_method("flat_test")
    unregister_method("flat_sheet")


def test_the_config_checks_planned_methods_against_the_registry(tmp_path, throwaway_methods):
    path = write_tiny_experiment(tmp_path, channels=1, extra='methods = ["flat_test", "flat_gone"]\n')
    with pytest.raises(
        ConfigError, match=r"render\.plan\[0\]\.methods: unknown methods \['flat_gone'\]"
    ) as error:
        load_config(path)
    assert "flat_sheet" in str(error.value) and "flat_test" in str(error.value)
    path.write_text(path.read_text().replace(', "flat_gone"', ""))
    assert load_config(path).render.plan[0].methods == ["flat_test"]


def test_a_registered_method_is_planned_rendered_recorded_and_described(tmp_path, throwaway_methods):
    config_path = write_tiny_experiment(
        tmp_path, size=16, channels=2, extra='methods = ["flat_test", "flat_sheet"]\n'
    )
    config = load_config(config_path)
    plan = make_plan(config)
    # 4 snapshots x 2 layers x 2 methods, one batch each (no steps), each costing its step function's FLOPs.
    assert len(plan.batches) == 16 and plan.image_count == 32 and plan.flops == 16.0
    assert {batch.method for batch in plan.batches} == {"flat_test", "flat_sheet"}

    summary = render_atlas(config, progress=False)
    assert (summary.rendered, summary.failed) == (32, 0)
    atlas = config.resolve_path(config.project.atlas_dir)
    expected = [("flat_sheet", "sheet", SHEET, 1), ("flat_test", "image", FLAT, 5)]
    with sqlite3.connect(atlas / catalog.CATALOG_NAME) as db:
        assert db.execute("SELECT * FROM methods ORDER BY name").fetchall() == expected
    catalog.rebuild(atlas)  # the images alone give the same table
    with sqlite3.connect(atlas / catalog.CATALOG_NAME) as db:
        assert db.execute("SELECT * FROM methods ORDER BY name").fetchall() == expected

    dist = tmp_path / "dist"
    build_site(atlas, dist, site_src=ROOT / "vtl_gallery" / "site_src", workers=1, log=lambda _: None)
    page = (dist / "layer" / "Mixed_3b_Branch_3_b_1x1" / "0" / "index.html").read_text()
    section = page[page.index("<h2>Other methods</h2>") :]
    # The image method is the grids' and is described first; then the sheet, beside it.
    assert section.index(f"<code>flat_test</code>: {FLAT}") < section.index(
        f"<code>flat_sheet</code>: {SHEET}"
    )
    assert "view/celeba/final/flat_sheet/" in section
    grid = (dist / "layer" / "Mixed_3b_Branch_3_b_1x1" / "index.html").read_text()
    assert "/flat_test/" in grid and "/flat_sheet/" not in grid


def test_render_settings_carry_canvas_and_precision_only_when_set():
    import dataclasses

    from visualizer.atlas.methods.registry import render_settings
    from visualizer.config import load_config

    config = load_config(ROOT / "configs" / "demo.toml")
    assert "precision" not in render_settings(config) and "scale_canvas" not in render_settings(config)
    changed = dataclasses.replace(
        config, render=dataclasses.replace(config.render, precision="bf16", scale_canvas="fixed")
    )
    assert render_settings(changed)["precision"] == "bf16"
    assert render_settings(changed)["scale_canvas"] == "fixed"
