"""Load a saved ``.keras``/``.h5`` model with every custom layer of the project known to Keras."""

from __future__ import annotations

import os

import keras

__all__ = ["load_saved_model"]


def load_saved_model(path: str | os.PathLike) -> keras.Model:
    """Load the model at `path`, uncompiled, after registering the project's custom layers.

    Keras finds a custom layer class only once its module has been imported:
    InceptionV1's layers (`visualizer.models.inception_v1`) and the trainable
    frozen graph of a frozen graph's transfers (`visualizer.models.frozen_trainable`).
    """
    import visualizer.models.frozen_trainable  # noqa: F401  (registers FrozenTrainableGraph)
    import visualizer.models.inception_v1  # noqa: F401  (registers InceptionV1's layers)

    return keras.saving.load_model(path, compile=False)
