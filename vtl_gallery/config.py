"""Site settings: defaults here, then ``site_src/site.toml``, then ``vtl site`` flags.

Every default is in `SiteConfig`; the TOML file overrides what it names and
unknown keys are rejected by name, so a typo never passes silently. Every
``*_url`` setting must pass `vtl_gallery.urls.unsafe_url`: ``base_url`` is an
absolute http(s) URL (or empty), the others http(s), mailto or relative; a
``javascript:`` license link, say, stops the build with the key, the value
and what is allowed.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path

from vtl_gallery.urls import LINK_SCHEMES, WEB_SCHEMES, allowed_text, unsafe_url

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = ["ConfigError", "SiteConfig", "load_config"]


class ConfigError(ValueError):
    """Raised when site.toml has an unknown key, a value of the wrong type or an unsafe URL."""


@dataclass(frozen=True)
class SiteConfig:
    """Settings of one site build.

    Attributes:
        title: site title, in every page's <title> and header.
        subtitle: one line under the title on the home page.
        intro: a paragraph of your own words on the home page, after the
            summary of the atlas that the gallery derives from the catalog.
        base_url: absolute http(s) URL the site will be served from (for the
            sitemap, canonical links and citations); empty when unknown.
        authors: citation authors, "First Last".
        year: citation year.
        license_name, license_url: the license of the images and text; the
            URL is http(s), mailto or relative.
        bibtex: BibTeX of the paper the atlas belongs to.
        citation_key: BibTeX key of that entry (cited from channel citations).
        pretty_urls: links end in ``/`` instead of ``/index.html``; pretty on a
            web server, but a directory link opens a listing from file://.
        thumb_px, view_px: longest side of grid thumbnails and of the view size.
        webp_quality: WebP quality of both derivatives.
        workers: processes for image derivatives.
        primary_method: render method shown in the grids (others appear on
            channel pages); empty picks the first image method in the atlas's
            display order (`vtl_gallery.pages.choose_primary`).
    """

    title: str = "Visualizing Transfer Learning"
    subtitle: str = ""
    intro: str = ""
    base_url: str = ""
    authors: tuple[str, ...] = ()
    year: int = 2020
    license_name: str = "CC BY 4.0"
    license_url: str = "https://creativecommons.org/licenses/by/4.0/"
    bibtex: str = ""
    citation_key: str = ""
    pretty_urls: bool = False
    thumb_px: int = 96
    view_px: int = 256
    webp_quality: int = 75
    workers: int = 2
    primary_method: str = ""

    @property
    def absolute_base(self) -> str:
        """`base_url` with exactly one trailing slash, or ``""``."""
        return self.base_url.rstrip("/") + "/" if self.base_url else ""


def load_config(path: Path | None, **overrides) -> SiteConfig:
    """Read site.toml (if it exists) over the defaults, then apply `overrides`.

    Args:
        path: the TOML file; None or a missing file keeps the defaults.
        **overrides: values from the command line; None values are ignored.

    Returns:
        The merged `SiteConfig`.

    Raises:
        ConfigError: naming an unknown key and the valid ones, a bad type,
            or a URL with a scheme other than those allowed.
    """
    values: dict = {}
    if path is not None and Path(path).is_file():
        with open(path, "rb") as handle:
            values = tomllib.load(handle)
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    fields = {f.name: f for f in dataclasses.fields(SiteConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"Unknown key(s) in {path}: {', '.join(unknown)}. Valid keys: {', '.join(fields)}.")
    if "authors" in values:
        values["authors"] = tuple(values["authors"])
    defaults = SiteConfig()
    for name, value in values.items():
        expected = type(getattr(defaults, name))
        if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
            raise ConfigError(
                f"{path}: {name} must be {expected.__name__}, received {value!r} ({type(value).__name__})."
            )
        if name.endswith("_url"):
            source = f"--{name.replace('_', '-')}" if name in given else str(path)
            _check_url(name, value, source)
    return dataclasses.replace(defaults, **values)


def _check_url(name: str, value: str, source: str) -> None:
    """Refuse a URL setting that could run script or leave the web (see `unsafe_url`)."""
    if name == "base_url":
        if not value:
            return
        schemes, relative = WEB_SCHEMES, False
    else:
        schemes, relative = LINK_SCHEMES, True
    reason = unsafe_url(value, schemes, relative=relative)
    if reason:
        raise ConfigError(
            f"{source}: {name} = {value!r} is refused: {reason}. Allowed: {allowed_text(schemes, relative)}."
        )
