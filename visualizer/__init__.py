"""Compute side of the project: models, training, rendering, atlas."""

import os

__version__ = "0.1.0"

# TensorFlow reads these once, when it is first imported, so they are set here,
# before any module of the project imports it; the environment's own values win.
# - oneDNN's CPU kernels, which TensorFlow leaves off on CPUs without AVX-512:
#   a batched render step runs 1.07-1.4x faster with them (their max-pool
#   gradient is 3-4x faster than TensorFlow's own). TF_ENABLE_ONEDNN_OPTS=0
#   keeps TensorFlow's default.
# - oneDNN's cache of compiled kernels holds 1,024 by default; a render needs
#   one per operation and input size (11 sizes under Lucid's transforms), and
#   a deep layer's step misses the cache at the default size (up to 1.6x slower).
# Measurements: BENCHMARKS.md.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8192")
