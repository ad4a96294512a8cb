"""The analysis on the site: Observations page, pair page, channel metrics and circuits, orders, downloads."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.fake_atlas import write_fake_atlas
from tests.site.conftest import build
from visualizer.analysis.entries import OBSERVATION_IDS, ChannelRef, Observation
from visualizer.analysis.store import CircuitRow, Writer, load_results, subject_id

PAIR = subject_id("imagenet", "final", "celeba", "final", "channel")
LAYERS = ("Conv2d_1a_7x7", "Conv2d_2b_1x1", "Mixed_3b_Branch_3_b_1x1", "Mixed_4c_Branch_2_b_3x3")
TARGET = ("Mixed_3b_Branch_3_b_1x1", 0)  # the channel with a circuit
UPSTREAM = [
    ("Conv2d_2b_1x1", 1, 0.9, 0.5, 1, 2),
    ("Conv2d_2b_1x1", 3, 0.7, 0.8, 2, 1),
    ("Conv2d_2c_3x3", 5, 0.4, 0.1, 3, 3),
]
UNTESTED = "image_scale_structure"


def _observations(rng: np.random.Generator) -> list[Observation]:
    entries = []
    for position, oid in enumerate(OBSERVATION_IDS):
        if oid == UNTESTED:
            entries.append(
                Observation(oid, f"claim {oid}", "a metric", reason="needs at least 5 channels here")
            )
            continue
        value = float(rng.uniform(0.1, 0.9))
        refs = [ChannelRef("Conv2d_2b_1x1", 2, 0.5, "", "")]
        entries.append(
            Observation(
                oid,
                f"claim {oid}",
                "a metric",
                value,
                [value - 0.05, value + 0.05],
                0.3,
                0.01,
                position % 2 == 0,
                n=10 + position,
                best=refs,
                worst=[ChannelRef("Mixed_4c_Branch_2_b_3x3", 3, 0.1, "", "")],
                details={"threshold": 0.5},
            )
        )
    return entries


def add_analysis(atlas: Path) -> None:
    """Write a pair's analysis rows (metrics, CKA, one circuit, six observations) into a fake atlas."""
    rng = np.random.default_rng(7)
    with Writer(atlas) as writer:
        writer.subject(PAIR, "pair", "imagenet", "final", "celeba", "final", "channel", {"size": 32})
        for layer in LAYERS:
            values = {
                c: {
                    "visual_change": float(rng.uniform()),
                    "weight_change": float(rng.uniform()),
                    "period_ratio": 1.0,
                }
                for c in range(4)
            }
            writer.replace_channels(PAIR, layer, values, "x")
            writer.replace_layer(PAIR, layer, {"cka": float(rng.uniform())}, "x", data=True)
        rows = [CircuitRow(TARGET[1], *row) for row in UPSTREAM]
        writer.replace_circuits(PAIR, TARGET[0], rows, "x")
        writer.replace_observations(PAIR, _observations(rng))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory) -> tuple[Path, Path, Path]:
    """An atlas with analysis rows, and two sites built from it."""
    atlas = write_fake_atlas(tmp_path_factory.mktemp("analysed") / "atlas")
    add_analysis(atlas)
    first, second = (tmp_path_factory.mktemp(name) / "dist" for name in ("obs_a", "obs_b"))
    build(atlas, first)
    build(atlas, second)
    return atlas, first, second


def _text(path: Path) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", path.read_text())))


def test_observations_page_lists_each_entry_with_its_numbers(analysed):
    atlas, dist, _ = analysed
    page = (dist / "observations" / "index.html").read_text()
    text = _text(dist / "observations" / "index.html")
    stored = load_results(atlas).observations[PAIR]
    assert [o.id for o in stored] == list(OBSERVATION_IDS)
    for entry in stored:
        assert f'id="{entry.id}"' in page
        row = re.search(rf'<tr id="row-{entry.id}">(.*?)</tr>', page, re.S).group(1)
        if entry.holds is None:
            assert "not testable here" in row
            continue
        assert f"{entry.value:.3g}" in row
        assert f"[{entry.ci[0]:.3g}, {entry.ci[1]:.3g}]" in row
        assert ("holds" if entry.holds else "does not hold") in row
    assert "synthetic worlds, not findings about real networks" in text  # the fake atlas's kind is "world"


def test_an_untestable_claim_shows_its_reason(analysed):
    _, dist, _ = analysed
    page = (dist / "observations" / "index.html").read_text()
    section = re.search(rf'<section class="observation" id="{UNTESTED}">(.*?)</section>', page, re.S).group(1)
    assert "needs at least 5 channels here" in section
    assert "not testable here" in section


def test_plots_are_xml_and_the_same_bytes_in_two_builds(analysed):
    _, first, second = analysed
    svgs = sorted((first / "observations" / "plots").glob("*.svg"))
    assert len(svgs) == len(OBSERVATION_IDS) + 1  # one per observation, and the CKA curve
    for svg in svgs:
        ET.fromstring(svg.read_bytes())
        assert svg.read_bytes() == (second / svg.relative_to(first)).read_bytes()
        assert svg.stat().st_size < 60_000
    page = (first / "observations" / "index.html").read_text()
    for oid in OBSERVATION_IDS:
        assert re.search(rf'src="[^"]*observations/plots/[^"]*-{oid}\.svg"', page)


def test_pair_page_has_the_cka_curve_and_the_layer_table(analysed):
    atlas, dist, _ = analysed
    pages = [p for p in (dist / "observations").glob("*/index.html") if p.parent.name != "plots"]
    assert len(pages) == 1
    html = pages[0].read_text()
    assert "-cka.svg" in html
    for row in load_results(atlas).layer_table(PAIR):
        assert re.search(rf"{row.layer}.*?<td class=\"num\">{row.metrics['cka']:.3g}</td>", html, re.S)


def test_channel_page_shows_its_metrics_and_its_circuit(analysed):
    atlas, dist, _ = analysed
    layer, channel = TARGET
    html = (dist / "layer" / layer / str(channel) / "index.html").read_text()
    metrics = load_results(atlas).channel(PAIR, layer, channel)
    for name in ("visual_change", "weight_change"):
        assert re.search(rf"<code>{name}</code></th><td class=\"num\">{metrics[name]:.3g}</td>", html)
    circuit = re.search(r'<table class="data circuit">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr>(.*?)</tr>", circuit.split("<tbody>")[1], re.S)
    assert len(rows) == len(UPSTREAM)
    for row, (source, index, *_rest, rank_before, rank_after) in zip(rows, UPSTREAM):
        exists = (dist / "layer" / source / str(index) / "index.html").is_file()
        linked = re.search(r'<a href="([^"]+)">' + re.escape(f"{source}:{index}"), row)
        assert bool(linked) == exists
        change = "=" if rank_before == rank_after else f"{rank_before - rank_after:+d}"
        ranks = [f'<td class="num">{value}</td>' for value in (rank_before, rank_after, change)]
        assert "".join(ranks) in row
    assert (dist / "layer" / "Conv2d_2b_1x1" / "1" / "index.html").is_file()  # at least one link is checked
    assert not (dist / "layer" / "Conv2d_2c_3x3").exists()


def _card_order(path: Path) -> list[int]:
    return [int(c) for c in re.findall(r'<li class="card"[^>]*data-channel="(\d+)"', path.read_text())]


def test_layer_grid_is_sorted_by_a_metric(analysed):
    atlas, dist, _ = analysed
    layer = "Conv2d_2b_1x1"
    grid = dist / "model" / "celeba" / "layer" / layer
    assert "by-weight-change/" in (grid / "index.html").read_text()
    metrics = {c: load_results(atlas).channel(PAIR, layer, c)["weight_change"] for c in range(4)}
    expected = sorted(metrics, key=lambda c: (-abs(metrics[c]), c))
    assert _card_order(grid / "by-weight-change" / "index.html") == expected
    assert _card_order(grid / "index.html") == sorted(metrics)


def test_downloads_hold_the_stored_values_and_are_in_the_manifest(analysed):
    atlas, dist, _ = analysed
    results = load_results(atlas)
    listed = {f["path"]: f for f in json.loads((dist / "manifest.json").read_text())["downloads"]["files"]}
    for name in (
        "analysis-channels.csv",
        "analysis-layers.csv",
        "analysis-observations.csv",
        "analysis.json",
    ):
        assert name in listed and listed[name]["bytes"] == (dist / name).stat().st_size
    rows = list(csv.DictReader(io.StringIO((dist / "analysis-channels.csv").read_text())))
    assert len(rows) == len([r for r in results.channels])
    for row in rows:
        stored = results.channel(row["subject"], row["layer"], int(row["channel"]))
        assert math.isclose(float(row["visual_change"]), stored["visual_change"])
    observations = list(csv.DictReader(io.StringIO((dist / "analysis-observations.csv").read_text())))
    assert [o["id"] for o in observations] == list(OBSERVATION_IDS)
    data = json.loads((dist / "analysis.json").read_text())
    by_id = {o["id"]: o for o in data["observations"][PAIR]}
    for entry in results.observations[PAIR]:
        assert by_id[entry.id]["value"] == entry.value and by_id[entry.id]["holds"] == entry.holds
    assert len(data["circuits"]) == len(UPSTREAM)


def test_a_site_without_analysis_has_no_observations(site):
    assert not (site / "observations").exists()
    assert "observations/" not in (site / "index.html").read_text()
    assert not list(site.glob("analysis*"))
    names = [f["path"] for f in json.loads((site / "manifest.json").read_text())["downloads"]["files"]]
    assert not [n for n in names if n.startswith("analysis")]
