"""Safety of the build and of its output.

Names from the atlas and site_src/ are escaped; unsafe keys are refused before
anything is written; URLs from site.toml, ``--base-url`` and Markdown keep
only safe schemes; a missing ``--site-src`` is an error; and dist/ holds
copies of the atlas's PNGs (never links), every file 0644 and folder 0755, so
another user can serve it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.helpers.fake_atlas import DEFAULT_MODELS, FakeModel, write_fake_atlas
from visualizer import cli
from vtl_gallery.catalog import UnsafeAtlasError
from vtl_gallery.config import ConfigError
from vtl_gallery.content import render_markdown
from vtl_gallery.publish import Publishing
from vtl_gallery.urls import unsafe_url

from .conftest import ROOT, build


def _files(path):
    # SQLite may create the -shm/-wal companions of a WAL catalog even for a read-only reader.
    return sorted(
        p.relative_to(path).as_posix() for p in path.rglob("*") if not p.name.endswith(("-shm", "-wal"))
    )


def test_markup_in_catalog_text_is_escaped(tmp_path):
    evil = FakeModel(
        "evil_model",
        "<script>alert('dataset')</script>",
        parent="imagenet",
        description='<img src=x onerror="alert(1)">',
    )
    atlas = write_fake_atlas(
        tmp_path / "atlas", models=(DEFAULT_MODELS[0], evil), layers=("Conv2d_2b_1x1",), channels=2
    )
    dist = tmp_path / "dist"
    build(atlas, dist)
    for page in dist.rglob("*.html"):
        text = page.read_text()
        assert "<script>alert" not in text, page
        assert "<img src=x" not in text, page
    home = (dist / "model/evil_model/index.html").read_text()
    assert "&lt;script&gt;alert(&#39;dataset&#39;)&lt;/script&gt;" in home
    index = (dist / "search/index.js").read_text()
    assert "</script>" not in index and "\\u003cscript\\u003e" in index


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("layers", "id", "../../evil"),
        ("images", "layer", "../../../outside"),
        ("images", "model", "<script>alert(1)</script>"),
        ("images", "snapshot", ".hidden"),
        ("models", "name", "a/b"),
    ],
)
def test_unsafe_key_components_are_refused(tmp_path, table, column, value):
    atlas = write_fake_atlas(tmp_path / "sub" / "atlas", layers=("Conv2d_2b_1x1",), channels=1)
    db = sqlite3.connect(atlas / "catalog.sqlite")
    key = {"layers": "id", "images": "path", "models": "name"}[table]
    first = db.execute(f"SELECT {key} FROM {table} LIMIT 1").fetchone()[0]
    db.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, first))
    db.commit()
    db.close()
    before = _files(tmp_path)
    with pytest.raises(UnsafeAtlasError, match="Refusing"):
        build(atlas, tmp_path / "sub" / "dist")
    assert _files(tmp_path) == before  # nothing written anywhere, dist/ not even created


def test_image_path_must_match_its_key(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", layers=("Conv2d_2b_1x1",), channels=1)
    db = sqlite3.connect(atlas / "catalog.sqlite")
    db.execute("UPDATE images SET path = '../../etc/passwd' WHERE rowid = 1")
    db.commit()
    db.close()
    with pytest.raises(UnsafeAtlasError, match="its key implies"):
        build(atlas, tmp_path / "dist")


def test_output_must_not_overlap_the_atlas(atlas, tmp_path):
    with pytest.raises(UnsafeAtlasError, match="must not contain"):
        build(atlas, atlas.parent)


def test_markdown_raw_html_and_script_links_are_neutralised():
    html, meta = render_markdown(
        "title: T <b>\n\n# Hi <script>alert(1)</script>\n\n"
        "[x](javascript:alert(1)) [ok](../cite/index.html)\n"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "javascript:" not in html
    assert 'href="../cite/index.html"' in html
    assert meta["title"] == "T <b>"  # plain text; templates escape it


def test_site_src_markdown_page_title_is_escaped(atlas, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "site.toml").write_text((ROOT / "vtl_gallery" / "site_src" / "site.toml").read_text())
    (src / "notes.md").write_text("title: <script>x</script>\n\nBody <iframe src=x></iframe>\n")
    dist = tmp_path / "dist"
    build(atlas, dist, site_src=src)
    text = (dist / "notes/index.html").read_text()
    assert "<script>x" not in text and "<iframe" not in text
    assert "&lt;script&gt;x&lt;/script&gt;" in text


# --- Output files: copies (never links to the atlas), world-readable, servable -----------------------

TINY = {"models": DEFAULT_MODELS[:2], "layers": ("Conv2d_2b_1x1",), "channels": 2}
"""A two-model, one-layer atlas: enough for every kind of output file, built in well under a second."""


@pytest.fixture(scope="module")
def tiny_atlas(tmp_path_factory) -> Path:
    """A tiny atlas shared by the tests of this module that do not modify it."""
    return write_fake_atlas(tmp_path_factory.mktemp("tiny") / "atlas", **TINY)


def _inodes(root: Path) -> dict[tuple[int, int], Path]:
    found = {}
    for path in root.rglob("*"):
        if path.is_file():
            st = path.stat()
            found[(st.st_ino, st.st_dev)] = path
    return found


ORIGINALS = Publishing("all")
"""Original PNGs under img/ (each also the view of its page: these sources fit the view size) and ZIPs."""
EVERY_KIND = Publishing("all", "lossy")
"""Originals, ZIPs and WebP views: every kind of output file."""


def _originals(dist: Path) -> list[Path]:
    return sorted((dist / "img").rglob("*.png"))


def _atlas_file(atlas: Path, dist: Path, original: Path) -> Path:
    return atlas / "images" / original.relative_to(dist / "img")


def test_originals_are_copies_that_do_not_share_the_atlas_files(tiny_atlas, tmp_path):
    dist = tmp_path / "dist"
    build(tiny_atlas, dist, publishing=ORIGINALS)
    shared = set(_inodes(tiny_atlas)) & set(_inodes(dist))
    assert not shared, [str(_inodes(dist)[key]) for key in shared]
    originals = _originals(dist)
    assert originals
    for original in originals:
        assert original.read_bytes() == _atlas_file(tiny_atlas, dist, original).read_bytes()
    source = _atlas_file(tiny_atlas, dist, originals[0])
    before = source.read_bytes()
    with open(originals[0], "r+b") as handle:  # edit in place, as an editor or a careless script would
        handle.write(b"not a PNG any more")
    assert source.read_bytes() == before


def test_hard_link_left_by_an_older_build_becomes_a_copy(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", **TINY)
    for png in (atlas / "images").rglob("*.png"):
        png.chmod(0o600)
    dist = tmp_path / "dist"
    build(atlas, dist, publishing=ORIGINALS)
    assert _originals(dist)
    for original in _originals(dist):  # what builds before this fix left behind
        source = _atlas_file(atlas, dist, original)
        original.unlink()
        os.link(source, original)
    report = build(atlas, dist, publishing=ORIGINALS)
    assert report.images_redone == 0  # only the originals are copied again; nothing is re-derived
    for original in _originals(dist):
        source = _atlas_file(atlas, dist, original)
        assert not os.path.samefile(original, source), original
        assert original.read_bytes() == source.read_bytes()
        assert stat.S_IMODE(original.stat().st_mode) == 0o644
        assert stat.S_IMODE(source.stat().st_mode) == 0o600  # the atlas file's mode is left alone
    again = build(atlas, dist, publishing=ORIGINALS)
    assert again.images_redone == 0 and again.other_written == 0


def _assert_world_readable(dist: Path) -> None:
    wrong = [
        f"{path.relative_to(dist)}: {stat.S_IMODE(path.stat().st_mode):o}"
        for path in [dist, *dist.rglob("*")]
        if stat.S_IMODE(path.stat().st_mode) != (0o755 if path.is_dir() else 0o644)
    ]
    assert not wrong, wrong


def _build_with_umask(atlas: Path, dist: Path, **kwargs):
    old = os.umask(0o077)
    try:
        return build(atlas, dist, **kwargs)
    finally:
        os.umask(old)


def test_output_modes_ignore_umask_and_atlas_modes(tmp_path):
    atlas = write_fake_atlas(tmp_path / "atlas", **TINY)
    for png in (atlas / "images").rglob("*.png"):
        png.chmod(0o600)
    src = tmp_path / "src"
    shutil.copytree(ROOT / "vtl_gallery" / "site_src", src)
    (src / "templates" / "static").mkdir(parents=True)
    static = src / "templates" / "static" / "extra.css"
    static.write_text("body{}\n")
    static.chmod(0o600)
    dist = tmp_path / "out" / "dist"  # its parent does not exist yet either
    report = _build_with_umask(atlas, dist, site_src=src, publishing=EVERY_KIND)
    assert (dist / "static/extra.css").is_file() and (dist / "sitemap.xml").is_file()
    assert any(dist.rglob("*.zip")) and any(dist.rglob("*.webp")) and _originals(dist)
    assert report.pages_written == report.pages
    _assert_world_readable(dist)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    # A file whose mode was changed since is set right by the next build, even when unchanged.
    (dist / "index.html").chmod(0o600)
    (dist / "manifest.json").chmod(0o600)
    _originals(dist)[0].chmod(0o600)
    next(dist.rglob("*.zip")).chmod(0o600)
    next(dist.rglob("*.webp")).chmod(0o600)
    _build_with_umask(atlas, dist, site_src=src, publishing=EVERY_KIND)
    _assert_world_readable(dist)


# --- URLs from site.toml, --base-url and Markdown --------------------------------------------------

BAD_URLS = [
    "javascript:alert(7)",
    "JaVaScRiPt:alert(7)",
    " JaVa\tscript:alert(7)",
    "java\nscript:alert(7)",
    "\x01javascript:alert(7)",
    "javascript&#58;alert(7)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCg3KTwvc2NyaXB0Pg==",
    "vbscript:msgbox(7)",
    "file:///etc/passwd",
    "ftp://example.org/license.txt",
]


def _site_src(tmp_path: Path, **settings: str) -> Path:
    """A copy of the repository's site_src/ with `settings` appended to site.toml."""
    src = tmp_path / "src"
    shutil.copytree(ROOT / "vtl_gallery" / "site_src", src)
    toml = (src / "site.toml").read_text()
    for key, value in settings.items():
        toml = re.sub(rf"(?m)^{key} = .*$", "", toml)
        toml += f"{key} = {json.dumps(value)}\n"  # a JSON string is a valid TOML basic string
    (src / "site.toml").write_text(toml)
    return src


@pytest.mark.parametrize("value", BAD_URLS)
def test_unsafe_license_url_in_site_toml_is_refused(tiny_atlas, tmp_path, value):
    src = _site_src(tmp_path, license_url=value)
    dist = tmp_path / "dist"
    with pytest.raises(ConfigError) as error:
        build(tiny_atlas, dist, site_src=src)
    message = str(error.value)
    assert str(src / "site.toml") in message
    assert "license_url" in message and repr(value) in message
    assert "http:, https:, mailto: or a relative URL" in message
    assert not dist.exists()


@pytest.mark.parametrize(
    "value", [*BAD_URLS, "mailto:a@example.org", "/vtl/", "//example.org/vtl/", "https://"]
)
def test_unsafe_base_url_is_refused(tiny_atlas, tmp_path, value):
    dist = tmp_path / "dist"
    with pytest.raises(ConfigError) as error:
        build(tiny_atlas, dist, base_url=value)
    message = str(error.value)
    assert "--base-url" in message and "base_url" in message and repr(value) in message
    assert "absolute URL with scheme http: or https:" in message
    assert not dist.exists()


def test_unsafe_base_url_in_site_toml_and_on_the_command_line(tiny_atlas, tmp_path, capsys):
    src = _site_src(tmp_path, base_url="javascript:alert(7)//")
    with pytest.raises(ConfigError, match=r"site\.toml: base_url = 'javascript:alert\(7\)//' is refused"):
        build(tiny_atlas, tmp_path / "dist", site_src=src, base_url=None)
    args = ["site", "--atlas", str(tiny_atlas), "--out", str(tmp_path / "dist")]
    assert cli.main([*args, "--base-url", "javascript:alert(7)"]) == 1
    assert "--base-url: base_url = 'javascript:alert(7)' is refused" in capsys.readouterr().err


@pytest.mark.parametrize(
    "license_url",
    ["https://creativecommons.org/licenses/by/4.0/", "license/index.html", "mailto:a@example.org"],
)
def test_safe_license_urls_pass(tiny_atlas, tmp_path, license_url):
    dist = tmp_path / "dist"
    build(
        tiny_atlas,
        dist,
        site_src=_site_src(tmp_path, license_url=license_url),
        base_url="http://localhost:8000/",
    )
    assert f'href="{license_url}"' in (dist / "index.html").read_text()
    assert "http://localhost:8000/layer/" in (dist / "sitemap.xml").read_text()


def _hrefs(text: str) -> list[str]:
    return [html.unescape(value) for value in re.findall(r'(?:href|src)="([^"]*)"', text)]


def test_markdown_links_with_unsafe_schemes_are_dropped(tiny_atlas, tmp_path):
    src = _site_src(tmp_path)
    bad = " ".join(f"[bad{n}](<{url}>)" for n, url in enumerate(BAD_URLS) if "\n" not in url)
    (src / "links.md").write_text(
        "title: Links\n\n"
        "[x](javascript:alert(1)) [y](javascript&#58;alert(1)) ![i](data:image/png;base64,AAAA)\n\n"
        f"{bad}\n\n"
        "[web](https://example.org/a) [rel](../cite/index.html) [mail](mailto:a@example.org)\n"
    )
    dist = tmp_path / "dist"
    build(tiny_atlas, dist, site_src=src)
    text = (dist / "links/index.html").read_text()
    links = _hrefs(text)
    assert not [
        link
        for link in links
        if re.sub(r"[\x00-\x20]", "", link)
        .lower()
        .startswith(("javascript:", "data:", "vbscript:", "file:", "ftp:"))
    ], links
    assert ">x</a>" in text and ">bad0</a>" in text  # the link text stays, without its href
    for good in ("https://example.org/a", "../cite/index.html", "mailto:a@example.org"):
        assert good in links


@pytest.mark.parametrize("value", BAD_URLS)
def test_one_url_check_serves_config_and_markdown(value):
    assert unsafe_url(value) is not None
    html_text, _ = render_markdown(f"[x](<{value}>)" if "\n" not in value else f"[x]({value})")
    assert "href" not in html_text


@pytest.mark.parametrize(
    "value", ["https://example.org/", "http://a.b/c?d=1&e=2", "mailto:x@y.z", "../a/", "#top", ""]
)
def test_good_urls_pass_the_check(value):
    assert unsafe_url(value) is None


# --- site_src ---------------------------------------------------------------------------------------


def test_missing_site_src_given_explicitly_is_an_error(tiny_atlas, tmp_path, capsys):
    missing = tmp_path / "no-such-site-src"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        build(tiny_atlas, tmp_path / "dist", site_src=missing)
    assert not (tmp_path / "dist").exists()
    args = ["site", "--atlas", str(tiny_atlas), "--out", str(tmp_path / "dist")]
    assert cli.main([*args, "--site-src", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err
    assert cli.main([*args, "--templates", str(missing)]) == 1
    assert str(missing) in capsys.readouterr().err


def test_default_site_src_is_the_bundled_one(tiny_atlas, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the repository root: the default must not depend on it
    out = tmp_path / "dist"
    assert cli.main(["site", "--atlas", str(tiny_atlas), "--out", str(out), "--workers", "1"]) == 0
    assert (out / "cite/index.html").is_file() and (out / "about/index.html").is_file()
    assert "How to cite" in (out / "index.html").read_text()


# --- Served by another user -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _python_for(user: dict) -> str | None:
    """An interpreter `user` may run (the test's own may live under /root)."""
    for candidate in dict.fromkeys(
        [os.path.realpath(sys.executable), "/usr/bin/python3", "/usr/local/bin/python3"]
    ):
        if not os.path.exists(candidate):
            continue
        try:
            probe = subprocess.run(
                [candidate, "-I", "-c", "import http.server"], timeout=30, capture_output=True, **user
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_site_is_served_by_another_user(tmp_path):
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("needs root, to start the web server as user nobody")
    import pwd

    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("there is no user nobody to serve the site as")
    user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}  # no root group either
    python = _python_for(user)
    if python is None:
        pytest.skip("no Python interpreter that user nobody may run")
    root = Path(tempfile.mkdtemp(dir="/tmp", prefix="vtl-serve-"))
    server = None
    try:
        root.chmod(0o755)
        atlas = write_fake_atlas(root / "atlas", **TINY)
        for png in (atlas / "images").rglob("*.png"):
            png.chmod(0o600)
        dist = root / "dist"
        _build_with_umask(atlas, dist, site_src=_site_src(tmp_path), publishing=EVERY_KIND)
        port = _free_port()
        log = open(tmp_path / "server.log", "w+b")  # noqa: SIM115 - closed in finally
        server = subprocess.Popen(
            [python, "-I", "-m", "http.server", "--bind", "127.0.0.1", str(port), "--directory", str(dist)],
            stdout=log,
            stderr=log,
            cwd=root,
            **user,
        )
        base = f"http://127.0.0.1:{port}/"
        deadline = time.monotonic() + 20
        while True:
            try:
                status, body = _get(base + "index.html")
                break
            except (urllib.error.URLError, ConnectionError):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    pytest.fail(f"the server did not answer: {log.read().decode(errors='replace')}")
                time.sleep(0.1)
        assert status == 200 and body == (dist / "index.html").read_bytes()
        original = _originals(dist)[0]
        for path in (original, next(dist.rglob("*.webp")), next(dist.rglob("*.zip"))):
            try:
                status, body = _get(base + path.relative_to(dist).as_posix())
            except urllib.error.HTTPError as error:
                pytest.fail(f"{path.relative_to(dist)}: HTTP {error.code} for user nobody")
            assert status == 200 and body == path.read_bytes(), path
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=5)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=5)
            log.close()
        shutil.rmtree(root, ignore_errors=True)
