"""Compute side of the project: models, training, rendering, atlas."""

__version__ = "0.1.0"
