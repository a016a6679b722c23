"""``main.py eval RUN_DIR --umap PNG --export DIR``: the explorer's figure and files without a display."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.explore.embedding import MAX_POINTS, EncoderSnapshot, embed_dataset
from engine.explore.export import export_all
from engine.explore.layout import umap_2d
from engine.explore.plot import save_scatter
from engine.explore.umap_worker import UmapWorker
from engine.run import load_run


def explore_run(run_dir: Path, umap_figure: Path | None = None, export_dir: Path | None = None,
                points: int = MAX_POINTS, say: Callable[[str], None] = print) -> list[Path]:
    """Embed up to ``points`` training images of the run, lay them out with UMAP, and write the scatter
    coloured by label (PNG or SVG by suffix) and/or the exports. Returns the files written."""
    worker = UmapWorker()  # starts warming up while the run loads
    try:
        say(f"Loading {run_dir}")
        run = load_run(run_dir)
        say(f"Embedding up to {points} training images (step {run.step})")
        embedding = embed_dataset(EncoderSnapshot.of_run(run), run.dataset, "train", points)
        wait = "" if worker.ready else " (after the UMAP process's warm-up: about a minute the first time ever)"
        say(f"UMAP of {len(embedding)} points{wait}")
        coordinates = umap_2d(worker, embedding.features)
    finally:
        worker.close()
    written = []
    if umap_figure is not None:
        labels = np.full(len(embedding), -1) if embedding.labels is None else embedding.labels.numpy()
        title = f"{run.config.method} on {run.config.dataset}, step {run.step}: UMAP of {len(embedding)} images"
        written.append(save_scatter(umap_figure, coordinates, labels, embedding.class_names, title))
    if export_dir is not None:
        images = run.dataset.train.images[embedding.indices]
        written += export_all(export_dir, embedding, images, coordinates)
    return written
