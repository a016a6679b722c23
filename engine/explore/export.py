"""Exports of an embedding: TensorBoard Embedding Projector files (vectors TSV, metadata TSV, a sprite image of
the thumbnails and ``projector_config.pbtxt``, loadable with ``tensorboard --logdir DIR`` or the standalone
Projector), NumPy arrays, and a CSV of the 2-D coordinates with each point's metadata."""
from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from engine.data.images import resize_images
from engine.explore.embedding import Embedding

SPRITE_MAX = 8192  # the Projector's largest sprite side, in pixels


def export_all(directory: Path, embedding: Embedding, images: torch.Tensor | None = None,
               coordinates: np.ndarray | None = None) -> list[Path]:
    """Everything below into ``directory``; returns the files written. ``images``: uint8 (N, C, H, W) of the
    embedding's rows, for the sprite."""
    written = export_projector(directory, embedding, images) + export_arrays(directory, embedding, coordinates)
    if coordinates is not None:
        written.append(export_coordinates_csv(Path(directory) / "coordinates.csv", embedding, coordinates))
    return written


def export_projector(directory: Path, embedding: Embedding, images: torch.Tensor | None = None) -> list[Path]:
    """``vectors.tsv`` (one row of features per point, exact float32), ``metadata.tsv`` (a header, then one row
    per point), ``sprite.png`` when images are given, and ``projector_config.pbtxt`` tying them together."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vectors, metadata = directory / "vectors.tsv", directory / "metadata.tsv"
    np.savetxt(vectors, embedding.features.float().numpy(), fmt="%.9g", delimiter="\t")  # 9 digits: exact float32
    columns = embedding.metadata()
    rows = zip(*columns.values())
    lines = ["\t".join(columns)] + ["\t".join(_tsv_field(v) for v in row) for row in rows]
    metadata.write_text("\n".join(lines) + "\n", encoding="utf-8")
    written = [vectors, metadata]
    config = ["embeddings {", '  tensor_name: "pretext"', '  tensor_path: "vectors.tsv"',
              '  metadata_path: "metadata.tsv"']
    if images is not None:
        sprite, side = sprite_image(images)
        sprite.save(directory / "sprite.png")
        written.append(directory / "sprite.png")
        config += ["  sprite {", '    image_path: "sprite.png"', f"    single_image_dim: {side}",
                   f"    single_image_dim: {side}", "  }"]
    (directory / "projector_config.pbtxt").write_text("\n".join(config + ["}"]) + "\n", encoding="utf-8")
    return written + [directory / "projector_config.pbtxt"]


def sprite_image(images: torch.Tensor) -> tuple[Image.Image, int]:
    """A square grid of thumbnails in row order (the Projector's sprite) no larger than SPRITE_MAX pixels a
    side, and the thumbnail side."""
    n, channels = len(images), images.shape[1]
    columns = max(1, math.ceil(math.sqrt(n)))
    side = max(1, min(images.shape[-1], SPRITE_MAX // columns))
    thumbnails = resize_images(images, side)
    grid = torch.zeros(channels, columns * side, columns * side, dtype=torch.uint8)
    for i in range(n):
        row, col = divmod(i, columns)
        grid[:, row * side:(row + 1) * side, col * side:(col + 1) * side] = thumbnails[i]
    array = grid.permute(1, 2, 0).numpy()
    return Image.fromarray(array[..., 0] if channels == 1 else array), side


def export_arrays(directory: Path, embedding: Embedding, coordinates: np.ndarray | None = None) -> list[Path]:
    """``features.npy`` (N, D) float32, ``indices.npy`` (rows of the split), ``labels.npy`` when known and
    ``coordinates.npy`` (N, 2) when given."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    arrays = {"features": embedding.features.float().numpy(), "indices": embedding.indices.numpy()}
    if embedding.labels is not None:
        arrays["labels"] = embedding.labels.numpy()
    if coordinates is not None:
        arrays["coordinates"] = np.asarray(coordinates, dtype=np.float32)
    for name, array in arrays.items():
        np.save(directory / f"{name}.npy", array)
    return [directory / f"{name}.npy" for name in arrays]


def export_coordinates_csv(path: Path, embedding: Embedding, coordinates: np.ndarray) -> Path:
    """One row per point: x, y, then the metadata columns (index in the split, label, attributes)."""
    columns = embedding.metadata()
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "y", *columns])
        for (x, y), row in zip(np.asarray(coordinates).tolist(), zip(*columns.values())):
            writer.writerow([f"{x:.6g}", f"{y:.6g}", *row])
    return Path(path)


def _tsv_field(value: str) -> str:
    return value.replace("\t", " ").replace("\n", " ")
