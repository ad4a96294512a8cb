"""Image files of the site: originals, grid thumbnails and the view size.

Each atlas PNG gives three files under dist/: the original (a copy, or a
reflink where the file system supports one; never a hard link, so editing
dist/ cannot change the atlas), a small WebP thumbnail for grids and a larger
WebP for channel pages, all mode 0644 (`vtl_gallery.files`). Derivatives are
made once: the build manifest remembers each source's size and mtime, and an
unchanged source with its outputs in place is skipped (one stat per file,
which also catches an original that is still a hard link to the atlas from an
older build). New work is spread over a process pool.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from PIL import Image

from vtl_gallery import urls
from vtl_gallery.catalog import Atlas, ImageRow
from vtl_gallery.files import copy_file, ensure_mode, kept, write_atomic

__all__ = ["Derived", "sync_images"]


@dataclass(frozen=True)
class Derived:
    """What the pages need to know about one image's files.

    Attributes:
        sha256: checksum of the original PNG as found on disk.
        size: (width, height) of the original.
        thumb: (width, height) of the thumbnail.
        view: (width, height) of the view size.
    """

    sha256: str
    size: tuple[int, int]
    thumb: tuple[int, int]
    view: tuple[int, int]

    def to_json(self) -> list:
        return [self.sha256, *self.size, *self.thumb, *self.view]

    @classmethod
    def from_json(cls, data: list) -> Derived:
        return cls(data[0], (data[1], data[2]), (data[3], data[4]), (data[5], data[6]))


def fit(size: tuple[int, int], longest: int) -> tuple[int, int]:
    """Size that fits `longest` on the longer side, never enlarging."""
    width, height = size
    scale = min(1.0, longest / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _derive(job: tuple[str, str, str, str, int, int, int]) -> list:
    """Worker: copy one PNG into dist/, hash the copy and write its thumbnail and view size."""
    source, original, thumb_path, view_path, thumb_px, view_px, quality = job
    copy_file(Path(source), Path(original))
    data = Path(original).read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        size = image.size
        mode = "RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB"
        image = image.convert(mode)
        dims = []
        for path, px in ((view_path, view_px), (thumb_path, thumb_px)):
            target = fit(size, px)
            # Bilinear with antialiasing (Pillow widens the filter when shrinking): half the
            # cost of Lanczos, no visible difference at thumbnail sizes.
            small = image if target == image.size else image.resize(target, Image.Resampling.BILINEAR)
            buffer = io.BytesIO()
            # method 1: about 3x faster than the default 4, for files a few percent larger.
            small.save(buffer, format="WEBP", quality=quality, method=1)
            write_atomic(Path(path), buffer.getvalue())
            dims.append(target)
    return Derived(sha, size, dims[1], dims[0]).to_json()


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


def sync_images(
    atlas: Atlas,
    dist: Path,
    previous: dict[str, list],
    *,
    thumb_px: int,
    view_px: int,
    quality: int,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[dict[str, Derived], dict[str, list], int]:
    """Bring dist/'s image files up to date with the atlas.

    Args:
        atlas: the atlas read by `vtl_gallery.catalog.read_atlas`.
        dist: the output directory.
        previous: the ``images`` section of the last build manifest.
        thumb_px, view_px: longest side of the thumbnail and the view size.
        quality: WebP quality.
        workers: processes for derivatives (1 runs in this process).
        progress: called as ``progress(done, total)`` while deriving.

    Returns:
        ``(derived, state, redone)``: per atlas path its `Derived`, the new
        ``images`` section for the manifest, and how many sources were redone.
    """
    settings = [thumb_px, view_px, quality]
    derived: dict[str, Derived] = {}
    state: dict[str, list] = {}
    jobs: list[tuple] = []
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
        thumb, view, original = (
            dist / urls.thumb(image.path),
            dist / urls.view(image.path),
            dist / urls.original(image.path),
        )
        old = previous.get(image.path)
        if old and old[0] == stamp and kept(thumb) and kept(view):
            if not _original_in_place(original, stat):
                copy_file(source, original)
            derived[image.path] = Derived.from_json(old[1])
            state[image.path] = old
            continue
        jobs.append((str(source), str(original), str(thumb), str(view), thumb_px, view_px, quality))
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
        derived[image.path] = Derived.from_json(result)
        state[image.path] = [stamp, result]
    return derived, state, len(jobs)
