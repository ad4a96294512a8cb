"""Nothing lost, nothing rendered twice: the atlas heals damaged images, admits one writer, survives faults.

Each test renders the tiny experiment (tests/helpers/fake_runs.py) with the real ``vtl`` command
and then damages or races it, as a careless user or a failing machine would.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from tests.helpers.cli import start_vtl
from tests.helpers.fake_runs import write_tiny_experiment
from visualizer.atlas import catalog
from visualizer.atlas.job import render_atlas
from visualizer.atlas.lock import atlas_lock
from visualizer.config import load_config
from visualizer.pngio import read_png

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """The tiny experiment with enough steps that a render lasts long enough to be hit mid-way."""
    return write_tiny_experiment(tmp_path_factory.mktemp("safety"), steps=40)


@pytest.fixture(scope="module")
def reference(experiment):
    """The atlas rendered once, undisturbed: {relpath: pixels}."""
    config = load_config(experiment)
    render_atlas(config, progress=False)
    atlas = config.resolve_path(config.project.atlas_dir)
    return {relpath: read_png(atlas / relpath)[0] for relpath in catalog.iter_image_files(atlas)}


def _vtl(*args: str) -> subprocess.Popen:
    return start_vtl(list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _render(experiment: Path, atlas: Path, *extra: str) -> tuple[int, str, str]:
    process = _vtl("render", "--config", str(experiment), "--atlas", str(atlas), "--quiet", *extra)
    out, err = process.communicate(timeout=600)
    return process.returncode, out, err


def _rendered(out: str) -> int:
    return int(re.search(r"rendered (\d+) image", out)[1])


def _sound_files(atlas: Path) -> dict[str, tuple[int, int]]:
    """{relpath: (inode, mtime)} of the images that read back as sound atlas images."""
    sound = {}
    for relpath in catalog.iter_image_files(atlas):
        with contextlib.suppress(ValueError):
            catalog.record_from_png(atlas, relpath)
            stat = (atlas / relpath).stat()
            sound[relpath] = (stat.st_ino, stat.st_mtime_ns)
    return sound


def _assert_complete(atlas: Path, reference: dict) -> None:
    report = catalog.check(atlas)
    assert report.ok and report.temporary == 0, report
    assert sorted(catalog.iter_image_files(atlas)) == sorted(reference)
    for relpath, pixels in reference.items():
        np.testing.assert_array_equal(read_png(atlas / relpath)[0], pixels, err_msg=relpath)


def _recover(experiment: Path, atlas: Path, reference: dict, damaged: list[str] = ()) -> int:
    """One more render: complete, checked, the same pixels, and no sound image written again.

    `damaged` names images known to be bad even when they still decode (re-saved ones).
    """
    before = {path: stat for path, stat in _sound_files(atlas).items() if path not in damaged}
    code, out, err = _render(experiment, atlas)
    assert code == 0, err[-2000:]
    assert _rendered(out) == len(reference) - len(before)
    after = _sound_files(atlas)
    assert {path: after[path] for path in before} == before, "a sound image was written again"
    _assert_complete(atlas, reference)
    return _rendered(out)


def _damage(atlas: Path, relpaths: list[str]) -> None:
    """Truncate, flip a byte of, and re-save (same pixels, other bytes) the given images, in turn."""
    from PIL import Image, PngImagePlugin

    for number, relpath in enumerate(relpaths):
        path = atlas / relpath
        data = bytearray(path.read_bytes())
        if number % 3 == 0:
            path.write_bytes(bytes(data[: len(data) // 2]))
        elif number % 3 == 1:
            data[len(data) // 2] ^= 0x5A
            path.write_bytes(bytes(data))
        else:
            with Image.open(path) as image:
                image.load()
                info = PngImagePlugin.PngInfo()
                for name, value in image.text.items():
                    info.add_text(name, value)
                image.save(path, format="PNG", pnginfo=info, compress_level=0)


def test_render_repairs_damaged_images_with_and_without_the_catalog(experiment, reference, tmp_path):
    atlas = tmp_path / "atlas"
    code, _, err = _render(experiment, atlas)
    assert code == 0, err
    damaged = sorted(reference)[:3]
    _damage(atlas, damaged)
    assert not catalog.check(atlas).ok
    code, out, err = _render(experiment, atlas)
    assert code == 0, err
    assert _rendered(out) == 3 and "3 of them to repair damaged ones" in out
    _assert_complete(atlas, reference)

    # Without the catalog there is no checksum to compare: the re-saved image keeps its pixels and
    # metadata, so it is indexed as it is; the truncated and flipped ones are rendered again.
    _damage(atlas, damaged)
    (atlas / catalog.CATALOG_NAME).unlink()
    code, out, err = _render(experiment, atlas)
    assert code == 0, err
    assert _rendered(out) == 2
    _assert_complete(atlas, reference)


def test_two_renders_started_together_write_every_image_once(experiment, reference, tmp_path):
    atlas = tmp_path / "atlas"
    args = ("render", "--config", str(experiment), "--atlas", str(atlas), "--quiet")
    first, second = _vtl(*args), _vtl(*args)
    results = [process.communicate(timeout=600) for process in (first, second)]
    assert [first.returncode, second.returncode] == [0, 0], [err[-2000:] for _, err in results]
    assert sum(_rendered(out) for out, _ in results) == len(reference)
    assert any("waiting for it to finish" in err for _, err in results)
    _assert_complete(atlas, reference)


def test_no_wait_refuses_while_another_writer_holds_the_atlas(experiment, tmp_path):
    atlas = tmp_path / "atlas"
    atlas.mkdir()
    with atlas_lock(atlas):
        code, out, err = _render(experiment, atlas, "--no-wait")
    assert code == 2 and "Traceback" not in err
    assert err.strip().startswith("vtl render: Another vtl process") and "--no-wait" in err
    assert not list(catalog.iter_image_files(atlas))


def test_a_shard_removes_only_its_own_temporary_files(experiment, tmp_path):
    config = load_config(experiment, {"project.atlas_dir": str(tmp_path / "atlas")})
    atlas = config.resolve_path(config.project.atlas_dir)
    folder = atlas / "images"
    folder.mkdir(parents=True)
    others = [folder / ".tmp-s2of2-abcdefgh.png", folder / ".tmp-abcdefgh.png"]
    own = folder / ".tmp-s1of2-abcdefgh.png"
    for path in [*others, own]:
        path.write_bytes(b"half an image")
    render_atlas(config, shard=(0, 2), progress=False)
    assert all(path.exists() for path in others) and not own.exists()
    render_atlas(config, progress=False)  # the whole-atlas writer owns every temporary file
    assert not any(path.exists() for path in others)


def _worker_pids(parent: int) -> list[int]:
    """Render workers of `parent` (multiprocessing's spawned children, not its resource tracker)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes().decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and "spawn_main" in command and "resource_tracker" not in command:
            pids.append(int(entry.name))
    return pids


def _kill_a_worker(experiment: Path, atlas: Path, rng: random.Random) -> None:
    process = _vtl("render", "--config", str(experiment), "--atlas", str(atlas), "--quiet", "--workers", "2")
    deadline = time.monotonic() + 120
    while not _worker_pids(process.pid) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(rng.uniform(2.0, 8.0))
    for pid in _worker_pids(process.pid)[:1]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    _, err = process.communicate(timeout=600)
    assert "Traceback" not in err, err[-2000:]


@contextlib.contextmanager
def _small_disk(path: Path, size: str):
    """A tmpfs of `size` mounted at `path` (root only); skips the test where mounting is not allowed."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_faults_at_random_moments_leave_an_atlas_one_render_completes(experiment, reference, tmp_path):
    """Killed workers, corrupted files and a full disk: after each, one render completes the atlas."""
    rng = random.Random(20)
    atlas = tmp_path / "killed"
    for _ in range(2):
        _kill_a_worker(experiment, atlas, rng)
        _recover(experiment, atlas, reference)
        victims = rng.sample(sorted(reference), 4)
        _damage(atlas, victims)
        assert _recover(experiment, atlas, reference, victims) == len(victims)
        for relpath in rng.sample(sorted(reference), rng.randint(4, 12)):
            (atlas / relpath).unlink()  # make the next kill land mid-way through real work

    with _small_disk(tmp_path / "disk", "450k") as disk:
        atlas = disk / "atlas"
        code, out, err = _render(experiment, atlas)
        assert code == 2, (out, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "full" in err, err
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        _recover(experiment, atlas, reference)
