"""The distribution works outside the repository: a wheel, installed into a clean virtualenv, builds a site.

The gallery needs only its own dependencies (Jinja2, Markdown, Pillow, and
matplotlib with numpy for figures and plots), so the
virtualenv gets the wheel without its compute dependencies (Keras, TensorFlow),
which also shows that ``vtl site`` never imports them. It needs the package
index for those; where the index cannot be reached the test is skipped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.fake_atlas import write_fake_atlas

pytestmark = pytest.mark.slow

GALLERY_REQUIREMENTS = ("jinja2>=3.1", "markdown>=3.5", "pillow>=10", "numpy>=1.26", "matplotlib>=3.8")


def _run(command: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    clean = {name: value for name, value in os.environ.items() if name not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run(command, cwd=cwd, env=clean, capture_output=True, text=True, timeout=600, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    built = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(out),
        ],
        cwd=out,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    (path,) = out.glob("*.whl")
    return path


def test_the_wheel_carries_the_gallery_theme_and_content(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "vtl_gallery/templates/channel.html",
        "vtl_gallery/templates/static/site.css",
        "vtl_gallery/site_src/site.toml",
        "vtl_gallery/site_src/about.md",
    ):
        assert expected in names, f"{expected} is not in {wheel.name}"
    assert not [name for name in names if name.startswith(("generator/", "tests/", "templates/"))]


def test_vtl_site_runs_from_a_clean_virtualenv(wheel, tmp_path):
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path).returncode == 0
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    installed = _run([*pip, *GALLERY_REQUIREMENTS], cwd=tmp_path)
    if installed.returncode != 0:
        pytest.skip(f"the package index cannot be reached: {installed.stderr.strip()[-300:]}")
    installed = _run([*pip, "--no-deps", str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    atlas = write_fake_atlas(tmp_path / "atlas")
    site = _run([str(venv / "bin" / "vtl"), "site", "--atlas", str(atlas), "--out", "dist"], cwd=tmp_path)
    assert site.returncode == 0, site.stderr[-3000:]
    dist = tmp_path / "dist"
    home = (dist / "index.html").read_text()
    assert "<html" in home and (dist / "static" / "site.css").is_file()
    assert (dist / "about" / "index.html").is_file() and (dist / "cite" / "index.html").is_file()
    where = _run(
        [str(venv / "bin" / "python"), "-c", "import vtl_gallery, sys; print(vtl_gallery.__file__)"],
        cwd=tmp_path,
    )
    assert str(venv) in where.stdout and str(ROOT) not in where.stdout
