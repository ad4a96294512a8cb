"""``sitemap.xml``: absolute URLs of every page, split past 50,000 per file.

A sitemap needs absolute URLs, so it is written only when the site has a
``base_url``. Past `MAX_URLS` pages, ``sitemap.xml`` becomes a sitemap index
pointing at ``sitemap-1.xml``, ``sitemap-2.xml``, ... (sitemaps.org limits).
"""

from __future__ import annotations

from pathlib import Path

from vtl_gallery.files import write_if_changed
from vtl_gallery.writer import Writer

__all__ = ["MAX_URLS", "write_sitemaps"]

MAX_URLS = 50_000


def write_sitemaps(
    writer: Writer, dist: Path, page_paths: list[str], max_urls: int = MAX_URLS
) -> tuple[list[str], int]:
    """Write the sitemap (or sitemap index and parts) and robots.txt.

    Args:
        writer: renders the ``sitemap.xml`` and ``sitemap_index.xml`` templates.
        dist: output directory.
        page_paths: site paths of every page.
        max_urls: URLs per sitemap file.

    Returns:
        The files written or kept (site paths) and how many changed.
    """
    base = writer.site.config.absolute_base
    if not base:
        return [], 0
    urls = [base + path for path in sorted(page_paths)]
    files: dict[str, str] = {}
    if len(urls) <= max_urls:
        files["sitemap.xml"] = writer.render_string("sitemap.xml", urls=urls)
    else:
        parts = []
        for number, start in enumerate(range(0, len(urls), max_urls), 1):
            name = f"sitemap-{number}.xml"
            files[name] = writer.render_string("sitemap.xml", urls=urls[start : start + max_urls])
            parts.append(base + name)
        files["sitemap.xml"] = writer.render_string("sitemap_index.xml", sitemaps=parts)
    files["robots.txt"] = f"User-agent: *\nAllow: /\nSitemap: {base}sitemap.xml\n"
    changed = sum(write_if_changed(dist / name, text.encode("utf-8")) for name, text in files.items())
    return list(files), changed
