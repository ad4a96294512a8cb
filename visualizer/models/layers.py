"""The layer catalogue of the TF-slim InceptionV1: one table, every alias.

Every conv layer has one canonical id, the paper's and its website's
(``Mixed_4c_Branch_2_b_3x3``), and aliases that all resolve to it:

- the slim checkpoint scope, ``InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3``
  (note ``Mixed_5b/Branch_2/Conv2d_0a_3x3``, a quirk of the release);
- the graph op of a frozen slim graph,
  ``InceptionV1/InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3/Relu``;
- the short id of the paper's figure 6, ``4c_2_b_3x3``.

Block outputs (the concatenations) are catalogued too, with Lucid's
GoogLeNet names as aliases: slim ``Mixed_4c`` is Lucid's ``mixed4b``, the
slim names being shifted by one letter.

A channel is ``<layer id>:<index>``, as in Lucid.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from visualizer.errors import VtlError

__all__ = [
    "LayerSelectionError",
    "evenly_by_depth",
    "every_nth",
    "BLOCKS",
    "FIGURE6_SHORT_IDS",
    "FIGURE7_COUNT",
    "FIGURE7_IDS",
    "LAYERS",
    "PAPER_ORDER",
    "Block",
    "Layer",
    "UnknownLayerError",
    "figure6_layers",
    "figure7_layers",
    "parse_channel",
    "resolve",
    "resolve_layer",
]


@dataclass(frozen=True)
class Layer:
    """One conv layer (conv, batch norm, ReLU) of the network.

    Attributes:
        id: canonical id, e.g. ``Mixed_4c_Branch_2_b_3x3``; also the Keras
            name of the layer's ReLU output in models built by this package.
        slim_scope: checkpoint variable scope, e.g.
            ``InceptionV1/Mixed_4c/Branch_2/Conv2d_0b_3x3``.
        short_id: figure-6 style id, e.g. ``4c_2_b_3x3``.
        block: the block it belongs to (``Mixed_4c``), or ``stem``.
        channels: output channels of the full-width network.
        kernel: kernel size (1, 3 or 7).
        stride: conv stride.
        graph_index: position in graph order (0-based).
        paper_index: position in the paper's order (0-based).
    """

    id: str
    slim_scope: str
    short_id: str
    block: str
    channels: int
    kernel: int
    stride: int
    graph_index: int
    paper_index: int

    @property
    def graph_op(self) -> str:
        """Name of the post-ReLU op in a frozen slim graph (Lucid's naming)."""
        return "InceptionV1/" + self.slim_scope + "/Relu"

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every name that resolves to this layer, canonical id first."""
        return (self.id, self.slim_scope, self.graph_op, self.short_id)


@dataclass(frozen=True)
class Block:
    """A block output: the stem's last conv or an inception concatenation.

    Attributes:
        id: slim end point, e.g. ``Mixed_4c``; also the Keras layer name.
        lucid_name: Lucid GoogLeNet name, e.g. ``mixed4b``.
        graph_op: tensor name in a frozen slim graph.
        channels: output channels of the full-width network.
    """

    id: str
    lucid_name: str
    graph_op: str
    channels: int

    @property
    def aliases(self) -> tuple[str, ...]:
        """Every name that resolves to this block, canonical id first."""
        return (self.id, self.lucid_name, self.graph_op)


class UnknownLayerError(KeyError):
    """Raised when a layer name matches no id or alias in the catalogue."""

    def __init__(self, name: str, suggestions: list[str]):
        self.name = name
        self.suggestions = suggestions
        hint = ", ".join(suggestions) if suggestions else "run `vtl layers` for the list"
        super().__init__(f"Unknown layer {name!r}. Close matches: {hint}.")

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


# Inception blocks: name and channels of (B0 1x1, B1 1x1, B1 3x3, B2 1x1, B2 3x3, B3 1x1),
# from research/slim/nets/inception_v1.py (architectures.md, A.3).
_MIXED_BLOCKS: tuple[tuple[str, tuple[int, int, int, int, int, int]], ...] = (
    ("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    ("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    ("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    ("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    ("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    ("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    ("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    ("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)

# (branch, conv letter, kernel) of the six convs of a block, in graph order.
_BRANCH_CONVS: tuple[tuple[int, str, int], ...] = (
    (0, "a", 1),
    (1, "a", 1),
    (1, "b", 3),
    (2, "a", 1),
    (2, "b", 3),
    (3, "b", 1),
)

# The paper's (and its website's) order inside a block, as (branch, letter):
# the 1x1 convs that read the block input first.
_PAPER_BLOCK_ORDER: tuple[tuple[int, str], ...] = (
    (1, "a"),
    (2, "a"),
    (0, "a"),
    (1, "b"),
    (2, "b"),
    (3, "b"),
)

_STEM: tuple[tuple[str, int, int, int], ...] = (
    ("Conv2d_1a_7x7", 64, 7, 2),
    ("Conv2d_2b_1x1", 64, 1, 1),
    ("Conv2d_2c_3x3", 192, 3, 1),
)


def _slim_conv_name(block: str, branch: int, letter: str, kernel: int) -> str:
    # The release names Mixed_5b's second Branch_2 conv "Conv2d_0a_3x3".
    if block == "Mixed_5b" and branch == 2 and letter == "b":
        return "Conv2d_0a_3x3"
    return f"Conv2d_0{letter}_{kernel}x{kernel}"


def _build_catalogue() -> tuple[tuple[Layer, ...], tuple[Block, ...]]:
    rows: list[dict] = []
    for name, channels, kernel, stride in _STEM:
        rows.append(
            dict(
                id=name,
                slim_scope=f"InceptionV1/{name}",
                short_id=name.removeprefix("Conv2d_"),
                block="stem",
                channels=channels,
                kernel=kernel,
                stride=stride,
                paper_key=(len(rows),),
            )
        )
    for block_index, (block, widths) in enumerate(_MIXED_BLOCKS):
        for (branch, letter, kernel), channels in zip(_BRANCH_CONVS, widths):
            rows.append(
                dict(
                    id=f"{block}_Branch_{branch}_{letter}_{kernel}x{kernel}",
                    slim_scope=(
                        f"InceptionV1/{block}/Branch_{branch}/"
                        + _slim_conv_name(block, branch, letter, kernel)
                    ),
                    short_id=f"{block.removeprefix('Mixed_')}_{branch}_{letter}_{kernel}x{kernel}",
                    block=block,
                    channels=channels,
                    kernel=kernel,
                    stride=1,
                    paper_key=(
                        len(_STEM) + block_index,
                        _PAPER_BLOCK_ORDER.index((branch, letter)),
                    ),
                )
            )
    paper_rank = {
        row["id"]: rank
        for rank, row in enumerate(sorted(rows, key=lambda r: (r["paper_key"][0], r["paper_key"][1:])))
    }
    layers = tuple(
        Layer(
            id=row["id"],
            slim_scope=row["slim_scope"],
            short_id=row["short_id"],
            block=row["block"],
            channels=row["channels"],
            kernel=row["kernel"],
            stride=row["stride"],
            graph_index=index,
            paper_index=paper_rank[row["id"]],
        )
        for index, row in enumerate(rows)
    )

    blocks: list[Block] = []
    for block, widths in _MIXED_BLOCKS:
        # slim Mixed_3b is Lucid's mixed3a: the letter shifts down by one.
        lucid = f"mixed{block[6]}{chr(ord(block[7]) - 1)}"
        channels = widths[0] + widths[2] + widths[4] + widths[5]
        blocks.append(Block(block, lucid, f"InceptionV1/InceptionV1/{block}/concat", channels))
    return layers, tuple(blocks)


LAYERS, BLOCKS = _build_catalogue()
"""The 57 conv layers in graph order, and the 9 inception block outputs."""

PAPER_ORDER: tuple[Layer, ...] = tuple(sorted(LAYERS, key=lambda layer: layer.paper_index))
"""The 57 conv layers in the order of the paper and its website."""

_BY_ALIAS: dict[str, Layer | Block] = {}
for _entry in (*LAYERS, *BLOCKS):
    for _alias in _entry.aliases:
        _BY_ALIAS[_alias] = _entry
        _BY_ALIAS.setdefault(_alias.lower(), _entry)
# Tensor names with an output index, as Lucid writes them.
for _entry in (*LAYERS, *BLOCKS):
    _BY_ALIAS[_entry.graph_op + ":0"] = _entry


def resolve(name: str) -> Layer | Block:
    """Resolve any id or alias to its catalogue entry.

    Args:
        name: a canonical layer id, slim scope, frozen-graph op name, short
            id, block id or Lucid block name (case-insensitive).

    Returns:
        The `Layer` or `Block`.

    Raises:
        UnknownLayerError: naming the closest known ids.
    """
    entry = _BY_ALIAS.get(name) or _BY_ALIAS.get(name.lower())
    if entry is None:
        raise UnknownLayerError(name, close_matches(name))
    return entry


def resolve_layer(name: str) -> Layer:
    """Like `resolve`, but only conv layers (not block outputs) are accepted."""
    entry = resolve(name)
    if not isinstance(entry, Layer):
        raise UnknownLayerError(name, [layer.id for layer in LAYERS if layer.block == entry.id])
    return entry


def close_matches(name: str, limit: int = 5) -> list[str]:
    """Return up to `limit` canonical ids whose aliases look like `name`."""
    scored: dict[str, float] = {}
    for alias, entry in _BY_ALIAS.items():
        ratio = difflib.SequenceMatcher(None, name.lower(), alias.lower()).ratio()
        scored[entry.id] = max(scored.get(entry.id, 0.0), ratio)
    ranked = sorted(scored, key=lambda key: -scored[key])
    return [key for key in ranked[:limit] if scored[key] > 0.5] or ranked[:3]


def parse_channel(text: str) -> tuple[Layer, int]:
    """Parse ``<layer alias>:<index>`` (Lucid's channel notation).

    Returns:
        The layer and the channel index (checked against the full-width
        network's channel count).

    Raises:
        ValueError: if the text has no ``:<index>`` or the index is out of range.
        UnknownLayerError: if the layer is unknown.
    """
    name, sep, index_text = text.rpartition(":")
    if not sep or not index_text.isdigit():
        raise ValueError(f"Expected a channel as '<layer>:<index>', received {text!r}.")
    layer = resolve_layer(name)
    index = int(index_text)
    if index >= layer.channels:
        raise ValueError(
            f"Channel {index} is out of range for {layer.id}: valid indices are 0..{layer.channels - 1}."
        )
    return layer, index


FIGURE6_SHORT_IDS: tuple[str, ...] = (
    "4c_2_b_3x3",
    "4d_3_b_1x1",
    "4e_2_a_1x1",
    "4f_1_a_1x1",
    "5b_3_b_1x1",
    "5c_0_a_1x1",
)
"""The layers of the paper's figure 6 (the temporal CelebA run), panels (a) to (f), as printed."""

FIGURE7_IDS: tuple[str, ...] = (
    "Conv2d_2b_1x1",
    "Mixed_3b_Branch_3_b_1x1",
    "Mixed_4b_Branch_1_a_1x1",
    "Mixed_4c_Branch_2_a_1x1",
    "Mixed_4d_Branch_0_a_1x1",
    "Mixed_4e_Branch_1_b_3x3",
    "Mixed_4f_Branch_2_b_3x3",
    "Mixed_5b_Branch_3_b_1x1",
)
"""The eight layers the paper's figure 7 prints, top to bottom.

They are every 7th layer of `PAPER_ORDER` from its second (0-based indices
1, 8, ..., 50; paper positions 2, 9, ..., 51 of 57). The caption says the
selection ends "with the deepest layer", which its own list does not
(Mixed_5c_Branch_3_b_1x1, position 57, is not in it): the list is followed.
"""

FIGURE7_COUNT = len(FIGURE7_IDS)
"""Layers in a figure 7: the paper's eight, or eight evenly spaced by depth in another network."""


def figure6_layers() -> list[Layer]:
    """The six layers of the paper's figure 6, panels (a) to (f)."""
    return [resolve_layer(short) for short in FIGURE6_SHORT_IDS]


def figure7_layers() -> list[Layer]:
    """The eight layers of the paper's figure 7 (`FIGURE7_IDS`), in the paper's order."""
    return [resolve_layer(layer_id) for layer_id in FIGURE7_IDS]


class LayerSelectionError(VtlError, ValueError):
    """A plan's layer selector that is not a valid choice, or that selects nothing."""


T = TypeVar("T")


def every_nth(catalogue: Sequence[T], text: str) -> list[T]:
    """The layers an ``"every:N"`` selector picks: the Nth, 2Nth, ... of `catalogue`.

    Raises:
        LayerSelectionError: N is not a whole number >= 1, or exceeds the catalogue's length.
    """
    step_text = text.partition(":")[2]
    if not (step_text.isdigit() and int(step_text) > 0):
        raise LayerSelectionError(f"Invalid layers selector {text!r}: 'every:N' needs a whole number N >= 1.")
    step = int(step_text)
    if step > len(catalogue):
        raise LayerSelectionError(
            f"Layers selector {text!r} selects nothing: the catalogue has {len(catalogue)} layers."
        )
    return list(catalogue[step - 1 :: step])


def evenly_by_depth(catalogue: Sequence[T], count: int) -> list[T]:
    """The deepest of each of `count` equal runs of `catalogue` (graph order), so the deepest of all is last.

    A network other than InceptionV1 has no paper layers: its ``"figure7"``
    selector, and the gallery's figure 7 of it, take these. All of them when
    there are `count` or fewer.
    """
    total = len(catalogue)
    if total <= count:
        return list(catalogue)
    return [catalogue[((part + 1) * total + count - 1) // count - 1] for part in range(count)]
