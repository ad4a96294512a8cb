"""A small InceptionV1 with fixed random weights, for Lucid to run as a frozen TF1 GraphDef.

The Lucid parity tests need Lucid (in a TF1-style subprocess) and this
project's renderer (Keras) to optimize exactly the same function. Both get the
project's own network, `visualizer.models.inception_v1.build`, at a small
width and with seeded random weights: Keras uses the model directly, Lucid
imports the same model frozen by `visualizer.models.frozen_graph.export_frozen_graph`
to a GraphDef whose placeholder ``input`` (``[None, None, None, 3]``) takes
images in [0, 1], exactly what the Keras model takes (it maps them to slim's
[-1, 1] itself). So the Lucid ``Model`` subclass that loads the graph must use
``image_value_range = (0, 1)``: Lucid maps its [0, 1] image with
``lo + x * (hi - lo)``, which is then the identity.

Every ReLU in the Keras model is a ``Relu`` op in the frozen graph, so Lucid's
redirected-ReLU gradient override applies to all of them, as it would to a
real model.
"""

from __future__ import annotations

import keras
import numpy as np

from visualizer.models import inception_v1

__all__ = ["build_model"]


def build_model(width: float = 0.125, seed: int = 0) -> keras.Model:
    """Build the project's InceptionV1 at `width` with seeded random weights.

    Keras' own initializers (truncated normal, stddev 0.01, and unit batch-norm
    statistics) make activations shrink by orders of magnitude per layer; a
    He-scaled kernel and random batch-norm statistics (the same recipe as
    ``slim_reference.py``) keep them of order one, so that Adam's epsilon and
    float32 rounding play no part in the comparison.

    Args:
        width: channel multiplier passed to `inception_v1.build`.
        seed: seed of the NumPy generator that draws every weight.

    Returns:
        The full model (logits head), images in [0, 1] of any size in.
    """
    model = inception_v1.build(width=width)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for variable in layer.weights:
            shape = tuple(variable.shape)
            name = variable.path.rsplit("/", 1)[-1]
            if name == "moving_variance":
                value = rng.uniform(0.5, 2.0, shape)
            elif name in ("moving_mean", "beta", "bias"):
                value = rng.normal(0.0, 0.2, shape)
            else:
                fan_in = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
                value = rng.normal(0.0, (2.0 / fan_in) ** 0.5, shape)
            variable.assign(value.astype("float32"))
    return model
