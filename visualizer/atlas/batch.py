"""Render one plan batch into an atlas: the work unit of `visualizer.atlas.job` and its worker processes.

`BatchRenderer` renders a batch with its method, writes each missing image
atomically with its key and settings as PNG text (`visualizer.pngio`)
and indexes it in the catalog. `visualizer.atlas.job` uses one in its own
process; each worker of `visualizer.atlas.workers` uses its own, so the
images do not depend on the number of workers.
"""

from __future__ import annotations

from pathlib import Path

from visualizer.analysis.spatial import image_metrics
from visualizer.atlas.catalog import Catalog, ImageRecord, file_sha256
from visualizer.atlas.methods import get_method, method_settings
from visualizer.atlas.networks import network_info
from visualizer.atlas.plan import RenderBatch
from visualizer.atlas.sources import render_model
from visualizer.config import Config
from visualizer.pngio import TEMP_PREFIX, to_uint8, write_png_atomic

__all__ = ["BatchRenderer"]


def _model_info(meta: dict, channels: int) -> dict:
    """The facts of a snapshot's meta.json each of its images records, and the layer's channel count."""
    keep = (
        "dataset",
        "dataset_kind",
        "iteration",
        "is_final",
        "metric_name",
        "metric",
        "parent",
        "description",
        "num_classes",
        "width",
    )
    info = {key: meta.get(key) for key in keep}
    info["channels"] = channels
    return info


class BatchRenderer:
    """Renders plan batches into an atlas, keeping the last snapshot it loaded.

    Args:
        config: the experiment.
        metas: {(model, snapshot): meta.json contents}, from `visualizer.atlas.job.check_snapshots`.
        atlas_dir: where the images go.
        temp_prefix: the name prefix of this writer's temporary files (`visualizer.atlas.lock`).
    """

    def __init__(
        self,
        config: Config,
        metas: dict[tuple[str, str], dict],
        atlas_dir: Path,
        temp_prefix: str = TEMP_PREFIX,
    ):
        from visualizer.render.backend import kernel_library  # imports Keras: only when rendering

        self.config, self.metas, self.atlas_dir = config, metas, atlas_dir
        self.temp_prefix = temp_prefix
        self.runs_dir = config.resolve_path(config.project.runs_dir)
        self.settings = {"config_hash": config.digest(), "kernels": kernel_library()}
        self._loaded: tuple[tuple[str, str], object] | None = None

    def model(self, batch: RenderBatch):
        """The Keras model of the batch's snapshot (loaded once per run of batches of one snapshot).

        A frozen graph's model is wrapped per layer (it outputs the rendered tensor): its key has the layer.
        """
        frozen = self.config.root_model(batch.model).source == "frozen_graph"
        wanted = (batch.model, batch.snapshot, batch.layer if frozen else "")
        if self._loaded is None or self._loaded[0] != wanted:
            self._loaded = (
                wanted,
                render_model(self.config, self.runs_dir, batch.model, batch.snapshot, batch.layer)[0],
            )
        return self._loaded[1]

    def render(self, batch: RenderBatch, catalog: Catalog) -> tuple[int, int]:
        """Render one batch and write its missing images.

        The whole batch is rendered even when some images exist, so that an
        image never depends on what survived an interrupted run.

        Returns:
            (images written, channels whose optimization failed).
        """
        config, model = self.config, self.model(batch)
        seed = batch.seed(config.project.seed)
        settings = method_settings(batch.method, config, batch.model)
        result = get_method(batch.method)(model, batch.layer, batch.channels, seed=seed, **settings)
        # The image side is the method's (a generator's resolution for stylegan2).
        recorded = {
            **self.settings,
            **settings,
            **result.recorded,
            "size": int(result.images.shape[1]),
            "seed": seed,
        }
        meta = self.metas[(batch.model, batch.snapshot)]
        info = {
            **_model_info(meta, int(model.get_layer(batch.layer).output.shape[-1])),
            **network_info(meta, batch.layer),
        }
        records = []
        for index, key in enumerate(batch.keys):
            path = self.atlas_dir / key.relpath
            if path.is_file():
                continue
            record = ImageRecord(
                key=key,
                objective=float(result.objectives[index]),
                settings=dict(
                    recorded,
                    failed=key.channel in result.failed,
                    **({"inactive": True} if key.channel in result.inactive else {}),
                ),
                model_info=info,
            )
            pixels = to_uint8(result.images[index])
            record.metrics = image_metrics(pixels)
            record.bytes = write_png_atomic(path, pixels, record.png_text(), self.temp_prefix)
            record.sha256 = file_sha256(path)
            record.mtime_ns = path.stat().st_mtime_ns
            records.append(record)
        catalog.add_images(records)
        return len(records), len(result.failed)
