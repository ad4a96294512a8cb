"""Small units of the generator: settings, links, parallel map, figure-7 rule."""

from __future__ import annotations

import pytest

from vtl_gallery import urls
from vtl_gallery.catalog import LayerRow, UnsafeAtlasError, check_component
from vtl_gallery.config import ConfigError, load_config
from vtl_gallery.parallel import fork_map


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


def _described_by_the_registry() -> dict:
    """The ``methods`` rows a catalog writes for the built-in methods."""
    from visualizer.atlas.methods import registered_methods
    from vtl_gallery.catalog import MethodRow

    return {m.name: MethodRow(m.name, m.kind, m.description, m.order) for m in registered_methods()}


@pytest.mark.parametrize(
    "counts, order",
    [
        ({"examples": 4, "lucid": 4}, ["lucid", "examples"]),  # contact sheets never lead the grids
        ({"examples": 9, "diversity": 9, "lucid": 1}, ["lucid", "examples", "diversity"]),
        ({"examples": 4, "neuron": 2, "stylegan2": 8}, ["neuron", "stylegan2", "examples"]),
        # A method the catalog does not describe is an image, after the described images.
        ({"examples": 9, "custom": 1, "negative": 1}, ["negative", "custom", "examples"]),
        ({"diversity": 2, "examples": 5}, ["examples", "diversity"]),
        ({"channel": 3, "zeta": 1, "alpha": 2}, ["alpha", "channel", "zeta"]),
        ({}, []),
    ],
)
def test_grids_show_a_feature_visualization_before_contact_sheets(counts, order):
    from types import SimpleNamespace

    from vtl_gallery.config import SiteConfig
    from vtl_gallery.pages import choose_primary

    images = [SimpleNamespace(method=m) for m, n in counts.items() for _ in range(n)]
    atlas = SimpleNamespace(images=images, methods=_described_by_the_registry())
    chosen, methods = choose_primary(atlas, SiteConfig())
    assert methods == order and chosen == (order[0] if order else "")
    assert choose_primary(atlas, SiteConfig(primary_method="examples"))[0] == "examples"


def test_an_atlas_without_a_methods_table_lists_its_methods_by_name():
    from types import SimpleNamespace

    from vtl_gallery.config import SiteConfig
    from vtl_gallery.pages import choose_primary

    atlas = SimpleNamespace(
        images=[SimpleNamespace(method=m) for m in ("neuron", "lucid", "examples")], methods={}
    )
    assert choose_primary(atlas, SiteConfig()) == ("examples", ["examples", "lucid", "neuron"])
