"""The thumbnails of search results: one path pattern per layer, checked against every channel."""

from __future__ import annotations

import json

from vtl_gallery.search import SEARCH_INDEX, thumb_pattern


def _expand(entry: dict, channel: int) -> str:
    """What site.js's thumbOf() computes."""
    if str(channel) in entry["except"]:
        return entry["except"][str(channel)]
    return entry["pattern"].replace("{channel}", str(channel).zfill(entry["pad"]))


def test_a_regular_layer_needs_only_its_pattern():
    thumbs = {c: f"thumb/imagenet/final/lucid/L/{c:04d}.webp" for c in (0, 1, 2, 17, 1023)}
    entry = thumb_pattern(thumbs, sorted(thumbs))
    assert entry == {"pattern": "thumb/imagenet/final/lucid/L/{channel}.webp", "pad": 4, "except": {}}
    assert all(_expand(entry, c) == path for c, path in thumbs.items())


def test_channels_off_the_pattern_or_without_a_thumbnail_are_listed():
    thumbs = {0: "thumb/a/final/lucid/L/0000.webp", 1: "thumb/b/final/lucid/L/0001.webp"}
    thumbs[3] = "thumb/a/final/lucid/L/0003.webp"
    entry = thumb_pattern(thumbs, [0, 1, 2, 3])
    assert entry["pattern"] == "thumb/a/final/lucid/L/{channel}.webp"
    assert entry["except"] == {"1": "thumb/b/final/lucid/L/0001.webp", "2": ""}
    assert [_expand(entry, c) for c in range(4)] == [thumbs.get(c, "") for c in range(4)]


def test_unpadded_paths_and_no_thumbnails():
    thumbs = {c: f"t/{c}.webp" for c in (5, 6, 100)}
    entry = thumb_pattern(thumbs, [5, 6, 100])
    assert entry["except"] == {} and all(_expand(entry, c) == p for c, p in thumbs.items())
    assert thumb_pattern({}, [0, 1]) is None


def test_every_search_thumbnail_of_the_built_site_exists(site):
    text = (site / SEARCH_INDEX).read_text()
    index = json.loads(text[text.index("{") : text.rindex("}") + 1])
    checked = 0
    for layer in index["layers"]:
        assert layer["thumb"], layer["id"]
        for channel in layer["channels"]:
            path = _expand(layer["thumb"], channel)
            assert path and (site / path).is_file(), (layer["id"], channel, path)
            assert f"/{layer['id']}/{channel:04d}." in path  # the channel's own image, not another's
            checked += 1
    assert checked >= len(index["layers"]) > 0
