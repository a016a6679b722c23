"""2-D views of features: PCA at once, UMAP (McInnes et al. 2018) through the worker process, and the
Procrustes alignment that keeps successive snapshots' views comparable (for animating between them).

Coordinates are float32 numpy arrays (N, 2), ready for a scatter plot."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from engine.explore.threads import one_thread
from engine.explore.umap_worker import UmapSettings, UmapWorker

KNN_DIMENSIONS = 50  # UMAP's neighbours are found among the first principal components, as is common practice


def principal_components(features: torch.Tensor, n: int) -> torch.Tensor:
    """float32 (N, min(n, D)): the L2-normalised features (the cosine geometry kNN uses), centred and projected
    on their first n principal axes. Euclidean distances there approximate sqrt(2 - 2 cos) between the
    features.

    Exact (an eigendecomposition of the D x D covariance) and deterministic: it draws nothing from torch's
    global random generator, which a training thread may be using. Signs are fixed so that each axis's
    largest loading is positive."""
    x = F.normalize(features.float(), dim=1)
    x = x - x.mean(0)
    with one_thread():
        _, vectors = torch.linalg.eigh((x.T @ x).double())
    axes = vectors[:, -n:].flip(1).float()  # the largest eigenvalues come last
    axes = axes * torch.sign(axes.gather(0, axes.abs().argmax(0, keepdim=True)))
    return x @ axes


def pca_2d(features: torch.Tensor) -> np.ndarray:
    """The first two principal components of the L2-normalised features: the view shown at once."""
    return principal_components(features, 2).numpy()


def knn_graph(points: torch.Tensor, k: int, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours by Euclidean distance (each point itself first) and their distances:
    UMAP's input graph."""
    squares = points.pow(2).sum(1)
    distances, indices = [], []
    for start in range(0, len(points), chunk):
        block = points[start:start + chunk]
        d2 = squares[start:start + chunk, None] + squares[None] - 2 * block @ points.T
        d2[torch.arange(len(block)), torch.arange(start, start + len(block))] = -1.0  # itself, first
        nearest, index = d2.topk(k, dim=1, largest=False)
        distances.append(nearest.clamp_min(0).sqrt())
        indices.append(index)
    return torch.cat(indices).numpy(), torch.cat(distances).numpy()


def umap_2d(worker: UmapWorker, features: torch.Tensor, init: np.ndarray | None = None,
            settings: UmapSettings = UmapSettings(),  # noqa: B008  (frozen: one shared default is safe)
            cancelled: Callable[[], bool] | None = None,
            progress: Callable[[float], None] | None = None) -> np.ndarray:
    """UMAP coordinates of ``features``, starting from ``init`` (e.g. the previous snapshot's layout, so that
    clusters move rather than jump) or from the PCA view. The neighbour graph is exact, among the first
    KNN_DIMENSIONS principal components. Seconds, mostly in the worker process; see UmapWorker.fit."""
    if len(features) <= settings.n_neighbors:
        raise ValueError(f"UMAP needs more than {settings.n_neighbors} points, got {len(features)}")
    components = principal_components(features, KNN_DIMENSIONS)
    indices, distances = knn_graph(components, settings.n_neighbors)
    start = components[:, :2].numpy() if init is None else init
    return worker.fit(components.numpy(), indices, distances, start, settings, cancelled=cancelled,
                      progress=progress)


def align_2d(coordinates: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``coordinates`` rotated, reflected, scaled and shifted to best match ``reference`` (the same points in
    the same order) in the least-squares sense: orthogonal Procrustes (Schönemann 1966)."""
    a = coordinates - coordinates.mean(0)
    b = reference - reference.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    scale = s.sum() / max(float((a**2).sum()), 1e-12)
    return (scale * a @ (u @ vt) + reference.mean(0)).astype(np.float32)
