"""What a build publishes of each image, and which downloads: `Publishing`.

The site shows every image at full size once: its *view*, with a smaller
thumbnail for grids only where the source is larger than the thumbnail.
Views are lossless WebP (the atlas's pixels exactly) or lossy WebP (a tenth
of the bytes or less); by default (``auto``) lossless while the atlas's PNGs
total at most `LOSSLESS_BUDGET`, so that a large atlas still fits a static
host (`Publishing.resolved`). The original PNGs
(with their key and settings in text chunks) are the atlas's own files; a
build copies them into dist/ only when asked, since they would double the
site's size:

- ``none`` (the default): no PNG in dist/; ``manifest.json``, ``images.csv``
  and ``catalog.sqlite`` describe every image;
- ``originals``: each PNG under ``img/``, linked from its channel page (and,
  where the source is no larger than the view size, shown as the view itself:
  no second copy of the same pixels);
- ``zip``: one ZIP of PNGs per model and layer;
- ``all``: both.

``originals_url`` links each original at another address instead (the atlas
folder published elsewhere, such as an archive or a bucket):
``<originals_url>images/<model>/...png``, the atlas path.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from vtl_gallery import urls

__all__ = ["DOWNLOADS", "LOSSLESS_BUDGET", "VIEWS", "Publishing"]

DOWNLOADS = ("none", "originals", "zip", "all")
"""The choices of ``vtl site --downloads``; the first is the default."""
VIEWS = ("auto", "lossless", "lossy")
"""The choices of ``vtl site --views``; the first is the default."""
LOSSLESS_BUDGET = 500_000_000
"""``--views auto`` makes lossless views up to this many bytes of atlas PNG (lossless WebP takes about
0.8 of a PNG's bytes), lossy ones beyond it."""


@dataclass(frozen=True)
class Publishing:
    """Which copies of the images a build writes, and where originals are linked.

    Attributes:
        downloads: one of `DOWNLOADS`.
        views: one of `VIEWS`: lossless WebP views (the atlas's pixels
            exactly), lossy ones at ``webp_quality`` (a tenth of the bytes or
            less, for atlases too large for a host otherwise), or ``auto``
            (`resolved` picks one).
        originals_url: absolute http(s) URL of the published atlas folder,
            whose ``images/...`` paths the channel pages and the manifest link;
            empty: originals are linked only when dist/ holds them.

    Raises:
        ValueError: naming the bad value and the valid choices, or when
            `originals_url` is given with downloads that copy the originals.
    """

    downloads: str = DOWNLOADS[0]
    views: str = VIEWS[0]
    originals_url: str = ""

    def __post_init__(self) -> None:
        if self.downloads not in DOWNLOADS:
            raise ValueError(f"--downloads {self.downloads!r} is not one of: {', '.join(DOWNLOADS)}.")
        if self.views not in VIEWS:
            raise ValueError(f"--views {self.views!r} is not one of: {', '.join(VIEWS)}.")
        if self.originals_url:
            reason = urls.unsafe_url(self.originals_url, urls.WEB_SCHEMES, relative=False)
            if reason:
                raise ValueError(
                    f"--originals-url {self.originals_url!r} is refused: {reason}. "
                    f"Allowed: {urls.allowed_text(urls.WEB_SCHEMES, relative=False)}."
                )
            if self.originals_in_dist:
                raise ValueError(
                    f"--originals-url links the original PNGs at another address, and --downloads "
                    f"{self.downloads} copies them into the site too: use one (--downloads zip or none "
                    f"with --originals-url)."
                )

    @property
    def originals_in_dist(self) -> bool:
        """The original PNGs are copied under ``img/``."""
        return self.downloads in ("originals", "all")

    @property
    def zips(self) -> bool:
        """One ZIP of original PNGs per model and layer is written."""
        return self.downloads in ("zip", "all")

    @property
    def lossless(self) -> bool:
        """Views are lossless WebP (or the original PNG itself); False until ``auto`` is `resolved`."""
        return self.views == "lossless"

    def resolved(self, png_bytes: int) -> Publishing:
        """These settings with ``views="auto"`` decided for an atlas of `png_bytes` bytes of PNG:
        lossless up to `LOSSLESS_BUDGET`, else lossy."""
        if self.views != "auto":
            return self
        return replace(self, views="lossless" if png_bytes <= LOSSLESS_BUDGET else "lossy")

    def original_link(self, atlas_path: str) -> str:
        """Where an image's original PNG is published: a site path, an absolute URL, or ``""``."""
        if self.originals_in_dist:
            return urls.original(atlas_path)
        if self.originals_url:
            return self.originals_url.rstrip("/") + "/" + atlas_path
        return ""
