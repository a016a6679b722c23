"""Explorer layouts: PCA, Procrustes alignment, the kNN graph, k-means, and the UMAP worker process (its
protocol with the compile-free "pca" layout, then one real UMAP on small data)."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from engine.explore import Cancelled
from engine.explore.clusters import kmeans_clusters
from engine.explore.layout import align_2d, knn_graph, pca_2d, umap_2d
from engine.explore.umap_worker import LayoutError, UmapSettings, UmapWorker


def blobs(n: int = 400, dim: int = 32, classes: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    centres = torch.randn(classes, dim, generator=g) * 3
    return centres[labels] + torch.randn(n, dim, generator=g), labels


def test_pca_is_deterministic_and_separates_blobs():
    x, labels = blobs()
    xy = pca_2d(x)
    assert xy.shape == (len(x), 2) and xy.dtype == np.float32
    assert np.array_equal(xy, pca_2d(x))
    assert np.allclose(pca_2d(x * 5), xy, atol=1e-6)  # scale-free: computed on L2-normalised features
    assert np.var(xy[:, 0]) >= np.var(xy[:, 1])


def test_alignment_undoes_rotation_reflection_scale_and_shift():
    xy = np.random.default_rng(0).normal(size=(100, 2)).astype(np.float32)
    turned = (xy @ np.array([[0.0, 1.0], [1.0, 0.0]]) * 3.0 + [4.0, -2.0]).astype(np.float32)
    assert np.allclose(align_2d(turned, xy), xy, atol=1e-5)


def test_knn_graph_lists_each_point_first_then_nearest_first():
    x, _ = blobs(100)
    indices, distances = knn_graph(x, 5)
    assert indices.shape == distances.shape == (100, 5)
    assert (indices[:, 0] == np.arange(100)).all() and np.allclose(distances[:, 0], 0, atol=1e-3)
    assert (np.diff(distances, axis=1) >= -1e-6).all()


def test_kmeans_recovers_blobs():
    x, labels = blobs(600, classes=5)
    clusters = kmeans_clusters(x, 5)
    assert clusters.shape == labels.shape and torch.equal(clusters, kmeans_clusters(x, 5))
    pairs = set(zip(labels.tolist(), clusters.tolist()))
    assert len(pairs) == 5  # one cluster per blob


@pytest.fixture(scope="module")
def worker():
    with UmapWorker(warm_up=False) as w:
        yield w


def test_worker_protocol_answers_fails_cleanly_cancels_and_recovers(worker):
    x, _ = blobs(50)
    args = (None, None, None)
    xy = worker.fit(x.numpy(), *args, method="pca")
    assert xy.shape == (50, 2) and worker.ready
    with pytest.raises(LayoutError, match="at least two points"):
        worker.fit(x[:1].numpy(), *args, method="pca")
    with pytest.raises(Cancelled):
        worker.fit(x.numpy(), *args, method="pca", cancelled=lambda: True)
    assert worker.fit(x.numpy(), *args, method="pca").shape == (50, 2)  # a fresh process took over
    worker._process.kill()  # a crash (e.g. a segfault in native code)
    worker._process.join()
    assert worker.fit(x.numpy(), *args, method="pca").shape == (50, 2)


def test_umap_lays_out_blobs_apart_in_its_process(tmp_path):
    x, labels = blobs(300, classes=3)
    seen = []
    start = time.perf_counter()
    with UmapWorker() as worker:  # the Pretext cache: compiles once per machine, about a minute
        xy = umap_2d(worker, x, settings=UmapSettings(n_epochs=50), progress=seen.append)
    assert xy.shape == (300, 2) and np.isfinite(xy).all()
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    centres = np.stack([xy[labels.numpy() == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(xy[labels.numpy() == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a in range(3) for b in range(a)]
    took = time.perf_counter() - start
    assert min(gaps) > 2 * spread, f"blobs not apart: gaps {gaps}, spread {spread} (in {took:.0f} s)"
