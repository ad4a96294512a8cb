"""Read an atlas directory (docs/formats.md) into plain, validated objects.

The catalog is opened read-only. Every key component that becomes part of a
path or URL (model, snapshot, method, layer id, variant) is checked against
the key grammar the atlas records (meta ``key_pattern``), and every image
path must be the one its key implies by the recorded path format (meta
``path_format``): an atlas that breaks its contract is refused with
`UnsafeAtlasError` before anything is written. The gallery does not import
the visualizer: for atlases written before those rules were recorded, it
keeps one copy of each, `KEY_PATTERN` and `PATH_FORMAT`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import string
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

__all__ = [
    "INCEPTION_V1",
    "KEY_PATTERN",
    "PATH_FORMAT",
    "Atlas",
    "AtlasError",
    "ImageRow",
    "KeyRules",
    "LayerRow",
    "MethodRow",
    "ModelRow",
    "NetworkRow",
    "SnapshotRow",
    "UnsafeAtlasError",
    "check_component",
    "read_atlas",
]

INCEPTION_V1 = "inception_v1"
"""The network id of the slim InceptionV1 and its transfers (`visualizer.atlas.networks`)."""

KEY_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"
"""The key grammar (docs/formats.md) of atlases that do not record theirs, and of site_src page names:
letters, digits, ``_``, ``.`` and ``-``, not starting with a dot or a dash."""
PATH_FORMAT = "images/{model}/{snapshot}/{method}/{layer}/{channel:04d}{suffix}.png"
"""The image path format of atlases that do not record theirs; ``suffix`` is ``~<variant>`` or empty."""

_SAFE = re.compile(KEY_PATTERN)
# Whatever grammar an atlas records, a key component must stay one plain path segment, not hidden.
_SEGMENT = re.compile(r"[^./\\\x00][^/\\\x00]*")
_PATH_FIELDS = ("model", "snapshot", "method", "layer", "channel", "suffix")


class AtlasError(RuntimeError):
    """Raised when the atlas directory or its catalog cannot be read."""


class UnsafeAtlasError(AtlasError):
    """Raised when a catalog value could leave dist/ or is not a valid key component."""


def check_component(
    value: object, what: str, *, allow_empty: bool = False, pattern: re.Pattern[str] | None = None
) -> str:
    """Return `value` if it is a safe path component, else raise.

    Args:
        value: the catalog value.
        what: what it is, for the error message (``"layer id"``).
        allow_empty: accept ``""`` (the default variant).
        pattern: the key grammar to match in full (default: `KEY_PATTERN`).
            Whatever it allows, a value must also be one path segment that
            is not ``.``, ``..`` or hidden.

    Raises:
        UnsafeAtlasError: naming the value and the grammar.
    """
    if allow_empty and value == "":
        return ""
    pattern = pattern or _SAFE
    if not isinstance(value, str) or not pattern.fullmatch(value) or not _SEGMENT.fullmatch(value):
        raise UnsafeAtlasError(
            f"Refusing {what} {value!r} from the catalog: key components must match {pattern.pattern} "
            "(docs/formats.md) and be one path segment, so that no path leaves dist/."
        )
    return value


@dataclass(frozen=True)
class KeyRules:
    """The key grammar and the image path format an atlas was written with (meta, else the fallbacks).

    Attributes:
        pattern: the key grammar, matched in full.
        path_format: the image path relative to the atlas, with the fields
            model, snapshot, method, layer, channel and suffix.
    """

    pattern: re.Pattern[str]
    path_format: str

    @classmethod
    def from_meta(cls, meta: dict[str, str]) -> KeyRules:
        """The rules the ``meta`` table records, each falling back to this package's copy.

        Raises:
            UnsafeAtlasError: a recorded rule that is not a regular expression
                or names a field other than the key's.
        """
        text = meta.get("key_pattern") or KEY_PATTERN
        try:
            pattern = re.compile(text)
        except re.error as error:
            raise UnsafeAtlasError(f"Refusing the atlas's key_pattern {text!r}: {error}.") from error
        path_format = meta.get("path_format") or PATH_FORMAT
        try:
            fields = [name for _, name, _, _ in string.Formatter().parse(path_format) if name is not None]
        except ValueError as error:
            raise UnsafeAtlasError(f"Refusing the atlas's path_format {path_format!r}: {error}.") from error
        if not set(fields) <= set(_PATH_FIELDS):
            raise UnsafeAtlasError(
                f"Refusing the atlas's path_format {path_format!r}: its fields must be among "
                f"{', '.join(_PATH_FIELDS)}."
            )
        return cls(pattern, path_format)

    def check(self, value: object, what: str, *, allow_empty: bool = False) -> str:
        """`check_component` with this atlas's grammar."""
        return check_component(value, what, allow_empty=allow_empty, pattern=self.pattern)

    def path(self, row: ImageRow) -> str:
        """The path an image's key implies."""
        values = {
            "model": row.model,
            "snapshot": row.snapshot,
            "method": row.method,
            "layer": row.layer,
            "channel": row.channel,
            "suffix": f"~{row.variant}" if row.variant else "",
        }
        parts = []
        # Field by field, never str.format: a recorded format must not reach attributes of the values.
        for literal, name, spec, _conversion in string.Formatter().parse(self.path_format):
            parts.append(literal)
            if name is None:
                continue
            try:
                parts.append(format(values[name], spec or ""))
            except (KeyError, ValueError) as error:
                raise UnsafeAtlasError(
                    f"Refusing the atlas's path_format {self.path_format!r}: {error}."
                ) from error
        return "".join(parts)


@dataclass(frozen=True)
class ModelRow:
    """One row of ``models``; `network` is always set (inferred for catalogs that do not record it)."""

    name: str
    dataset: str
    dataset_kind: str
    parent: str | None
    description: str
    num_classes: int | None
    width: float | None
    network: str = INCEPTION_V1
    network_label: str = ""
    network_layers: int | None = None


@dataclass(frozen=True)
class NetworkRow:
    """One network of the atlas: the models that share a layer catalogue.

    Attributes:
        id: the network id (``inception_v1``, ``efficientnet_lite0``, a model's slug).
        label: how pages name it (``"InceptionV1"``, ``"EfficientNet-Lite0"``).
        layers_total: layers in its catalogue; None where the atlas does not record it.
    """

    id: str
    label: str
    layers_total: int | None


@dataclass(frozen=True)
class SnapshotRow:
    """One row of ``snapshots``."""

    model: str
    snapshot: str
    iteration: int | None
    is_final: bool
    metric_name: str | None
    metric: float | None


@dataclass(frozen=True)
class LayerRow:
    """One row of ``layers``, with the Lucid name of its block.

    InceptionV1's rows have the slim facts (scope, short id, graph op, block,
    paper index); another network's have ``""`` or None there, and its
    catalogue's kind, aliases, stride and receptive field instead.
    """

    id: str
    slim_scope: str
    short_id: str
    graph_op: str
    block: str
    channels: int
    kernel: int | None
    graph_index: int
    paper_index: int | None
    network: str = INCEPTION_V1
    kind: str = ""
    aliases: tuple[str, ...] = ()
    stride: int | None = None
    receptive_field: int | None = None
    grid_stride: int | None = None

    @property
    def key(self) -> tuple[str, str]:
        """(network, id): what names a layer across networks."""
        return (self.network, self.id)

    @property
    def lucid_block(self) -> str:
        """Lucid's GoogLeNet name of the block (slim ``Mixed_4c`` is ``mixed4b``), or ``""``."""
        match = re.fullmatch(r"Mixed_(\d)([b-z])", self.block or "")
        if not match:
            return ""
        return f"mixed{match.group(1)}{chr(ord(match.group(2)) - 1)}"


@dataclass(frozen=True)
class MethodRow:
    """One row of ``methods``: how the gallery shows a method.

    Attributes:
        name: the method.
        kind: ``"image"`` or ``"sheet"`` (a contact sheet); grids show images first.
        description: one line of text about what the method's images show.
        display_order: position in lists, lower first.
    """

    name: str
    kind: str
    description: str
    display_order: int


@dataclass(frozen=True)
class ImageRow:
    """One row of ``images`` plus its ``metrics``."""

    path: str
    model: str
    snapshot: str
    method: str
    layer: str
    channel: int
    variant: str
    objective: float | None
    size: int | None
    steps: int | None
    seed: int | None
    settings: str
    sha256: str
    bytes: int | None
    created: str
    metrics: tuple[tuple[str, float], ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str, int, str]:
        """(model, snapshot, method, layer, channel, variant)."""
        return (self.model, self.snapshot, self.method, self.layer, self.channel, self.variant)


@dataclass
class Atlas:
    """Everything the site shows, read from one atlas directory.

    Attributes:
        root: the atlas directory.
        meta: the ``meta`` table.
        models: by name, in catalog order (parents before children).
        snapshots: per model, ordered by iteration (final last).
        layers: by (network, id), every layer of the ``layers`` table of a network the models have.
        model_layers: (model, layer) -> channel count in that model.
        images: every image, ordered by key.
        methods: by name, the ``methods`` table (empty for an atlas without one).
    """

    root: Path
    meta: dict[str, str]
    models: dict[str, ModelRow]
    snapshots: dict[str, list[SnapshotRow]]
    layers: dict[tuple[str, str], LayerRow]
    model_layers: dict[tuple[str, str], int]
    images: list[ImageRow] = field(default_factory=list)
    methods: dict[str, MethodRow] = field(default_factory=dict)
    networks: dict[str, NetworkRow] = field(default_factory=dict)

    def network_of(self, model: str) -> str:
        """The network id of a model of the atlas."""
        row = self.models.get(model)
        return row.network if row is not None else INCEPTION_V1

    def figure_layers(self, figure: int) -> list[str] | None:
        """The layer ids of the paper's figure 6 or 7 the atlas records (meta ``figureN_layers``), or None.

        Raises:
            AtlasError: the recorded value is not a JSON list of strings.
        """
        text = self.meta.get(f"figure{figure}_layers")
        if text is None:
            return None
        try:
            ids = json.loads(text)
        except ValueError as error:
            raise AtlasError(f"meta figure{figure}_layers is not JSON: {error}") from error
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise AtlasError(f"meta figure{figure}_layers must be a list of layer ids, received {text!r}")
        return ids

    def source(self, image: ImageRow) -> Path:
        """Absolute path of an image's PNG."""
        return self.root / image.path


def _connect(path: Path) -> sqlite3.Connection:
    # mode=ro never writes; immutable=1 is the fallback for a WAL database on a
    # read-only medium, where SQLite cannot create the -shm file.
    uri = path.resolve().as_uri()
    try:
        db = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        return sqlite3.connect(f"{uri}?immutable=1", uri=True)


def read_atlas(root: str | Path) -> Atlas:
    """Read and validate an atlas directory.

    Args:
        root: directory holding ``catalog.sqlite`` and ``images/``.

    Returns:
        The `Atlas`.

    Raises:
        AtlasError: when the catalog is missing or lacks a table.
        UnsafeAtlasError: when a key component or image path breaks the contract.
    """
    root = Path(root)
    catalog = root / "catalog.sqlite"
    if not catalog.is_file():
        raise AtlasError(
            f"No catalog at {catalog}. Render an atlas first (`vtl render`) or rebuild "
            "its catalog (`vtl catalog rebuild --atlas DIR`)."
        )
    db = _connect(catalog)
    try:
        return _read(db, root)
    except sqlite3.OperationalError as error:
        raise AtlasError(
            f"Cannot read {catalog}: {error} (expected the schema of docs/formats.md)."
        ) from error
    finally:
        db.close()


def _read(db: sqlite3.Connection, root: Path) -> Atlas:
    meta = dict(db.execute("SELECT key, value FROM meta"))
    rules = KeyRules.from_meta(meta)
    model_columns, layer_columns = _columns(db, "models"), _columns(db, "layers")
    network_fields = ("network", "network_label", "network_layers")
    recorded = [name if name in model_columns else "NULL" for name in network_fields]
    models: dict[str, ModelRow] = {}
    for row in db.execute(
        "SELECT name, dataset, dataset_kind, parent, description, num_classes, width, "
        f"{', '.join(recorded)} FROM models ORDER BY name"
    ):
        network = rules.check(row[7], "network id") if row[7] else ""
        model = ModelRow(
            rules.check(row[0], "model name"), *(row[1:3]), row[3] or None, *row[4:7], network, *row[8:]
        )
        models[model.name] = model
    models = _parents_first(models)

    snapshots: dict[str, list[SnapshotRow]] = defaultdict(list)
    for row in db.execute(
        "SELECT model, snapshot, iteration, is_final, metric_name, metric FROM snapshots "
        "ORDER BY model, is_final, iteration, snapshot"
    ):
        rules.check(row[1], "snapshot name")
        snapshots[row[0]].append(SnapshotRow(row[0], row[1], row[2], bool(row[3]), row[4], row[5]))

    layers: dict[tuple[str, str], LayerRow] = {}
    extra = ("network", "kind", "aliases", "stride", "receptive_field", "grid_stride")
    selected = [name if name in layer_columns else "NULL" for name in extra]
    for row in db.execute(
        "SELECT id, slim_scope, short_id, graph_op, block, channels, kernel, graph_index, paper_index, "
        f"{', '.join(selected)} FROM layers ORDER BY paper_index, graph_index, id"
    ):
        network = rules.check(row[9], "network id") if row[9] else INCEPTION_V1
        layer = LayerRow(
            rules.check(row[0], "layer id"), *row[1:9], network, row[10] or "", _aliases(row[11]), *row[12:]
        )
        layers[layer.key] = layer
    model_layers = {
        (m, layer): n for m, layer, n in db.execute("SELECT model, layer, channels FROM model_layers")
    }

    metrics: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for path, name, value in db.execute("SELECT path, name, value FROM metrics ORDER BY path, name"):
        metrics[path].append((name, value))

    images: list[ImageRow] = []
    resolved_root = root.resolve()
    for row in db.execute(
        "SELECT path, model, snapshot, method, layer, channel, variant, objective, size, steps, seed, "
        "settings, sha256, bytes, created FROM images "
        "ORDER BY model, snapshot, method, layer, channel, variant"
    ):
        image = ImageRow(*row[:6], row[6] or "", *row[7:], metrics=tuple(metrics.get(row[0], ())))
        _validate_image(image, resolved_root, rules)
        images.append(image)
        if image.model not in models:  # an image of a model the models table forgot: show it anyway
            models[image.model] = ModelRow(image.model, "", "", None, "", None, None, "")
    models = _with_networks(models, images, layers)
    for image in images:
        key = (models[image.model].network, image.layer)
        if key not in layers:
            layers[key] = LayerRow(image.layer, "", "", "", "", 0, None, 10_000, None, key[0])
    networks = _networks(models, layers)
    layers = {key: row for key, row in layers.items() if key[0] in networks or not networks}
    for name in models:
        if name not in snapshots:
            snapshots[name] = [
                SnapshotRow(name, snap, None, snap == "final", None, None)
                for snap in sorted({i.snapshot for i in images if i.model == name})
            ]
    return Atlas(
        root, meta, models, dict(snapshots), layers, model_layers, images, _read_methods(db), networks
    )


def _columns(db: sqlite3.Connection, table: str) -> set[str]:
    """The column names of a table (an older catalog lacks the newer ones)."""
    return {row[1] for row in db.execute(f"PRAGMA table_info({table})")}


def _aliases(text: str | None) -> tuple[str, ...]:
    """A layer's recorded aliases (a JSON list), or () when there are none or they are not a list."""
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return ()
    return tuple(str(name) for name in value) if isinstance(value, list) else ()


def _with_networks(
    models: dict[str, ModelRow], images: list[ImageRow], layers: dict[tuple[str, str], LayerRow]
) -> dict[str, ModelRow]:
    """`models`, each with its network: the recorded one, else inferred (docs/formats.md).

    A model that records none (a catalog written before networks were
    recorded) has its parent's network; a root model is InceptionV1 when it
    records a width or all of its images' layers are InceptionV1's, else the
    network named after it.
    """
    inception = {layer_id for network, layer_id in layers if network == INCEPTION_V1}
    own_layers: dict[str, set[str]] = defaultdict(set)
    for image in images:
        own_layers[image.model].add(image.layer)

    def infer(name: str, seen: tuple[str, ...] = ()) -> tuple[str, str]:
        row = models[name]
        if row.network:
            return row.network, row.network_label
        if row.parent in models and row.parent not in seen:
            return infer(row.parent, (*seen, name))
        if row.width is not None or (own_layers[name] and own_layers[name] <= inception):
            return INCEPTION_V1, ""
        return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or name, name

    result = {}
    for name, row in models.items():
        network, label = infer(name)
        result[name] = replace(row, network=network, network_label=row.network_label or label)
    return result


def _networks(models: dict[str, ModelRow], layers: dict[tuple[str, str], LayerRow]) -> dict[str, NetworkRow]:
    """The networks of the models, InceptionV1 first, then in model order; labelled as their models say."""
    order = sorted(
        dict.fromkeys(row.network for row in models.values()), key=lambda network: network != INCEPTION_V1
    )
    result = {}
    for network in order:
        rows = [row for row in models.values() if row.network == network]
        label = next((row.network_label for row in rows if row.network_label), "")
        total = next((row.network_layers for row in rows if row.network_layers), None)
        if network == INCEPTION_V1:
            label = label or _inception_label(rows)
            total = total or sum(1 for key in layers if key[0] == INCEPTION_V1) or None
        result[network] = NetworkRow(network, label or network, total)
    return result


def _inception_label(rows: list[ModelRow]) -> str:
    """InceptionV1's label from its models' widths (catalogs that do not record it)."""
    widths = sorted({row.width for row in rows if row.width})
    if not widths or widths == [1.0]:
        return "InceptionV1"
    if len(widths) == 1:
        return f"a width-reduced InceptionV1 (width {widths[0]:g})"
    return "InceptionV1 (widths " + ", ".join(f"{w:g}" for w in widths) + ")"


def _read_methods(db: sqlite3.Connection) -> dict[str, MethodRow]:
    """The ``methods`` table by name; empty for a catalog written before it existed."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'methods'").fetchone():
        return {}
    return {
        str(name): MethodRow(str(name), str(kind or ""), str(description or ""), int(order or 0))
        for name, kind, description, order in db.execute(
            "SELECT name, kind, description, display_order FROM methods ORDER BY display_order, name"
        )
    }


def _validate_image(image: ImageRow, resolved_root: Path, rules: KeyRules) -> None:
    rules.check(image.model, "model name")
    rules.check(image.snapshot, "snapshot name")
    rules.check(image.method, "method")
    rules.check(image.layer, "layer id")
    rules.check(image.variant, "variant", allow_empty=True)
    if not isinstance(image.channel, int) or image.channel < 0:
        raise UnsafeAtlasError(
            f"Refusing channel {image.channel!r} of {image.path!r}: expected an integer >= 0."
        )
    expected = rules.path(image)
    if image.path != expected:
        raise UnsafeAtlasError(
            f"Refusing image path {image.path!r}: its key implies {expected!r} (docs/formats.md)."
        )
    source = (resolved_root / image.path).resolve()
    if not source.is_relative_to(resolved_root):
        raise UnsafeAtlasError(f"Refusing image {image.path!r}: it resolves outside the atlas, to {source}.")


def _parents_first(models: dict[str, ModelRow]) -> dict[str, ModelRow]:
    """Order models so that every parent precedes its children (then by name)."""
    ordered: dict[str, ModelRow] = {}

    def depth(name: str, seen: tuple[str, ...] = ()) -> int:
        parent = models[name].parent
        if parent is None or parent not in models or parent in seen:
            return 0
        return 1 + depth(parent, (*seen, name))

    for name in sorted(models, key=lambda n: (depth(n), n)):
        ordered[name] = models[name]
    return ordered
