"""Small units of the generator: settings, links, parallel map, figure-7 rule."""

from __future__ import annotations

import pytest

from generator import urls
from generator.catalog import LayerRow, UnsafeAtlasError, check_component
from generator.config import ConfigError, load_config
from generator.parallel import fork_map


def test_site_toml_rejects_unknown_keys_and_bad_types(tmp_path):
    path = tmp_path / "site.toml"
    path.write_text('titel = "x"\n')
    with pytest.raises(ConfigError, match="titel.*Valid keys: title"):
        load_config(path)
    path.write_text('year = "2020"\n')
    with pytest.raises(ConfigError, match="year must be int"):
        load_config(path)
    path.write_text('title = "T"\nbase_url = "https://a.org/x"\n')
    config = load_config(path, base_url=None, workers=3)
    assert (config.title, config.absolute_base, config.workers) == ("T", "https://a.org/x/", 3)


def test_links_are_relative_and_optionally_pretty():
    link = urls.Linker(urls.channel("Mixed_4c_Branch_2_b_3x3", 7))
    assert link(urls.HOME) == "../../../index.html"
    assert link(urls.layer("Conv2d_1a_7x7")) == "../../../layer/Conv2d_1a_7x7/index.html"
    assert link("static/site.css") == "../../../static/site.css"
    assert urls.Linker("", pretty=True)(urls.HOME) == "./"
    assert urls.Linker("layer/", pretty=True)(urls.COMPARE) == "../compare/"


def test_output_paths_cannot_leave_dist(tmp_path):
    assert urls.safe_output_path(tmp_path, "layer/X/1/") == tmp_path / "layer/X/1/index.html"
    for bad in ("../x.html", "a/../../b", "/etc/passwd", "a/./b"):
        with pytest.raises(UnsafeAtlasError):
            urls.safe_output_path(tmp_path, bad)
    with pytest.raises(UnsafeAtlasError):
        check_component("..", "layer id")
    assert check_component("", "variant", allow_empty=True) == ""


def test_lucid_block_names_shift_one_letter():
    row = LayerRow("Mixed_4c_Branch_2_b_3x3", "", "", "", "Mixed_4c", 64, 3, 25, 25)
    assert row.lucid_block == "mixed4b"
    assert LayerRow("Conv2d_1a_7x7", "", "", "", "stem", 64, 7, 0, 0).lucid_block == ""


def test_fork_map_keeps_order_and_sees_parent_objects():
    offset = 1000  # a closure over a parent object: fine with fork, impossible to pickle
    assert fork_map(lambda i: i + offset, list(range(500)), workers=2) == [i + 1000 for i in range(500)]
    assert fork_map(lambda i: -i, [1, 2], workers=2) == [-1, -2]


@pytest.mark.parametrize(
    "counts, primary",
    [
        ({"examples": 4, "lucid": 4}, "lucid"),  # a tie must not put contact sheets in the grids
        ({"examples": 9, "diversity": 9, "lucid": 1}, "lucid"),
        ({"examples": 4, "neuron": 2, "stylegan2": 8}, "neuron"),
        ({"examples": 9, "custom": 1}, "custom"),
        ({"diversity": 2, "examples": 5}, "examples"),
        ({}, "lucid"),
    ],
)
def test_grids_show_a_feature_visualization_before_contact_sheets(counts, primary):
    from types import SimpleNamespace

    from generator.config import SiteConfig
    from generator.pages import choose_primary

    atlas = SimpleNamespace(images=[SimpleNamespace(method=m) for m, n in counts.items() for _ in range(n)])
    chosen, methods = choose_primary(atlas, SiteConfig())
    assert chosen == primary and sorted(methods) == sorted(counts)
    assert methods[:1] == ([primary] if counts else [])
    assert choose_primary(atlas, SiteConfig(primary_method="examples"))[0] == "examples"
