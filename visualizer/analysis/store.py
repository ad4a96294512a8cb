"""The analysis tables in an atlas's ``catalog.sqlite``: written by `vtl analyse`, read by the gallery.

The tables (docs/formats.md, "Analysis tables") hold derived data: every
row can be recomputed from the atlas's images and the models that rendered
them, and each carries ``inputs``, a digest of what it was computed from
(the images' SHA-256, the model files' identity, the analysis settings), so
a second `vtl analyse` skips what has not changed. `vtl catalog rebuild`
recreates the catalog from the images and drops these tables; the next
`vtl analyse` writes them again.

Writes take SQLite's own write lock for one short transaction each; the
atlas's writer lock (`.vtl-lock`) is not taken, since no render writes
these tables.

`load_results` is the reading side: plain dataclasses, no Keras, for a
page builder.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import math
import os
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from visualizer.analysis.atlasindex import NetworkLayers
from visualizer.analysis.entries import OBSERVATION_IDS, ChannelRef, Observation
from visualizer.analysis.readonly import connect_read_only

__all__ = [
    "SCHEMA",
    "TABLES",
    "ChannelRow",
    "CircuitRow",
    "LayerRow",
    "Results",
    "SnapshotRow",
    "Subject",
    "Writer",
    "load_results",
    "subject_id",
]

CATALOG = "catalog.sqlite"

SCHEMA = """
CREATE TABLE IF NOT EXISTS analysis_subjects(
    subject TEXT PRIMARY KEY, kind TEXT, before TEXT, before_snapshot TEXT, after TEXT,
    after_snapshot TEXT, method TEXT, settings TEXT, created TEXT);
CREATE TABLE IF NOT EXISTS analysis_channel_metrics(
    subject TEXT, layer TEXT, channel INTEGER, name TEXT, value REAL, inputs TEXT,
    PRIMARY KEY (subject, layer, channel, name));
CREATE TABLE IF NOT EXISTS analysis_layer_metrics(
    subject TEXT, layer TEXT, name TEXT, value REAL, inputs TEXT, PRIMARY KEY (subject, layer, name));
CREATE TABLE IF NOT EXISTS analysis_snapshot_metrics(
    subject TEXT, layer TEXT, channel INTEGER, snapshot TEXT, iteration INTEGER,
    distance_to_start REAL, distance_to_final REAL, progress REAL, inputs TEXT,
    PRIMARY KEY (subject, layer, channel, snapshot));
CREATE TABLE IF NOT EXISTS analysis_circuits(
    subject TEXT, layer TEXT, channel INTEGER, source_layer TEXT, source_channel INTEGER,
    weight_before REAL, weight_after REAL, rank_before INTEGER, rank_after INTEGER, inputs TEXT,
    PRIMARY KEY (subject, layer, channel, source_layer, source_channel));
CREATE TABLE IF NOT EXISTS analysis_arrays(
    subject TEXT, layer TEXT, name TEXT, data BLOB, inputs TEXT, PRIMARY KEY (subject, layer, name));
CREATE TABLE IF NOT EXISTS analysis_observations(
    subject TEXT, id TEXT, statement TEXT, metric TEXT, value REAL, ci_lo REAL, ci_hi REAL,
    null_value REAL, p REAL, holds INTEGER, reason TEXT, n INTEGER, entry TEXT, created TEXT,
    PRIMARY KEY (subject, id));
"""

TABLES = (
    "analysis_subjects",
    "analysis_channel_metrics",
    "analysis_layer_metrics",
    "analysis_snapshot_metrics",
    "analysis_circuits",
    "analysis_arrays",
    "analysis_observations",
)


_DATA_ROWS = "(name LIKE 'cka%' OR name LIKE 'data!_%' ESCAPE '!')"  # held-out-data metrics


def subject_id(
    before: str, before_snapshot: str, after: str, after_snapshot: str, method: str = "lucid"
) -> str:
    """The id of a compared pair: ``imagenet/final->celeba/final:lucid``."""
    return f"{before}/{before_snapshot}->{after}/{after_snapshot}:{method}"


def _npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return buffer.getvalue()


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _real(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class Writer:
    """Writes analysis rows into an existing catalog, one short transaction per call; a context manager.

    Raises:
        FileNotFoundError: the atlas has no catalog (the analysis never creates one).
    """

    def __init__(self, atlas_dir: str | os.PathLike | None):
        if atlas_dir is None:  # nothing to keep: compute in memory (``vtl analyse --no-write``)
            self.connection = sqlite3.connect(":memory:")
        else:
            path = Path(atlas_dir) / CATALOG
            if not path.is_file():
                raise FileNotFoundError(
                    f"No catalog at {path}; run `vtl catalog rebuild --atlas {atlas_dir}` first."
                )
            self.connection = sqlite3.connect(path, timeout=60)
        self.connection.executescript(SCHEMA)

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()

    def subject(
        self,
        subject: str,
        kind: str,
        before: str = "",
        before_snapshot: str = "",
        after: str = "",
        after_snapshot: str = "",
        method: str = "",
        settings: dict[str, Any] | None = None,
    ) -> None:
        """Record what a subject id stands for (a pair, a model, or a temporal run)."""
        with self.connection:
            self.connection.execute(
                "INSERT OR REPLACE INTO analysis_subjects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    subject,
                    kind,
                    before,
                    before_snapshot,
                    after,
                    after_snapshot,
                    method,
                    json.dumps(settings or {}, sort_keys=True),
                    _now(),
                ),
            )

    def layer_inputs(self, table: str, subject: str, layer: str) -> set[str]:
        """The distinct ``inputs`` digests stored for a subject's layer in `table`."""
        if table not in TABLES:
            raise ValueError(f"Unknown analysis table {table!r}; valid: {', '.join(TABLES)}.")
        rows = self.connection.execute(
            f"SELECT DISTINCT inputs FROM {table} WHERE subject = ? AND layer = ?", (subject, layer)
        )
        return {row[0] for row in rows}

    def channel_values(self, subject: str, layer: str) -> dict[int, dict[str, float | None]]:
        """{channel: {name: value}} stored for a subject's layer."""
        values: dict[int, dict[str, float | None]] = {}
        for channel, name, value in self.connection.execute(
            "SELECT channel, name, value FROM analysis_channel_metrics WHERE subject = ? AND layer = ?",
            (subject, layer),
        ):
            values.setdefault(int(channel), {})[name] = value
        return values

    def layer_values(self, subject: str, layer: str) -> dict[str, float | None]:
        """{name: value} stored for a subject's layer."""
        return dict(
            self.connection.execute(
                "SELECT name, value FROM analysis_layer_metrics WHERE subject = ? AND layer = ?",
                (subject, layer),
            ).fetchall()
        )

    def replace_channels(
        self, subject: str, layer: str, values: dict[int, dict[str, float | None]], inputs: str
    ) -> None:
        """Replace a subject's per-channel rows of one layer."""
        with self.connection:
            self.connection.execute(
                "DELETE FROM analysis_channel_metrics WHERE subject = ? AND layer = ?", (subject, layer)
            )
            self.connection.executemany(
                "INSERT INTO analysis_channel_metrics VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (subject, layer, int(channel), name, _real(value), inputs)
                    for channel, metrics in sorted(values.items())
                    for name, value in sorted(metrics.items())
                ],
            )

    def replace_layer(
        self, subject: str, layer: str, values: dict[str, float | None], inputs: str, data: bool = False
    ) -> None:
        """Replace a subject's per-layer rows of one layer: those measured on held-out data (names starting
        ``cka`` or ``data_``) when `data`, else the others."""
        with self.connection:
            self.connection.execute(
                "DELETE FROM analysis_layer_metrics WHERE subject = ? AND layer = ? "
                f"AND {'' if data else 'NOT '}{_DATA_ROWS}",
                (subject, layer),
            )
            self.connection.executemany(
                "INSERT INTO analysis_layer_metrics VALUES (?, ?, ?, ?, ?)",
                [(subject, layer, name, _real(value), inputs) for name, value in sorted(values.items())],
            )

    def data_inputs(self, subject: str) -> set[str]:
        """The distinct ``inputs`` digests of a subject's per-layer rows measured on held-out data."""
        rows = self.connection.execute(
            f"SELECT DISTINCT inputs FROM analysis_layer_metrics WHERE subject = ? AND {_DATA_ROWS}",
            (subject,),
        )
        return {row[0] for row in rows}

    def replace_snapshots(self, subject: str, layer: str, rows: Iterable[tuple], inputs: str) -> None:
        """Replace a run's per-snapshot rows of one layer: (channel, snapshot, iteration, to start, to final,
        progress)."""
        with self.connection:
            self.connection.execute(
                "DELETE FROM analysis_snapshot_metrics WHERE subject = ? AND layer = ?", (subject, layer)
            )
            self.connection.executemany(
                "INSERT INTO analysis_snapshot_metrics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (subject, layer, int(c), s, int(i), _real(a), _real(b), _real(p), inputs)
                    for c, s, i, a, b, p in rows
                ],
            )

    def replace_circuits(self, subject: str, layer: str, rows: Iterable[CircuitRow], inputs: str) -> None:
        """Replace a pair's circuit rows of one layer."""
        with self.connection:
            self.connection.execute(
                "DELETE FROM analysis_circuits WHERE subject = ? AND layer = ?", (subject, layer)
            )
            self.connection.executemany(
                "INSERT INTO analysis_circuits VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        subject,
                        layer,
                        row.channel,
                        row.source_layer,
                        row.source_channel,
                        row.weight_before,
                        row.weight_after,
                        row.rank_before,
                        row.rank_after,
                        inputs,
                    )
                    for row in rows
                ],
            )

    def replace_arrays(self, subject: str, layer: str, arrays: dict[str, np.ndarray], inputs: str) -> None:
        """Replace a subject's arrays of one layer (what a test's null needs beyond the per-channel rows)."""
        with self.connection:
            self.connection.execute(
                "DELETE FROM analysis_arrays WHERE subject = ? AND layer = ?", (subject, layer)
            )
            self.connection.executemany(
                "INSERT INTO analysis_arrays VALUES (?, ?, ?, ?, ?)",
                [(subject, layer, name, _npy(array), inputs) for name, array in sorted(arrays.items())],
            )

    def array(self, subject: str, layer: str, name: str) -> np.ndarray | None:
        """A stored array, or None."""
        row = self.connection.execute(
            "SELECT data FROM analysis_arrays WHERE subject = ? AND layer = ? AND name = ?",
            (subject, layer, name),
        ).fetchone()
        return None if row is None else np.load(io.BytesIO(row[0]), allow_pickle=False)

    def replace_observations(self, subject: str, observations: Iterable[Observation]) -> None:
        """Replace a pair's observation entries."""
        created = _now()
        with self.connection:
            self.connection.execute("DELETE FROM analysis_observations WHERE subject = ?", (subject,))
            for entry in observations:
                ci = entry.ci or [None, None]
                self.connection.execute(
                    "INSERT INTO analysis_observations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        subject,
                        entry.id,
                        entry.statement,
                        entry.metric,
                        _real(entry.value),
                        _real(ci[0]),
                        _real(ci[1]),
                        _real(entry.null),
                        _real(entry.p),
                        None if entry.holds is None else int(entry.holds),
                        entry.reason,
                        entry.n,
                        json.dumps(entry.as_dict(), sort_keys=True),
                        created,
                    ),
                )


# -- reading -----------------------------------------------------------------------------------


@dataclass
class CircuitRow:
    """One upstream channel of a rendered channel, before and after transfer (`analysis.circuits`).

    Attributes:
        channel: the rendered channel.
        source_layer: the upstream layer id (``image`` for the RGB input).
        source_channel: the upstream channel.
        weight_before: L2 norm of its folded kernel slice before transfer.
        weight_after: the same after.
        rank_before: its rank among the channel's inputs before (1: strongest).
        rank_after: the same after.
    """

    channel: int
    source_layer: str
    source_channel: int
    weight_before: float
    weight_after: float
    rank_before: int
    rank_after: int


@dataclass
class Subject:
    """What was compared: a pair of models or snapshots, one model, or a temporal run.

    Attributes:
        id: the subject id (`subject_id` for pairs; ``model/snapshot`` for a model; ``model:method`` for a
            run).
        kind: ``pair``, ``model`` or ``run``.
        before: the model before transfer ('' for a model or a run).
        before_snapshot: its snapshot.
        after: the model after transfer (the model itself for ``model`` and ``run``).
        after_snapshot: its snapshot.
        method: the rendering method compared.
        settings: the analysis settings (image size, reference layer, held-out images...).
        created: when it was last written (ISO 8601 UTC).
    """

    id: str
    kind: str
    before: str
    before_snapshot: str
    after: str
    after_snapshot: str
    method: str
    settings: dict[str, Any]
    created: str


@dataclass
class ChannelRow:
    """One channel's metrics for one subject (docs/formats.md lists the names)."""

    subject: str
    layer: str
    channel: int
    metrics: dict[str, float | None]


@dataclass
class LayerRow:
    """One layer's metrics for one subject.

    Attributes:
        subject: the subject id.
        layer: the layer id.
        paper_index: the layer's depth order, which orders layers: InceptionV1's paper index, or on
            another network its ``graph_index`` (-1 when unknown).
        metrics: {name: value}.
        network: the network of the subject's models (None when unknown).
        graph_index: the layer's position in its network's catalogue (None on InceptionV1).
        stage: ``lower``, ``middle``, ``top`` (`visualizer.analysis.depth`) or ``unknown``.
    """

    subject: str
    layer: str
    paper_index: int
    metrics: dict[str, float | None]
    network: str | None = None
    graph_index: int | None = None
    stage: str = "unknown"


@dataclass
class SnapshotRow:
    """One snapshot image of a channel in a temporal run: its distances to the run's first and last image."""

    subject: str
    layer: str
    channel: int
    snapshot: str
    iteration: int
    distance_to_start: float | None
    distance_to_final: float | None
    progress: float | None


@dataclass
class Results:
    """Everything `vtl analyse` stored in an atlas; empty when it never ran there.

    Attributes:
        subjects: the pairs, models and runs analysed.
        observations: {pair subject id: its six `Observation` entries, in the order of `OBSERVATION_IDS`}.
        channels: per-channel metrics.
        layers: per-layer metrics, by depth.
        snapshots: per-snapshot distances of temporal runs.
        circuits: {(pair subject id, layer, channel): its upstream channels, by rank before transfer}.
    """

    subjects: list[Subject] = field(default_factory=list)
    observations: dict[str, list[Observation]] = field(default_factory=dict)
    channels: list[ChannelRow] = field(default_factory=list)
    layers: list[LayerRow] = field(default_factory=list)
    snapshots: list[SnapshotRow] = field(default_factory=list)
    circuits: dict[tuple[str, str, int], list[CircuitRow]] = field(default_factory=dict)

    def subject(self, subject_id: str) -> Subject | None:
        """The subject with this id, or None."""
        return next((s for s in self.subjects if s.id == subject_id), None)

    def pairs(self) -> list[Subject]:
        """The pair subjects, in the order they were written."""
        return [s for s in self.subjects if s.kind == "pair"]

    def channel_table(self, subject_id: str) -> list[ChannelRow]:
        """A subject's per-channel rows, ordered by depth then channel."""
        order = {row.layer: row.paper_index for row in self.layers if row.subject == subject_id}
        rows = [row for row in self.channels if row.subject == subject_id]
        return sorted(rows, key=lambda row: (order.get(row.layer, 10**6), row.layer, row.channel))

    def channel(self, subject_id: str, layer: str, channel: int) -> dict[str, float | None]:
        """One channel's metrics for a subject ({} when not measured)."""
        for row in self.channels:
            if row.subject == subject_id and row.layer == layer and row.channel == channel:
                return row.metrics
        return {}

    def stage(self, subject_id: str, layer: str) -> str:
        """A layer's stage for a subject (`visualizer.analysis.depth`): ``lower``, ``middle``, ``top`` or
        ``unknown``; InceptionV1's blocks, or thirds of the graph depth on another network."""
        from visualizer.analysis.depth import stage

        for row in self.layers:
            if row.subject == subject_id and row.layer == layer:
                return row.stage
        return stage(layer)

    def layer_table(self, subject_id: str) -> list[LayerRow]:
        """A subject's per-layer rows, by depth."""
        return [row for row in self.layers if row.subject == subject_id]

    def metric_names(self, subject_id: str) -> list[str]:
        """The per-channel metric names a subject has, sorted."""
        return sorted({name for row in self.channels if row.subject == subject_id for name in row.metrics})


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _observation(entry: str) -> Observation:
    data = json.loads(entry)
    refs = {key: [ChannelRef(**ref) for ref in data.pop(key, [])] for key in ("best", "worst")}
    return Observation(**data, **refs)


def load_results(atlas_dir: str | os.PathLike) -> Results:
    """Read what `vtl analyse` stored in an atlas, read-only; an empty `Results` when nothing was.

    Raises:
        FileNotFoundError: the atlas has no ``catalog.sqlite``.
    """
    path = Path(atlas_dir) / CATALOG
    if not path.is_file():
        raise FileNotFoundError(f"No catalog at {path}")
    results = Results()
    with contextlib.closing(connect_read_only(path)) as db:
        present = _tables(db)
        if not set(TABLES) <= present:
            return results
        facts = NetworkLayers.read(db)
        for row in db.execute("SELECT * FROM analysis_subjects ORDER BY created, subject"):
            results.subjects.append(Subject(*row[:7], json.loads(row[7] or "{}"), row[8]))
        for subject, entry in db.execute("SELECT subject, entry FROM analysis_observations"):
            results.observations.setdefault(subject, []).append(_observation(entry))
        for entries in results.observations.values():
            entries.sort(key=lambda o: OBSERVATION_IDS.index(o.id) if o.id in OBSERVATION_IDS else 99)
        channels: dict[tuple[str, str, int], dict[str, float | None]] = {}
        for subject, layer, channel, name, value in db.execute(
            "SELECT subject, layer, channel, name, value FROM analysis_channel_metrics"
        ):
            channels.setdefault((subject, layer, int(channel)), {})[name] = value
        results.channels = [ChannelRow(s, layer, c, m) for (s, layer, c), m in channels.items()]
        layers: dict[tuple[str, str], dict[str, float | None]] = {}
        for subject, layer, name, value in db.execute(
            "SELECT subject, layer, name, value FROM analysis_layer_metrics"
        ):
            layers.setdefault((subject, layer), {})[name] = value
        subject_network = {s.id: facts.network(s.after) or facts.network(s.before) for s in results.subjects}
        rows = []
        for (s, layer), m in layers.items():
            network = subject_network.get(s)
            order = facts.order(layer, network)
            rows.append(
                LayerRow(
                    s,
                    layer,
                    order if order < 10**6 else -1,
                    m,
                    network,
                    facts.graph_index(layer, network),
                    facts.stage(layer, network),
                )
            )
        results.layers = sorted(rows, key=lambda row: (row.subject, row.paper_index, row.layer))
        results.snapshots = [
            SnapshotRow(*row)
            for row in db.execute(
                "SELECT subject, layer, channel, snapshot, iteration, distance_to_start, distance_to_final, "
                "progress FROM analysis_snapshot_metrics ORDER BY subject, layer, channel, iteration"
            )
        ]
        for row in db.execute(
            "SELECT subject, layer, channel, source_layer, source_channel, weight_before, weight_after, "
            "rank_before, rank_after FROM analysis_circuits ORDER BY subject, layer, channel, rank_before"
        ):
            results.circuits.setdefault((row[0], row[1], int(row[2])), []).append(CircuitRow(*row[2:]))
    return results
