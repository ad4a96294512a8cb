"""Image files of the site: each image's view, its thumbnail where it needs one, its original.

Every atlas PNG is on the site at full size once, as its *view*: lossless
WebP by default (the atlas's pixels exactly; lossy with ``--views lossy``),
or the original PNG itself when dist/ holds the originals and the source is
no larger than the view size. Grids get a lossy WebP thumbnail only where
the source is larger than the thumbnail size; otherwise they show the view's
file, so no two files hold the same image at the same size. Originals are
copied into dist/ only when `vtl_gallery.publish.Publishing` asks for them
(a copy, or a reflink where the file system supports one; never a hard
link, so editing dist/ cannot change the atlas). All files are mode 0644
(`vtl_gallery.files`).

Derivatives are made once: the build cache remembers each source's size and
mtime with the settings they were made with, and an unchanged source with
its outputs in place is skipped (one stat per file, which also catches an
original that is still a hard link to the atlas from an older build). New
work is spread over a process pool.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from PIL import Image

from vtl_gallery import urls
from vtl_gallery.catalog import Atlas, ImageRow
from vtl_gallery.files import copy_file, ensure_mode, kept, write_atomic
from vtl_gallery.publish import Publishing

__all__ = ["PIXELATED_FROM", "Derived", "atlas_png_bytes", "fit", "sync_images"]

PIXELATED_FROM = 2
"""An image shown at this many times its file's size or more is drawn with sharp pixels, not smoothed."""


@dataclass(frozen=True)
class Derived:
    """What the pages need to know about one image's files.

    Attributes:
        sha256: checksum of the original PNG as found on disk.
        size: (width, height) of the original.
        thumb: (width, height) of the thumbnail.
        view: (width, height) of the view.
        view_file: site path of the view (a WebP under ``view/``, or the
            original under ``img/``).
        thumb_file: site path of the thumbnail (the view's file where the
            source is no larger than the thumbnail size).
        original: where the original PNG is published (a site path, an
            absolute URL), or ``""`` where the site does not offer it.
    """

    sha256: str
    size: tuple[int, int]
    thumb: tuple[int, int]
    view: tuple[int, int]
    view_file: str = ""
    thumb_file: str = ""
    original: str = ""

    def to_json(self) -> list:
        """The cached form (without `original`, which follows the current settings)."""
        return [self.sha256, *self.size, *self.thumb, *self.view, self.view_file, self.thumb_file]

    @classmethod
    def from_json(cls, data: list, original: str = "") -> Derived:
        """The inverse of `to_json`, with the original's current link."""
        return cls(
            data[0], (data[1], data[2]), (data[3], data[4]), (data[5], data[6]), data[7], data[8], original
        )

    @property
    def files(self) -> set[str]:
        """The site paths of this image's files in dist/."""
        paths = {self.view_file, self.thumb_file}
        if self.original.startswith("img/"):
            paths.add(self.original)
        return paths

    def pixelated(self, which: str, shown: int) -> bool:
        """Whether the ``"view"`` or ``"thumb"`` file, shown `shown` CSS px wide, is enlarged enough
        (`PIXELATED_FROM` times or more) to be drawn with sharp pixels."""
        width, height = self.view if which == "view" else self.thumb
        return shown >= PIXELATED_FROM * max(width, height)


def atlas_png_bytes(atlas: Atlas) -> int:
    """The bytes of the atlas's PNGs: as the catalog records them, from the file where it does not."""
    total = 0
    for image in atlas.images:
        if image.bytes is not None:
            total += image.bytes
        else:
            try:
                total += atlas.source(image).stat().st_size
            except FileNotFoundError:  # reported by `sync_images`
                continue
    return total


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """Size that fits `longest` on the longer side, never enlarging."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _encode(image: Image.Image, lossless: bool, quality: int) -> bytes:
    buffer = io.BytesIO()
    if lossless:
        # method 1: as small as the slower methods on these images, at a third of method 4's time.
        image.save(buffer, format="WEBP", lossless=True, method=1, exact=True)
    else:
        # method 1: about 3x faster than the default 4, for files a few percent larger.
        image.save(buffer, format="WEBP", quality=quality, method=1)
    return buffer.getvalue()


@dataclass(frozen=True)
class _Job:
    """One source to (re)derive, as a worker process receives it."""

    source: str
    dist: str
    atlas_path: str
    thumb_px: int
    view_px: int
    quality: int
    lossless: bool
    copy_original: bool


def _derive(job: _Job) -> list:
    """Worker: copy the original if asked, hash it, and write the view and thumbnail it needs."""
    dist = Path(job.dist)
    if job.copy_original:
        original = dist / urls.original(job.atlas_path)
        copy_file(Path(job.source), original)
        data = original.read_bytes()
    else:
        data = Path(job.source).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        size = image.size
        mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
        image = image.convert(mode)
    view_size = fit(size, job.view_px)
    if job.copy_original and job.lossless and view_size == size:
        view_file = urls.original(job.atlas_path)  # the PNG is the view: no second copy of its pixels
    else:
        view_file = urls.view(job.atlas_path)
        # Bilinear with antialiasing (Pillow widens the filter when shrinking): half the
        # cost of Lanczos, no visible difference at these sizes.
        view = image if view_size == size else image.resize(view_size, Image.Resampling.BILINEAR)
        write_atomic(dist / view_file, _encode(view, job.lossless, job.quality))
    thumb_size = fit(size, job.thumb_px)
    if thumb_size == view_size:
        thumb_file = view_file
    else:
        thumb_file = urls.thumb(job.atlas_path)
        thumb = image.resize(thumb_size, Image.Resampling.BILINEAR)
        write_atomic(dist / thumb_file, _encode(thumb, False, job.quality))
    return Derived(sha, size, thumb_size, view_size, view_file, thumb_file).to_json()


def _original_in_place(path: Path, source: os.stat_result) -> bool:
    """True if the original `path` exists as a file of its own (given mode 0644 if needed).

    A file that is the atlas file itself (`source` is its stat: a hard link,
    or a symlink to it, left by an older build) does not count, and its mode
    is not touched.
    """
    try:
        st = path.stat()
    except FileNotFoundError:
        return False
    if (st.st_ino, st.st_dev) == (source.st_ino, source.st_dev):
        return False
    ensure_mode(path, st)
    return True


def _kept(dist: Path, cached: list) -> bool:
    """The view and thumbnail files a cached entry names are in place (the original is checked apart)."""
    return all(path.endswith(".png") or kept(dist / path) for path in {cached[7], cached[8]})


def sync_images(
    atlas: Atlas,
    dist: Path,
    previous: dict[str, list],
    *,
    thumb_px: int,
    view_px: int,
    quality: int,
    workers: int,
    publishing: Publishing | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Derived], dict[str, list], int]:
    """Bring dist/'s image files up to date with the atlas.

    Args:
        atlas: the atlas read by `vtl_gallery.catalog.read_atlas`.
        dist: the output directory.
        previous: the ``images`` section of the last build cache.
        thumb_px, view_px: longest side of the thumbnail and the view.
        quality: WebP quality of thumbnails (and of lossy views).
        workers: processes for derivatives (1 runs in this process).
        publishing: which copies to write (default: `Publishing()`); ``views="auto"``
            is decided here if the caller has not (`Publishing.resolved`).
        progress: called as ``progress(done, total)`` while deriving.

    Returns:
        ``(derived, state, redone)``: per atlas path its `Derived`, the new
        ``images`` section for the build cache, and how many sources were redone.
    """
    publishing = (publishing or Publishing()).resolved(atlas_png_bytes(atlas))
    copy_originals = publishing.originals_in_dist
    settings = [thumb_px, view_px, quality, publishing.views, copy_originals]
    derived: dict[str, Derived] = {}
    state: dict[str, list] = {}
    jobs: list[_Job] = []
    pending: list[tuple[ImageRow, list]] = []
    for image in atlas.images:
        source = atlas.source(image)
        try:
            stat = source.stat()
        except FileNotFoundError:
            raise FileNotFoundError(
                f"The catalog lists {image.path} but {source} is missing; run `vtl catalog rebuild`."
            ) from None
        stamp = [stat.st_size, stat.st_mtime_ns, *settings]
        link = publishing.original_link(image.path)
        old = previous.get(image.path)
        if old and old[0] == stamp and len(old[1]) == 9 and _kept(dist, old[1]):
            if copy_originals:
                original = dist / urls.original(image.path)
                if not _original_in_place(original, stat):
                    copy_file(source, original)
            derived[image.path] = Derived.from_json(old[1], link)
            state[image.path] = old
            continue
        jobs.append(
            _Job(
                str(source),
                str(dist),
                image.path,
                thumb_px,
                view_px,
                quality,
                publishing.lossless,
                copy_originals,
            )
        )
        pending.append((image, stamp))

    if workers > 1 and len(jobs) > 64:
        with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
            results = []
            for done, result in enumerate(pool.imap(_derive, jobs, chunksize=32), 1):
                results.append(result)
                if progress and (done % 500 == 0 or done == len(jobs)):
                    progress(done, len(jobs))
    else:
        results = [_derive(job) for job in jobs]
    for (image, stamp), result in zip(pending, results):
        derived[image.path] = replace(
            Derived.from_json(result), original=publishing.original_link(image.path)
        )
        state[image.path] = [stamp, result]
    return derived, state, len(jobs)
