"""Publication figures: PNG at 300 dpi with whole-pixel blocks, PDF with text labels, LaTeX, `vtl figure`."""

from __future__ import annotations

import html as htmllib
import io
import re
import shlex
import shutil
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.fake_atlas import write_fake_atlas
from tests.site.conftest import BASE_URL, ROOT
from visualizer import cli
from vtl_gallery.build import build_cache_path, build_site
from vtl_gallery.figures.draw import load_pixels
from vtl_gallery.figures.latex import latex_escape
from vtl_gallery.figures.layout import layout
from vtl_gallery.figures.render import render_figure
from vtl_gallery.figures.spec import FigureSpec, Panel, Tile

LAYERS = (
    "Mixed_4c_Branch_2_b_3x3",
    "Mixed_5b_Branch_3_b_1x1",
)  # figure 6's and figure 7's, with the temporal run
CHANNEL_PAGE = "layer/Mixed_4c_Branch_2_b_3x3/1/"
CHANNEL_STEM = "Mixed_4c_Branch_2_b_3x3-1"


# --- helpers ---------------------------------------------------------------------------------------


def _unescape(raw: bytes) -> bytes:
    """The bytes of a PDF literal string's body."""
    out, i = bytearray(), 0
    while i < len(raw):
        if raw[i] == 0x5C and i + 1 < len(raw):  # backslash
            nxt = raw[i + 1 : i + 4]
            octal = re.match(rb"[0-7]{1,3}", nxt)
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i += 1 + len(octal.group())
                continue
            out += {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(nxt[:1], nxt[:1])
            i += 2
            continue
        out.append(raw[i])
        i += 1
    return bytes(out)


_STRING = rb"\((?:\\.|[^\\)])*\)"


def pdf_text(data: bytes) -> list[str]:
    """Every line of text a PDF of ours shows (Type 0 fonts, two-byte codes as in UTF-16)."""
    lines = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            body = zlib.decompress(stream)
        except zlib.error:
            continue
        for array in re.findall(rb"\[((?:" + _STRING + rb"|[^\]])*)\]\s*TJ", body, re.S):
            parts = [_unescape(s[1:-1]) for s in re.findall(_STRING, array, re.S)]
            lines.append(b"".join(parts).decode("utf-16-be"))
        for string in re.findall(rb"(" + _STRING + rb")\s*Tj", body, re.S):
            lines.append(_unescape(string[1:-1]).decode("utf-16-be"))
    return lines


def pdf_images(data: bytes) -> list[tuple[int, int]]:
    """(width, height) of each image the PDF embeds."""
    sizes = []
    for match in re.finditer(rb"/Subtype /Image", data):
        head = data[match.end() : match.end() + 120]  # matplotlib writes the size next; a palette follows
        width, height = re.search(rb"/Width (\d+)", head), re.search(rb"/Height (\d+)", head)
        sizes.append((int(width.group(1)), int(height.group(1))))
    return sizes


def _png(path: Path, size: tuple[int, int], seed: int) -> Tile:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return Tile(path, size, f"sha-{seed}")


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> FigureSpec:
    """Two panels of 16 px noise (one empty cell) and one image larger than any cell."""
    folder = tmp_path_factory.mktemp("tiles")
    tiles = [_png(folder / f"t{i}.png", (16, 16), i) for i in range(5)]
    big = _png(folder / "big.png", (600, 600), 9)
    first = Panel(
        "Before and after transfer",
        ("imagenet (pre)", "celeba (post)", "flowers17 (post)"),
        ("",),
        ((tiles[0], tiles[1], Tile(None)),),
    )
    second = Panel(
        "celeba_temporal across training",
        ("it. 0", "it. 10", "final"),
        ("row one",),
        ((tiles[2], tiles[3], big),),
    )
    return FigureSpec("test-figure", (first, second), "A test figure")


# --- PNG and PDF -----------------------------------------------------------------------------------


@pytest.mark.parametrize("columns, width", [(1, 1050), (2, 2100)])
def test_png_is_300_dpi_and_one_or_two_columns_wide(spec, columns, width):
    data = render_figure(spec, [(columns, "png")])[(columns, "png")]
    with Image.open(io.BytesIO(data)) as image:
        assert image.size[0] == width
        assert round(image.info["dpi"][0]) == 300 and round(image.info["dpi"][1]) == 300
        assert image.size[1] == layout(spec, columns).height


@pytest.mark.parametrize("columns", [1, 2])
def test_png_pixels_are_whole_blocks_of_the_source(spec, columns):
    placed = layout(spec, columns)
    data = render_figure(spec, [(columns, "png")])[(columns, "png")]
    png = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    enlarged = shrunk = 0
    for box in placed.images:
        source = load_pixels(box.tile.source)
        block = png[box.y : box.y + box.height, box.x : box.x + box.width]
        if box.shrink > 1:  # larger than its cell: each dot the mean of a whole block of pixels
            assert box.scale == 1 and box.width == -(-source.shape[1] // box.shrink)
            assert np.array_equal(block, np.asarray(Image.fromarray(source).reduce(box.shrink)))
            shrunk += 1
            continue
        assert box.width == source.shape[1] * box.scale and box.scale >= 1
        # Every block of scale x scale dots is exactly one source pixel.
        for dy in range(box.scale):
            for dx in range(box.scale):
                assert np.array_equal(block[dy :: box.scale, dx :: box.scale], source)
        enlarged += 1
    assert enlarged + shrunk == 5
    assert shrunk == (1 if columns == 1 else 0)  # one column is too narrow for 600 px in its cell
    assert any(box.scale > 1 for box in placed.images)  # enlarged, not just copied


def test_pdf_labels_are_text_and_images_keep_their_pixels(spec):
    data = render_figure(spec, [(1, "pdf")])[(1, "pdf")]
    text = pdf_text(data)
    for label in ("Before and after transfer", "it. 10", "row one", "not rendered"):
        assert label in text, (label, text)
    assert any("imagenet" in line for line in text)
    assert (
        b"/CIDFontType2" in data and b"DejaVuSans" in data and b"/ToUnicode" in data
    )  # TrueType, not Type 3
    assert b"/Type3" not in data
    assert sorted(pdf_images(data)) == sorted([(16, 16)] * 4 + [(600, 600)])
    assert b"/CreationDate" not in data


def test_same_input_same_bytes(spec):
    wanted = [(1, "pdf"), (1, "png"), (2, "pdf"), (2, "png")]
    assert render_figure(spec, wanted) == render_figure(spec, wanted)


def test_latex_escape():
    assert latex_escape("Mixed_4c 50% & #1 {x}") == r"Mixed\_4c 50\% \& \#1 \{x\}"


# --- the site --------------------------------------------------------------------------------------


def build(atlas: Path, dist: Path, **kwargs):
    """Build with the repository's site_src/, a base URL and one worker unless told otherwise."""
    kwargs.setdefault("site_src", ROOT / "vtl_gallery" / "site_src")
    kwargs.setdefault("base_url", BASE_URL)
    kwargs.setdefault("workers", 1)
    kwargs.setdefault("log", lambda line: None)
    return build_site(atlas, dist, **kwargs)


@pytest.fixture(scope="module")
def small_atlas(tmp_path_factory) -> Path:
    return write_fake_atlas(tmp_path_factory.mktemp("fig-atlas") / "atlas", layers=LAYERS, channels=2)


@pytest.fixture(scope="module")
def figure_site(small_atlas, tmp_path_factory) -> tuple[Path, list[str]]:
    dist = tmp_path_factory.mktemp("fig-site") / "dist"
    lines: list[str] = []
    build(small_atlas, dist, figures="all", log=lines.append)
    return dist, lines


def test_channel_page_offers_four_files_with_permanent_urls_and_latex(figure_site):
    dist, _ = figure_site
    html = (dist / CHANNEL_PAGE / "index.html").read_text()
    assert "Download for a paper" in html
    for columns in (1, 2):
        for fmt in ("pdf", "png"):
            name = f"{CHANNEL_STEM}-{columns}col.{fmt}"
            assert (dist / CHANNEL_PAGE / name).stat().st_size > 1000
            assert f'href="../../../{CHANNEL_PAGE}{name}" download' in html
            assert f"{BASE_URL}{CHANNEL_PAGE}{name}" in html  # its permanent URL, absolute
    pres = re.findall(r'<pre id="latex-[^"]+"[^>]*>(.*?)</pre>', html, re.S)
    assert len(pres) == 2
    one, two = pres
    assert rf"\includegraphics[width=\columnwidth]{{{CHANNEL_STEM}-1col.pdf}}" in one
    assert rf"\url{{{BASE_URL}{CHANNEL_PAGE}}}" in one  # the page's permanent URL, in the caption
    assert f"{BASE_URL}{CHANNEL_PAGE}{CHANNEL_STEM}-1col.pdf" in one  # and the file's
    assert r"\begin{figure*}" in two and r"\textwidth" in two
    assert r"Mixed\_4c\_Branch\_2\_b\_3x3:1" in one  # the caption names the channel
    assert "imagenet" in one and r"celeba\_temporal" in one and "(channel images)" in one  # models, method


def test_channel_figure_shows_each_model_and_the_temporal_strip(figure_site):
    dist, _ = figure_site
    text = pdf_text((dist / CHANNEL_PAGE / f"{CHANNEL_STEM}-2col.pdf").read_bytes())
    joined = " ".join(text)
    for label in ("imagenet", "celeba", "flowers17", "celeba_temporal across training", "it. 0", "it. 30"):
        assert label in joined, (label, text)


def test_figure_pages_offer_their_figures(figure_site):
    dist, _ = figure_site
    for page, stem in (("figures/figure-6/", "figure-6"), ("figures/figure-7/", "figure-7")):
        html = (dist / page / "index.html").read_text()
        assert "Download for a paper" in html
        for columns in (1, 2):
            assert (dist / page / f"{stem}-{columns}col.pdf").is_file()
            assert (dist / page / f"{stem}-{columns}col.png").is_file()
    text = " ".join(pdf_text((dist / "figures/figure-6/figure-6-1col.pdf").read_bytes()))
    assert "(a)" in text and "ch 0" in text


def test_rebuild_writes_no_figure_and_the_same_bytes_elsewhere(figure_site, small_atlas, tmp_path):
    dist, _ = figure_site
    files = sorted(p for p in dist.rglob("*col.p*"))
    mtimes = {p: p.stat().st_mtime_ns for p in files}
    lines: list[str] = []
    build(small_atlas, dist, figures="all", log=lines.append)
    assert {p: p.stat().st_mtime_ns for p in files} == mtimes
    assert any("(0 written)" in line for line in lines if "paper figures" in line)
    # A build into another folder makes the same bytes.
    other = tmp_path / "dist"
    build(small_atlas, other, figures="pages")
    made = sorted(other.rglob("*col.p*"))
    assert made and all(p.read_bytes() == (dist / p.relative_to(other)).read_bytes() for p in made)


def test_without_channel_figures_pages_show_the_command_and_stale_files_go(
    small_atlas, tmp_path, figure_site
):
    dist = tmp_path / "dist"
    shutil.copytree(figure_site[0], dist)
    shutil.copy(build_cache_path(figure_site[0]), build_cache_path(dist))  # what the earlier build wrote
    build(small_atlas, dist, figures="pages", base_url=None)
    assert not list((dist / CHANNEL_PAGE).glob("*col.p*"))
    html = (dist / CHANNEL_PAGE / "index.html").read_text()
    assert "vtl figure --atlas ATLAS --layers Mixed_4c_Branch_2_b_3x3 --channels 1" in html
    assert "--models celeba_temporal --snapshots all" in html
    # The commands work as shown, with the atlas for ATLAS.
    block = re.search(r'<pre id="figure-commands"[^>]*>(.*?)</pre>', html, re.S).group(1)
    lines = htmllib.unescape(block).replace("\\\n", " ").splitlines()
    assert len(lines) == 2
    for line in lines:
        argv = shlex.split(line.replace("ATLAS", shlex.quote(str(small_atlas))))
        out = tmp_path / "made" / argv[argv.index("--out") + 1]
        argv[argv.index("--out") + 1] = str(out)
        assert argv[:2] == ["vtl", "figure"] and cli.main(argv[1:]) == 0
        assert out.is_file() and out.with_suffix(".png").is_file()
    figure = (dist / "figures/figure-7/index.html").read_text()
    assert "figures/figure-7/figure-7-1col.pdf</code>" in figure  # relative permanent URL without a base URL
    assert "https://" not in re.search(r'<section class="paper-figures".*?</section>', figure, re.S).group(0)


def test_unknown_mode_is_refused(small_atlas, tmp_path):
    with pytest.raises(ValueError, match="auto, all, pages, none"):
        build(small_atlas, tmp_path / "dist", figures="some")


# --- vtl figure ------------------------------------------------------------------------------------


def test_vtl_figure_writes_pdf_and_png_and_reports_missing_cells(small_atlas, tmp_path, capsys):
    out = tmp_path / "out" / "grid.pdf"
    argv = [
        "figure",
        "--atlas",
        str(small_atlas),
        "--layers",
        "4c_2_b_3x3,Mixed_5b_Branch_3_b_1x1",
        "--channels",
        "0,1",
        "--models",
        "imagenet,celeba_temporal",
        "--format",
        "both",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    pdf, png = out, out.with_suffix(".png")
    assert pdf.is_file() and png.is_file()
    assert r"\includegraphics[width=\columnwidth]{grid.pdf}" in captured.out
    # imagenet has both layers; celeba_temporal has them too: nothing missing here.
    assert "empty cell" not in captured.err
    text = " ".join(pdf_text(pdf.read_bytes()))
    for label in ("4c_2_b_3x3:0", "5b_3_b_1x1:1", "imagenet", "celeba_temporal"):
        assert label in text
    with Image.open(png) as image:
        assert image.size[0] == 1050 and round(image.info["dpi"][0]) == 300


def test_vtl_figure_snapshots_and_missing_cells(small_atlas, tmp_path, capsys):
    out = tmp_path / "strip.png"
    argv = [
        "figure",
        "--atlas",
        str(small_atlas),
        "--layers",
        "Mixed_4c_Branch_2_b_3x3",
        "--channels",
        "1",
        "--models",
        "celeba_temporal,flowers17",
        "--snapshots",
        "iter_000010,final",
        "--columns",
        "2",
        "--out",
        str(out),
    ]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    # flowers17 has no iter_000010 snapshot: an empty, labelled cell, said on stderr.
    assert "Mixed_4c_Branch_2_b_3x3:1 in flowers17@iter_000010" in err
    with Image.open(out) as image:
        assert image.size[0] == 2100


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            ["--layers", "Mixed_9z", "--channels", "0"],
            ["'Mixed_9z'", "Mixed_4c_Branch_2_b_3x3", "Mixed_5b_Branch_3_b_1x1"],
        ),
        (["--layers", "Conv2d_1a_7x7", "--channels", "0"], ["'Conv2d_1a_7x7'", "Mixed_4c_Branch_2_b_3x3"]),
        (["--layers", "4c_2_b_3x3", "--channels", "7"], ["channel 7", "0-1"]),
        (["--layers", "4c_2_b_3x3", "--channels", "two"], ["'two'"]),
        (["--layers", "4c_2_b_3x3", "--channels", "0", "--models", "nobody"], ["'nobody'", "imagenet, "]),
        (["--layers", "4c_2_b_3x3", "--channels", "0", "--snapshots", "iter_9"], ["'iter_9'", "iter_000010"]),
        (["--layers", "4c_2_b_3x3", "--channels", "0", "--method", "deepdream"], ["'deepdream'", "channel"]),
    ],
)
def test_vtl_figure_errors_name_the_bad_value_and_the_choices(small_atlas, tmp_path, capsys, extra, expected):
    argv = ["figure", "--atlas", str(small_atlas), *extra, "--out", str(tmp_path / "x.pdf")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("vtl figure: ") and "\n" not in err
    for text in expected:
        assert text in err, (text, err)
    assert not (tmp_path / "x.pdf").exists()


def test_vtl_figure_out_suffix_must_match(small_atlas, tmp_path, capsys):
    argv = [
        "figure",
        "--atlas",
        str(small_atlas),
        "--layers",
        "4c_2_b_3x3",
        "--channels",
        "0",
        "--format",
        "png",
        "--out",
        str(tmp_path / "x.pdf"),
    ]
    assert cli.main(argv) == 2
    assert "--format is png" in capsys.readouterr().err


# --- in a browser ----------------------------------------------------------------------------------

AXE = ROOT / "build" / "node" / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists() or not AXE.is_file():
        pytest.skip(f"needs chromium ({CHROMIUM}) and axe-core ({AXE}): `bash tests/setup_system.sh`")
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.mark.browser
@pytest.mark.parametrize("width, height", [(1280, 900), (390, 844)])
def test_download_block_is_accessible_and_fits_a_phone(figure_site, chromium, width, height):
    dist, _ = figure_site
    page = chromium.new_page(viewport={"width": width, "height": height})
    for path in (CHANNEL_PAGE, "figures/figure-6/"):
        page.goto((dist / path / "index.html").as_uri(), wait_until="load")
        page.wait_for_selector("section.paper-figures pre")
        assert page.evaluate("document.documentElement.scrollWidth") <= width, path
        page.add_script_tag(path=str(AXE))
        violations = page.evaluate(
            "async () => (await axe.run(document.querySelector('section.paper-figures'))).violations"
            ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id + ' ' + v.help)"
        )
        assert violations == [], (path, violations)
    page.close()
