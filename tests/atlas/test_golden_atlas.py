"""Refactorings keep images and formats: a small atlas rendered now equals the one kept in tests/fixtures."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import golden

pytestmark = pytest.mark.slow

# The optimization runs a few steps in float32; another CPU's kernels may round a
# last bit differently, which can move a pixel by a level or two, never more.
PIXEL_LEVELS = 2
OBJECTIVE_RTOL = 1e-3
JSON_TEXT = ("vtl:key", "vtl:settings", "vtl:model")


def differences(rendered: dict, kept: dict) -> list[str]:
    """What differs between two golden atlases ({relpath: (pixels, text)}), one line per difference."""
    found = []
    if sorted(rendered) != sorted(kept):
        found.append(f"paths: {sorted(set(rendered) ^ set(kept))}")
    for relpath in sorted(set(rendered) & set(kept)):
        (pixels, text), (expected, expected_text) = rendered[relpath], kept[relpath]
        if pixels.shape != expected.shape:
            found.append(f"{relpath}: shape {pixels.shape} != {expected.shape}")
        elif (levels := np.abs(pixels.astype(int) - expected.astype(int)).max()) > PIXEL_LEVELS:
            found.append(f"{relpath}: pixels differ by up to {levels} levels")
        if sorted(text) != sorted(expected_text):
            found.append(f"{relpath}: text chunks {sorted(text)} != {sorted(expected_text)}")
            continue
        for name in JSON_TEXT:
            if json.loads(text[name]) != json.loads(expected_text[name]):
                found.append(f"{relpath}: {name} {text[name]} != {expected_text[name]}")
        objective, expected_objective = float(text["vtl:objective"]), float(expected_text["vtl:objective"])
        if objective != pytest.approx(expected_objective, rel=OBJECTIVE_RTOL, nan_ok=True):
            found.append(f"{relpath}: objective {objective} != {expected_objective}")
    return found


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    return golden.render_golden(tmp_path_factory.mktemp("golden"))


def test_a_render_now_equals_the_kept_atlas(rendered):
    kept = golden.load()
    assert len(kept) >= 20 and {json.loads(text["vtl:key"])["method"] for _, text in kept.values()} == {
        "lucid",
        "neuron",
        "negative",
        "diversity",
        "examples",
        "negative_examples",
    }
    assert differences(rendered, kept) == []


def test_the_comparison_sees_a_changed_pixel_a_changed_setting_and_a_missing_image():
    kept = golden.load()
    first, second = sorted(kept)[:2]
    pixels, text = kept[first]
    brighter = pixels.copy()
    brighter[0, 0, 0] = (int(pixels[0, 0, 0]) + PIXEL_LEVELS + 1) % 256
    settings = json.loads(kept[second][1]["vtl:settings"])
    settings["steps"] = settings.get("steps", 0) + 1
    changed = {
        **kept,
        first: (brighter, text),
        second: (kept[second][0], {**kept[second][1], "vtl:settings": json.dumps(settings)}),
    }
    del changed[sorted(kept)[-1]]
    found = differences(changed, kept)
    assert any(line.startswith(f"{first}: pixels") for line in found)
    assert any(line.startswith(f"{second}: vtl:settings") for line in found)
    assert any(line.startswith("paths:") for line in found)
