"""Compute side of the project: models, training, rendering, atlas."""

import os

__version__ = "0.1.0"

# TensorFlow reads this once, when it is first imported, and leaves oneDNN off
# on CPUs without AVX-512. Its kernels make a batched render step up to 1.3x
# faster on such a CPU (its max-pool gradient is 3-4x faster than TensorFlow's
# own; BENCHMARKS.md), so the project turns it on unless the environment says
# otherwise (TF_ENABLE_ONEDNN_OPTS=0). Importing TensorFlow first keeps its default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
