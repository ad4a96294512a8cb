"""Render pages with Jinja2 and write only what changed.

One `Writer` sets up the environment (autoescape on, ``trim_blocks``,
``lstrip_blocks``, undefined names are errors) over a `ChoiceLoader`: a
user's template directory first, then the defaults in ``templates/``, so a
site overrides any template by placing a file of the same name. Templates
get the `vtl_gallery.pages.Site` and each page's context; they compute nothing.
Pages are written through `vtl_gallery.files` (atomically, mode 0644, only
when their bytes change).

Images on the first screen of a page load at once, the rest when scrolled
to: each page's templates ask `Loading` for every ``<img>`` in document
order, and the first few (`first_screen`) get ``loading="eager"``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from vtl_gallery import urls
from vtl_gallery.files import write_if_changed
from vtl_gallery.pages import Page, Site

__all__ = ["DEFAULT_TEMPLATES", "FIRST_SCREEN", "Loading", "Writer", "first_screen", "write_if_changed"]

DEFAULT_TEMPLATES = Path(__file__).resolve().parent / "templates"
FIRST_SCREEN = {"channel.html": 8, "": 64}
"""Images loaded eagerly, by page template (``""``: any other page): at least as many as a 1280x900
window shows before scrolling (a channel page's first two rows of views; the first rows of a layer
grid or of figures 6 and 7, whose thumbnails are small)."""


def first_screen(template: str) -> int:
    """How many of a page's images load eagerly (`FIRST_SCREEN`)."""
    return FIRST_SCREEN.get(template, FIRST_SCREEN[""])


class Loading:
    """The ``loading`` attribute of a page's images, in document order: eager for the first `eager`.

    Args:
        eager: how many images load at once.
    """

    def __init__(self, eager: int):
        self.left = eager

    def __call__(self) -> str:
        """``"eager"`` for the next image while the first screen lasts, then ``"lazy"``."""
        self.left -= 1
        return "eager" if self.left >= 0 else "lazy"


def template_dirs(user_dir: Path | None) -> list[Path]:
    """Template search path: the user's directory (if any), then the defaults."""
    dirs = [user_dir] if user_dir is not None and user_dir.is_dir() else []
    return [*dirs, DEFAULT_TEMPLATES]


class Writer:
    """Renders the site's pages into `dist`.

    Args:
        site: the site model.
        dist: output directory.
        user_templates: a directory whose files override the defaults.
    """

    def __init__(self, site: Site, dist: Path, user_templates: Path | None = None):
        self.site = site
        self.dist = dist
        self.dirs = template_dirs(user_templates)
        self.env = Environment(
            loader=ChoiceLoader([FileSystemLoader(str(d)) for d in self.dirs]),
            autoescape=select_autoescape(["html", "xml"], default_for_string=True, default=True),
            trim_blocks=True,
            lstrip_blocks=True,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
        )
        self.env.globals.update(site=site, config=site.config, urls=urls)

    def render(self, page: Page) -> bytes:
        """Render one page to bytes."""
        link = urls.Linker(page.path, self.site.config.pretty_urls)
        base = self.site.config.absolute_base
        context = {
            "page": page,
            "link": link,
            "root": link.root,
            "canonical": base + page.path if base and page.listed else "",
            "arrows": "",  # what the arrow keys step through on this page ("channel", "layer"), if anything
            "base_href": "",  # a <base href>: the 404 page, served at any depth, links from the site root
            "loading": Loading(first_screen(page.template)),  # call once per <img>, in document order
            **page.context,
        }
        return self.env.get_template(page.template).render(context).encode("utf-8")

    def write(self, page: Page) -> bool:
        """Render and write one page; returns True if its file changed."""
        return write_if_changed(urls.safe_output_path(self.dist, page.path), self.render(page))

    def render_string(self, template: str, **context) -> str:
        """Render a non-page template (the sitemap)."""
        return self.env.get_template(template).render(context)

    def static_files(self) -> Iterable[tuple[str, Path]]:
        """(name, source) of every static file; a user's file hides the default one."""
        seen: set[str] = set()
        for directory in self.dirs:
            static = directory / "static"
            if not static.is_dir():
                continue
            for source in sorted(static.rglob("*")):
                name = source.relative_to(static).as_posix()
                if source.is_file() and name not in seen:
                    seen.add(name)
                    yield name, source
