"""Explorer exports: the Projector files round-trip the embeddings exactly; arrays, CSV and sprite agree."""
from __future__ import annotations

import csv

import numpy as np
import torch
from PIL import Image

from engine.explore.embedding import Embedding
from engine.explore.export import export_all


def embedding(n: int = 50, dim: int = 24) -> Embedding:
    g = torch.Generator().manual_seed(0)
    features = torch.randn(n, dim, generator=g) * torch.logspace(-6, 6, dim)  # awkward magnitudes on purpose
    return Embedding(features=features, indices=torch.arange(n) * 3, split="train",
                     labels=torch.tensor([-1 if i == 7 else i % 3 for i in range(n)]),  # row 7 unknown
                     attributes={"color": torch.arange(n) % 2}, class_names=["cat", "dog\tfish", "emu"],
                     attribute_names={"color": ["red", "blue"]}, step=12)


def test_projector_files_round_trip_the_embeddings(tmp_path):
    emb = embedding()
    images = torch.randint(0, 256, (len(emb), 3, 20, 20), dtype=torch.uint8)
    coordinates = np.random.default_rng(0).normal(size=(len(emb), 2)).astype(np.float32)
    written = export_all(tmp_path, emb, images, coordinates)
    assert all(p.exists() for p in written)

    vectors = np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t", dtype=np.float64).astype(np.float32)
    assert np.array_equal(vectors, emb.features.numpy())  # exact, not approximately

    rows = (tmp_path / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0].split("\t") == ["index", "label", "color"] and len(rows) == len(emb) + 1
    assert rows[1].split("\t") == ["0", "cat", "red"]
    assert rows[8].split("\t") == ["21", "unknown", "blue"]
    assert rows[2].split("\t") == ["3", "dog fish", "blue"]  # a tab inside a name cannot break the columns

    sprite = Image.open(tmp_path / "sprite.png")
    assert sprite.size == (8 * 20, 8 * 20)  # ceil(sqrt(50)) = 8 thumbnails a side, at full size
    assert np.array_equal(np.asarray(sprite)[20:40, 40:60], images[10].permute(1, 2, 0).numpy())
    config = (tmp_path / "projector_config.pbtxt").read_text()
    assert 'tensor_path: "vectors.tsv"' in config and "single_image_dim: 20" in config

    assert np.array_equal(np.load(tmp_path / "features.npy"), emb.features.numpy())
    assert np.array_equal(np.load(tmp_path / "indices.npy"), emb.indices.numpy())
    assert np.array_equal(np.load(tmp_path / "coordinates.npy"), coordinates)
    with open(tmp_path / "coordinates.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["x", "y", "index", "label", "color"] and len(table) == len(emb) + 1
    assert np.allclose([[float(r[0]), float(r[1])] for r in table[1:]], coordinates, atol=1e-4)


def test_sprite_of_many_images_stays_within_the_projector_limit(tmp_path):
    emb = embedding(n=5000, dim=4)
    images = torch.zeros(len(emb), 1, 200, 200, dtype=torch.uint8)
    export_all(tmp_path, emb, images)
    sprite = Image.open(tmp_path / "sprite.png")
    assert sprite.mode == "L" and max(sprite.size) <= 8192 and sprite.size[0] == 71 * 115
    assert "single_image_dim: 115" in (tmp_path / "projector_config.pbtxt").read_text()
    assert not (tmp_path / "coordinates.csv").exists()
