"""Measurements of rendered images (spatial scale, ...)."""
