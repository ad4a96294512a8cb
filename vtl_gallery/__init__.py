"""The static gallery generator: an atlas directory in, a ``dist/`` site out.

Reads only the atlas (``catalog.sqlite`` and its images, docs/formats.md),
``site_src/`` (Markdown pages and ``site.toml``) and ``templates/``; never
the model or Keras. The entry point is `vtl_gallery.build.build_site`.
"""

__version__ = "0.1.0"
