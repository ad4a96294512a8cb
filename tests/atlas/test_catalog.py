"""catalog.sqlite: indexing, rebuild from images alone, sync and check."""

import os
import sqlite3

import numpy as np
import pytest

from visualizer.analysis.spatial import image_metrics
from visualizer.atlas import catalog
from visualizer.atlas.keys import ImageKey
from visualizer.pngio import to_uint8, write_png_atomic


def _write(atlas, key, objective=1.5, seed=0):
    record = catalog.ImageRecord(
        key=key,
        objective=objective,
        settings={"size": 8, "steps": 4, "seed": seed},
        model_info={"dataset": "faces", "iteration": 10, "is_final": False, "metric": 0.8, "channels": 16},
    )
    image = np.random.default_rng(seed).uniform(size=(8, 8, 3))
    record.metrics = image_metrics(to_uint8(image))
    record.bytes = write_png_atomic(atlas / key.relpath, image, record.png_text())
    record.sha256 = catalog.file_sha256(atlas / key.relpath)
    return record


def _keys(n):
    return [ImageKey("celeba", "iter_000010", "lucid", "Conv2d_2b_1x1", c) for c in range(n)]


def test_rebuild_recreates_the_catalog_from_images(tmp_path):
    records = [_write(tmp_path, key, objective=float(i), seed=i) for i, key in enumerate(_keys(3))]
    with catalog.Catalog(tmp_path) as cat:
        cat.add_images(records)
        before = sorted(cat.connection.execute("SELECT * FROM images"))
        snapshots = sorted(cat.connection.execute("SELECT * FROM snapshots"))
    (tmp_path / catalog.CATALOG_NAME).unlink()
    count, unreadable = catalog.rebuild(tmp_path)
    assert (count, unreadable) == (3, [])
    with catalog.Catalog(tmp_path) as cat:
        assert sorted(cat.connection.execute("SELECT * FROM images")) == before
        assert sorted(cat.connection.execute("SELECT * FROM snapshots")) == snapshots
        assert cat.connection.execute("SELECT channels FROM model_layers").fetchone() == (16,)
        assert cat.connection.execute("SELECT COUNT(*) FROM layers").fetchone() == (57,)
        assert cat.connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cat.connection.execute("SELECT COUNT(*) FROM metrics WHERE name = 'period_px'").fetchone() == (
            3,
        )


def test_check_reports_missing_extra_unreadable(tmp_path):
    keys = _keys(4)
    records = [_write(tmp_path, key, seed=i) for i, key in enumerate(keys)]
    with catalog.Catalog(tmp_path) as cat:
        cat.add_images(records[:3])  # keys[3] is on disk but not listed: extra
    (tmp_path / keys[0].relpath).unlink()  # listed, no file: missing
    (tmp_path / keys[1].relpath).write_bytes(b"not a png")  # unreadable
    report = catalog.check(tmp_path)
    assert report.missing == [keys[0].relpath]
    assert report.extra == [keys[3].relpath]
    assert report.unreadable == [keys[1].relpath]
    assert not report.ok


def test_check_detects_a_changed_image(tmp_path):
    key = _keys(1)[0]
    record = _write(tmp_path, key, seed=1)
    with catalog.Catalog(tmp_path) as cat:
        cat.add_images([record])
    assert catalog.check(tmp_path).ok
    _write(tmp_path, key, seed=2)  # same key, other pixels
    assert catalog.check(tmp_path).mismatched == [key.relpath]


def test_sync_indexes_orphans_and_drops_vanished_rows(tmp_path):
    keys = _keys(3)
    records = [_write(tmp_path, key, seed=i) for i, key in enumerate(keys)]
    with catalog.Catalog(tmp_path) as cat:
        cat.add_images(records[:2])
    (tmp_path / keys[0].relpath).unlink()
    leftover = tmp_path / keys[0].relpath
    (leftover.parent / ".tmp-abc.png").write_bytes(b"half")
    report = catalog.sync(tmp_path)
    assert (report.added, report.removed, report.damaged) == (1, 1, [])
    assert catalog.remove_temporary_files(tmp_path) == 1
    assert catalog.check(tmp_path).ok
    assert not (leftover.parent / ".tmp-abc.png").exists()


def _indexed(atlas, count):
    """`count` images written and indexed as a render writes them (with their verified size and time)."""
    keys = _keys(count)
    records = [_write(atlas, key, seed=i) for i, key in enumerate(keys)]
    for record in records:
        record.mtime_ns = (atlas / record.key.relpath).stat().st_mtime_ns
    with catalog.Catalog(atlas) as cat:
        cat.add_images(records)
    return keys


def _flip_byte(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_sync_deletes_truncated_flipped_and_resaved_images(tmp_path):
    from PIL import Image, PngImagePlugin

    keys = _indexed(tmp_path, 4)
    truncated, flipped, resaved, sound = (tmp_path / key.relpath for key in keys)
    truncated.write_bytes(truncated.read_bytes()[:-40])
    _flip_byte(flipped, len(flipped.read_bytes()) // 2)
    with Image.open(resaved) as image:  # same pixels and text, other bytes: not what was rendered
        image.load()
        info = PngImagePlugin.PngInfo()
        for name, value in image.text.items():
            info.add_text(name, value)
        image.save(resaved, format="PNG", pnginfo=info, compress_level=1)
    report = catalog.sync(tmp_path, [key.relpath for key in keys])
    assert sorted(report.damaged) == sorted(key.relpath for key in keys[:3])
    assert report.sound == {keys[3].relpath}
    assert not truncated.exists() and not flipped.exists() and not resaved.exists() and sound.exists()
    with catalog.Catalog(tmp_path) as cat:
        assert cat.paths() == {keys[3].relpath}


def test_a_cheap_sync_trusts_unchanged_files_and_a_full_one_reads_them(tmp_path, monkeypatch):
    keys = _indexed(tmp_path, 2)
    path = tmp_path / keys[0].relpath
    stat = path.stat()
    _flip_byte(path, len(path.read_bytes()) // 2)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # a change that hides its time
    assert catalog.sync(tmp_path).damaged == []
    assert catalog.sync(tmp_path, full=True).damaged == [keys[0].relpath]


def test_sync_without_a_catalog_indexes_sound_images_and_deletes_broken_ones(tmp_path):
    keys = _indexed(tmp_path, 3)
    (tmp_path / catalog.CATALOG_NAME).unlink()
    (tmp_path / keys[1].relpath).write_bytes(b"\x89PNG broken")
    report = catalog.sync(tmp_path)
    assert (report.added, report.damaged) == (2, [keys[1].relpath])
    assert catalog.check(tmp_path).ok


def test_check_writes_nothing_and_names_the_fix(tmp_path):
    missing = tmp_path / "typo"
    with pytest.raises(catalog.AtlasNotFoundError, match="typo"):
        catalog.check(missing)
    assert not missing.exists()
    keys = _indexed(tmp_path, 2)
    (tmp_path / catalog.CATALOG_NAME).unlink()
    report = catalog.check(tmp_path)
    assert (
        report.catalog_missing and not report.ok and sorted(report.extra) == sorted(k.relpath for k in keys)
    )
    assert not (tmp_path / catalog.CATALOG_NAME).exists()
    assert any("vtl catalog rebuild" in line for line in report.fixes(tmp_path))


def test_metadata_naming_another_key_is_rejected(tmp_path):
    key, other = _keys(2)
    record = _write(tmp_path, key)
    target = tmp_path / other.relpath
    target.write_bytes((tmp_path / key.relpath).read_bytes())
    count, unreadable = catalog.rebuild(tmp_path)
    assert count == 1 and unreadable == [other.relpath]
    assert record.sha256
    with sqlite3.connect(tmp_path / catalog.CATALOG_NAME) as db:
        assert db.execute("SELECT path FROM images").fetchall() == [(key.relpath,)]


def test_the_catalog_records_the_rules_it_was_written_with(tmp_path):
    """Key grammar, path format and figure layers: the gallery reads them from meta, not its own copies."""
    import json
    import re

    from visualizer.atlas import keys
    from visualizer.models.layers import figure6_layers, figure7_layers

    key = _keys(1)[0]
    with catalog.Catalog(tmp_path) as cat:
        meta = dict(cat.connection.execute("SELECT key, value FROM meta"))
    assert meta["key_pattern"] == keys.KEY_PATTERN and meta["path_format"] == keys.PATH_FORMAT
    assert json.loads(meta["figure6_layers"]) == [layer.id for layer in figure6_layers()]
    assert json.loads(meta["figure7_layers"]) == [layer.id for layer in figure7_layers()]
    fields = {"model": key.model, "snapshot": key.snapshot, "method": key.method, "layer": key.layer}
    assert meta["path_format"].format(**fields, channel=key.channel, suffix="") == key.relpath
    assert meta["path_format"].format(**fields, channel=3, suffix="~seed1").endswith("/0003~seed1.png")
    for bad in ("-rf", ".hidden", "a/b", ""):
        assert re.fullmatch(meta["key_pattern"], bad) is None, bad
    assert re.fullmatch(meta["key_pattern"], "Mixed_4c_Branch_2_b_3x3")


def test_the_methods_table_describes_the_registered_methods_with_images(tmp_path):
    from visualizer.atlas.methods import method_record

    lucid = _write(tmp_path, _keys(1)[0])
    mystery = _write(tmp_path, ImageKey("celeba", "final", "mystery", "Conv2d_2b_1x1", 0), seed=1)
    with catalog.Catalog(tmp_path) as cat:
        assert cat.connection.execute("SELECT COUNT(*) FROM methods").fetchone() == (0,)
        cat.add_images([lucid, mystery])
        rows = cat.connection.execute("SELECT * FROM methods").fetchall()
    record = method_record("lucid")
    assert rows == [("lucid", "image", record.description, record.order)]  # "mystery" is not registered
    count, _ = catalog.rebuild(tmp_path)
    with catalog.Catalog(tmp_path) as cat:
        assert count == 2 and cat.connection.execute("SELECT * FROM methods").fetchall() == rows
        cat.connection.execute("DROP TABLE methods")  # a catalog written before the table existed
        cat.connection.execute("DELETE FROM meta WHERE key != 'format_version'")
        cat.connection.commit()
    with catalog.Catalog(tmp_path) as cat:  # opening it adds both, from the images it lists
        assert cat.connection.execute("SELECT * FROM methods").fetchall() == rows
        assert cat.connection.execute(
            "SELECT COUNT(*) FROM meta WHERE key = 'figure7_layers'"
        ).fetchone() == (1,)
