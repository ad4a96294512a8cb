"""Objectives: values that name themselves and add and scale like numbers.

An objective maps ``T`` (a function from a layer name to that layer's
activations, NHWC) to one value per image, shape ``[batch]``; the renderer
maximizes their sum. Lucid's objectives return one scalar for the batch
(``channel`` averages over the batch too); returning per-image values
instead keeps batched renders independent and lets the renderer report each
image's value. Every operator returns a new `Objective`, so a reused
objective never changes under you.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from keras import ops

__all__ = [
    "Objective",
    "as_objective",
    "channel",
    "channels",
    "check_group",
    "diversity",
    "neuron",
    "neurons",
]

Tensor = Any
LayerFn = Callable[[str], Tensor]

L2_NORMALIZE_EPSILON = 1e-10  # tf.nn.l2_normalize's default, on the squared norm


class Objective:
    """A differentiable goal: ``T -> [batch]`` values to maximize.

    Args:
        fn: maps ``T`` to per-image values.
        name: self-description, e.g. ``"channel Mixed_4c_Branch_2_b_3x3:17"``.
        layers: the layer names `fn` reads.
    """

    def __init__(self, fn: Callable[[LayerFn], Tensor], name: str, layers: Iterable[str] = ()):
        self.fn = fn
        self.name = name
        self.layers = tuple(dict.fromkeys(layers))

    def __call__(self, T: LayerFn) -> Tensor:
        """Return the per-image values, shape ``[batch]``."""
        return self.fn(T)

    def __repr__(self) -> str:
        return f"Objective({self.name!r})"

    def __str__(self) -> str:
        return self.name

    def __add__(self, other: Objective | float) -> Objective:
        if isinstance(other, (int, float)):
            if other == 0:
                return Objective(self.fn, self.name, self.layers)
            return Objective(lambda T: self(T) + other, f"{self.name} + {other:g}", self.layers)
        if not isinstance(other, Objective):
            return NotImplemented
        sign, text = ("-", other.name[1:]) if other.name.startswith("-") else ("+", other.name)
        return Objective(
            lambda T: self(T) + other(T), f"{self.name} {sign} {text}", self.layers + other.layers
        )

    def __radd__(self, other: float) -> Objective:
        # sum() starts from 0.
        return self + other

    def __neg__(self) -> Objective:
        return -1 * self

    def __sub__(self, other: Objective | float) -> Objective:
        return self + (-other)

    def __rsub__(self, other: float) -> Objective:
        return (-self) + other

    def __mul__(self, other: float) -> Objective:
        if not isinstance(other, (int, float)):
            return NotImplemented
        if other == -1:
            name = f"-{_grouped(self.name)}"
        else:
            name = f"{other:g} * {_grouped(self.name)}"
        return Objective(lambda T: other * self(T), name, self.layers)

    def __rmul__(self, other: float) -> Objective:
        return self * other

    def __truediv__(self, other: float) -> Objective:
        return self * (1.0 / other)

    @staticmethod
    def sum(objectives: Iterable[Objective]) -> Objective:
        """Add objectives (Lucid's ``Objective.sum``)."""
        total: Objective | None = None
        for objective in objectives:
            total = objective if total is None else total + objective
        if total is None:
            raise ValueError("Objective.sum needs at least one objective.")
        return total


def _grouped(name: str) -> str:
    return f"({name})" if (" + " in name or " - " in name) else name


def _batch_mask(values: Tensor, batch: int | None) -> Tensor:
    if batch is None:
        return values
    return values * ops.one_hot(batch, ops.shape(values)[0], dtype=values.dtype)


def _suffix(batch: int | None) -> str:
    return "" if batch is None else f" [batch {batch}]"


def channel(layer: str, n: int, batch: int | None = None) -> Objective:
    """Spatial mean of channel `n` of `layer` (the paper's average-pooled channel).

    Args:
        layer: layer name.
        n: channel index.
        batch: only this batch slot counts (others get 0); None: every image.

    Returns:
        The objective, named ``"channel <layer>:<n>"``.
    """
    return Objective(
        lambda T: _batch_mask(ops.mean(T(layer)[..., n], axis=(1, 2)), batch),
        f"channel {layer}:{n}{_suffix(batch)}",
        (layer,),
    )


def _names(layer: str, ns: Any) -> str:
    if isinstance(ns, (list, tuple, np.ndarray)):
        return f"{layer}:{[int(n) for n in np.asarray(ns).reshape(-1)]}"
    return f"{layer}:<per slot>"  # a tensor, e.g. inside a traced step


def channels(layer: str, ns: Sequence[int] | Tensor) -> Objective:
    """One channel per batch slot: image b maximizes the spatial mean of channel ``ns[b]``.

    Equal to ``Objective.sum(channel(layer, n, batch=b) for b, n in enumerate(ns))``,
    but one gather instead of one slice per slot; `ns` may be a tensor, so a
    compiled step serves every chunk of channels.

    Args:
        layer: layer name.
        ns: channel index per slot, length = batch.

    Returns:
        The objective, named ``"channels <layer>:[...]"``.
    """

    def fn(T: LayerFn) -> Tensor:
        means = ops.mean(T(layer), axis=(1, 2))
        index = ops.reshape(ops.convert_to_tensor(ns, "int32"), (-1, 1))
        return ops.take_along_axis(means, index, axis=1)[:, 0]

    return Objective(fn, f"channels {_names(layer, ns)}", (layer,))


def _centre(acts: Tensor, x: int | None, y: int | None) -> Tensor:
    # Lucid's naming: x indexes rows (axis 1), y columns (axis 2).
    shape = ops.shape(acts)
    row = shape[1] // 2 if x is None else x
    col = shape[2] // 2 if y is None else y
    return acts[:, row, col, :]


def neuron(
    layer: str, n: int, x: int | None = None, y: int | None = None, batch: int | None = None
) -> Objective:
    """Channel `n` at one position, the centre by default (Lucid's ``neuron``).

    Args:
        layer: layer name.
        n: channel index.
        x: row (Lucid's naming), default ``H // 2``.
        y: column, default ``W // 2`` (for even sizes: bottom-right of the central 2x2).
        batch: only this batch slot counts; None: every image.

    Returns:
        The objective, named ``"neuron <layer>:<n>"``.
    """
    where = "" if x is None and y is None else f" at ({x}, {y})"
    return Objective(
        lambda T: _batch_mask(_centre(T(layer), x, y)[:, n], batch),
        f"neuron {layer}:{n}{where}{_suffix(batch)}",
        (layer,),
    )


def neurons(layer: str, ns: Sequence[int] | Tensor) -> Objective:
    """One centre neuron per batch slot: image b maximizes channel ``ns[b]`` at the centre.

    Args:
        layer: layer name.
        ns: channel index per slot.

    Returns:
        The objective, named ``"neurons <layer>:[...]"``.
    """

    def fn(T: LayerFn) -> Tensor:
        index = ops.reshape(ops.convert_to_tensor(ns, "int32"), (-1, 1))
        return ops.take_along_axis(_centre(T(layer), None, None), index, axis=1)[:, 0]

    return Objective(fn, f"neurons {_names(layer, ns)}", (layer,))


def check_group(group: Any, name: str = "group") -> None:
    """Raise ValueError unless `group` is None or a positive integer (`name` is the argument's name)."""
    if group is not None and (isinstance(group, bool) or not isinstance(group, int) or group < 1):
        raise ValueError(f"{name} must be None or a positive integer, received {name}={group!r}.")


def diversity(layer: str, group: int | None = None) -> Objective:
    """Lucid's diversity: how similar each image's Gram matrix is to the others'.

    For image b, ``(1/B) * sum_{j != b} <G_b, G_j>`` with each Gram matrix
    ``G = A^T A`` (A: positions x channels) L2-normalized; the values sum to
    Lucid's batch value. It is a similarity: subtract it to diversify, e.g.
    ``channel(L, 9) - 100 * diversity(L)``.

    Args:
        layer: layer name.
        group: compare each image only with the others of its group of
            `group` consecutive images, and take B as `group`, so that one
            batch renders several channels, `group` diverse images each; the
            batch size must be a multiple of it. None: the whole batch is
            one group, as in Lucid.

    Returns:
        The objective, named ``"diversity <layer>"`` (``"... in groups of
        <group>"`` when grouped).
    """
    check_group(group)

    def fn(T: LayerFn) -> Tensor:
        acts = T(layer)
        batch, channels_ = ops.shape(acts)[0], ops.shape(acts)[-1]
        if group is not None and isinstance(acts.shape[0], int) and acts.shape[0] % group:
            raise ValueError(
                f"diversity in groups of {group} needs a batch that is a multiple of {group}; "
                f"received a batch of {acts.shape[0]}."
            )
        size = batch if group is None else group
        flat = ops.reshape(acts, (batch, -1, channels_))
        gram = ops.reshape(ops.matmul(ops.transpose(flat, (0, 2, 1)), flat), (batch, -1))
        squared = ops.sum(gram * gram, axis=1, keepdims=True)
        gram = gram / ops.sqrt(ops.maximum(squared, L2_NORMALIZE_EPSILON))
        gram = ops.reshape(gram, (-1, size, ops.shape(gram)[-1]))
        similarity = ops.matmul(gram, ops.transpose(gram, (0, 2, 1)))
        others = ops.sum(similarity, axis=2) - ops.diagonal(similarity, axis1=1, axis2=2)
        return ops.reshape(others, (batch,)) / ops.cast(size, others.dtype)

    suffix = "" if group is None else f" in groups of {group}"
    return Objective(fn, f"diversity {layer}{suffix}", (layer,))


def as_objective(spec: Objective | str) -> Objective:
    """Turn ``"<layer>:<n>"`` into ``channel(layer, n)``; pass objectives through."""
    if isinstance(spec, Objective):
        return spec
    layer, sep, index = spec.rpartition(":")
    if not sep or not index.isdigit():
        raise ValueError(f"Expected an Objective or '<layer>:<channel>', received {spec!r}.")
    return channel(layer, int(index))
