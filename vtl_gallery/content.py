"""Markdown pages of ``site_src/``: rendered once, sanitised, marked safe.

A page is a Markdown file with a small metadata header (Python-Markdown's
``meta`` extension)::

    title: How to cite
    order: 30

    Text...

Raw HTML in the Markdown is escaped, not passed through, and links or images
with a scheme other than http(s), mailto or a relative path are dropped (the
check is `vtl_gallery.urls.unsafe_url`, the one site.toml's URLs pass), so a
page from site_src/ cannot inject script into the site.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import Element

import markdown
from markdown.treeprocessors import Treeprocessor
from markupsafe import Markup

from vtl_gallery.catalog import check_component
from vtl_gallery.urls import unsafe_url

__all__ = ["MarkdownPage", "read_pages", "render_markdown"]


@dataclass(frozen=True)
class MarkdownPage:
    """One page of site_src/.

    Attributes:
        slug: file stem, the page's URL directory (``cite`` -> ``/cite/``).
        title: from the ``title`` header, else the slug.
        order: position in the navigation (``order`` header, default 50).
        html: the rendered body, safe to insert.
        source: the Markdown text (for change detection).
    """

    slug: str
    title: str
    order: int
    html: Markup
    source: str


class _DropUnsafeLinks(Treeprocessor):
    def run(self, root: Element) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                value = element.get(attribute)
                if value is not None and unsafe_url(value):
                    del element.attrib[attribute]


def _converter() -> markdown.Markdown:
    md = markdown.Markdown(extensions=["meta", "tables", "fenced_code", "toc"], output_format="html")
    # Without these two, Python-Markdown copies raw HTML to the output verbatim.
    md.preprocessors.deregister("html_block")
    md.inlinePatterns.deregister("html")
    md.treeprocessors.register(_DropUnsafeLinks(md), "drop_unsafe_links", 0)
    return md


def render_markdown(text: str) -> tuple[Markup, dict[str, str]]:
    """Render Markdown to safe HTML.

    Args:
        text: Markdown, optionally with a metadata header.

    Returns:
        ``(html, meta)``: the HTML as `Markup` and the header as a dict of
        lower-case keys to strings.
    """
    md = _converter()
    html = md.convert(text)
    meta = {key.lower(): " ".join(values) for key, values in getattr(md, "Meta", {}).items()}
    return Markup(html), meta


def read_pages(site_src: Path | None) -> list[MarkdownPage]:
    """Read every ``*.md`` of `site_src`, ordered for the navigation.

    Args:
        site_src: the directory; None gives no pages.

    Returns:
        The pages, sorted by (order, slug).

    Raises:
        FileNotFoundError: if `site_src` is given but is not a directory.
    """
    if site_src is None:
        return []
    if not site_src.is_dir():
        raise FileNotFoundError(f"site_src folder {site_src} does not exist (or is not a folder).")
    pages = []
    for path in sorted(site_src.glob("*.md")):
        slug = check_component(path.stem, "site_src page name")
        text = path.read_text(encoding="utf-8")
        html, meta = render_markdown(text)
        try:
            order = int(meta.get("order", 50))
        except ValueError:
            raise ValueError(f"{path}: 'order' must be an integer, received {meta['order']!r}.") from None
        pages.append(MarkdownPage(slug, meta.get("title", slug.replace("-", " ").title()), order, html, text))
    return sorted(pages, key=lambda page: (page.order, page.slug))
