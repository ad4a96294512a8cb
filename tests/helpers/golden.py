"""A small atlas whose files are kept in the repository, so that a refactoring can prove it changed nothing.

`render_golden` renders the tiny experiment with every method that needs no
downloaded weights (lucid, neuron, negative, diversity, examples,
negative_examples) and returns, for each image, its pixels and the text
metadata it carries. ``tests/fixtures/golden_atlas.npz`` holds what it
returned when the fixture was written; `tests/atlas/test_golden_atlas.py`
renders again and compares.

Write the fixture again only for a change that is meant to change images or
formats, and say so in the commit:

    .venv/bin/python -m tests.helpers.golden --write
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "golden_atlas.npz"

PLAN = """
[[render.plan]]
models = ["imagenet", "celeba"]
layers = ["Mixed_3b_Branch_3_b_1x1"]
channels = "first:2"
methods = ["neuron", "negative", "diversity", "examples", "negative_examples"]

[render.diversity]
images = 4
batch_size = 2

[render.examples]
images = 24
top = 4
"""

# Text chunks that say when or where an image was made, not what it is.
VOLATILE_TEXT = ("Creation Time",)
# Settings that name the machine's kernels, not the render.
VOLATILE_SETTINGS = ("kernels",)


def _stable_text(text: dict[str, str]) -> dict[str, str]:
    kept = {name: value for name, value in text.items() if name not in VOLATILE_TEXT}
    settings = json.loads(kept.get("vtl:settings", "{}"))
    for name in VOLATILE_SETTINGS:
        settings.pop(name, None)
    kept["vtl:settings"] = json.dumps(settings, sort_keys=True)
    return kept


def render_golden(root: Path) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
    """Render the golden atlas under `root`; returns {relpath: (pixels, stable text chunks)}."""
    from tests.helpers.fake_runs import write_tiny_experiment
    from visualizer.atlas import catalog
    from visualizer.atlas.job import render_atlas
    from visualizer.config import load_config
    from visualizer.pngio import read_png

    config = load_config(write_tiny_experiment(root, size=16, channels=1, extra=PLAN))
    summary = render_atlas(config, progress=False)
    if summary.failed:
        raise RuntimeError(f"{summary.failed} channel(s) of the golden atlas failed to render")
    atlas = config.resolve_path(config.project.atlas_dir)
    images = {}
    for relpath in sorted(catalog.iter_image_files(atlas)):
        pixels, text = read_png(atlas / relpath)
        images[relpath] = (pixels, _stable_text(text))
    return images


def save(images: dict[str, tuple[np.ndarray, dict[str, str]]], path: Path = FIXTURE) -> None:
    """Store `images` (pixels and text) in one compressed ``.npz``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"pixels/{relpath}": pixels for relpath, (pixels, _) in images.items()}
    text = {relpath: chunks for relpath, (_, chunks) in images.items()}
    np.savez_compressed(path, text=np.array(json.dumps(text, sort_keys=True)), **arrays)


def load(path: Path = FIXTURE) -> dict[str, tuple[np.ndarray, dict[str, str]]]:
    """Read what `save` stored."""
    with np.load(path) as data:
        text = json.loads(str(data["text"]))
        return {relpath: (data[f"pixels/{relpath}"], chunks) for relpath, chunks in text.items()}


def main() -> None:
    """``--write`` renders the golden atlas and replaces the fixture."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"replace {FIXTURE}")
    args = parser.parse_args()
    if not args.write:
        parser.error("nothing to do: pass --write to replace the fixture")
    with tempfile.TemporaryDirectory() as folder:
        images = render_golden(Path(folder))
    save(images)
    print(f"wrote {len(images)} image(s) to {FIXTURE}")


if __name__ == "__main__":
    main()
