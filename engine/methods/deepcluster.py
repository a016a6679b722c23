"""DeepCluster (Caron, Bojanowski, Joulin and Douze 2018, "Deep Clustering for Unsupervised Learning of Visual
Features")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

from engine.config import param
from engine.methods.base import register_method
from engine.methods.pseudo_labels import PseudoLabelMethod, reassign_param

# Lloyd's k-means from one k-means++ start: re-clustering every epoch from the features of a network that moved
# a little needs no restarts (the paper runs one k-means per epoch), and 10 000 points of 64 dimensions into 100
# clusters converge in about 25 iterations, a fraction of a second beside the seconds of embedding the images.
KMEANS_ITERATIONS = 50
SPLIT_PERTURBATION = 1e-3  # relative size of the perturbation that splits a large cluster for an empty one


@dataclass
class DeepClusterConfig:
    clusters: int = param(100, "k-means clusters K; more than the classes (over-clustering) works better, as the "
                               "paper finds", low=2, high=100_000)
    pca_dim: int = param(64, "Dimension the features are PCA-whitened to before k-means (fewer when the features "
                             "or images are fewer)", low=2, high=4096)
    reassign_epochs: float = reassign_param(5.0, "Epochs of training between re-clusterings of the training set (the "
                                                 "paper re-clusters every epoch, thousands of steps on its data; the "
                                                 "re-initialised classifier needs more than a small set's epoch)")


def fill_empty_clusters(points: np.ndarray, assignment: np.ndarray, centroids: np.ndarray,
                        rng: np.random.Generator) -> np.ndarray:
    """The assignment with no empty cluster, as the paper handles them (sec. 3.3, "Empty clusters"): each empty
    cluster gets the centroid of the largest one with a small random perturbation (the largest one moving the
    opposite way) and takes the members of the largest one that are nearer its centroid; if none or all are
    (identical points), half of them."""
    assignment, centroids = assignment.copy(), centroids.astype(np.float64, copy=True)
    sizes = np.bincount(assignment, minlength=len(centroids))
    for empty in np.flatnonzero(sizes == 0):
        largest = int(sizes.argmax())
        members = np.flatnonzero(assignment == largest)
        offset = SPLIT_PERTURBATION * rng.standard_normal(centroids.shape[1]) * max(np.abs(centroids[largest]).max(), 1)
        centroids[empty], centroids[largest] = centroids[largest] + offset, centroids[largest] - offset
        nearer = (((points[members] - centroids[largest]) ** 2).sum(1)
                  - ((points[members] - centroids[empty]) ** 2).sum(1))  # > 0: nearer the new centroid
        moving = nearer > 0
        if not 0 < moving.sum() < len(members):
            moving = np.zeros(len(members), dtype=bool)
            moving[np.argsort(-nearer, kind="stable")[: len(members) // 2]] = True
        assignment[members[moving]] = empty
        sizes[empty], sizes[largest] = moving.sum(), sizes[largest] - moving.sum()
    return assignment


def cluster_features(features: np.ndarray, clusters: int, dim: int, seed: int) -> np.ndarray:
    """int64 (N,) k-means clusters of features (N, D), PCA-whitened to ``dim`` dimensions and L2-normalised as the
    paper does (sec. 4, "Implementation details"), no cluster empty."""
    if not np.isfinite(features).all():
        raise FloatingPointError("the backbone's features are not finite, so they cannot be clustered: lower the "
                                 "learning rate")
    dim = min(dim, features.shape[1], len(features))
    points = PCA(dim, whiten=True, random_state=seed).fit_transform(features)
    points /= np.linalg.norm(points, axis=1, keepdims=True).clip(min=1e-12)
    kmeans = KMeans(clusters, n_init=1, max_iter=KMEANS_ITERATIONS, random_state=seed).fit(points)
    return fill_empty_clusters(points, kmeans.labels_, kmeans.cluster_centers_,
                               np.random.default_rng(seed)).astype(np.int64)


def uniform_over_clusters(assignment: torch.Tensor, count: int, rng: torch.Generator) -> torch.Tensor:
    """``count`` training rows drawn with each image weighted by 1 / the size of its cluster: every cluster is
    drawn equally often, however unbalanced (the paper's sampling "based on a uniform distribution over the classes,
    or pseudo-labels", sec. 3.3, "Trivial parametrization")."""
    weights = 1.0 / torch.bincount(assignment)[assignment].float()
    return torch.multinomial(weights.to(rng.device), count, replacement=True, generator=rng).cpu()


@register_method
class DeepCluster(PseudoLabelMethod):
    """Every ``reassign_epochs`` epochs the backbone's features of the whole training set (eval mode, no
    augmentation) are PCA-whitened, L2-normalised and clustered by k-means into K clusters (sec. 3.2, eq. 2); the
    cluster of each image is its pseudo-label and the network learns to predict it from augmented views with a
    linear classifier, re-initialised at every re-clustering because the clusters' numbering is arbitrary
    (sec. 3.3, "Avoiding trivial solutions": empty clusters are refilled, batches drawn uniformly over clusters).

    The paper's Sobel filter, which hides colour from the network, is not used: the backbone takes the dataset's
    channels, and the colour jitter and random grayscale of the augmentation discourage clustering by colour."""

    name = "deepcluster"
    paper = "Caron et al. 2018, DeepCluster"
    Config = DeepClusterConfig

    def __init__(self, backbone, config: DeepClusterConfig, augment):
        super().__init__(backbone, config, augment, heads=1, clusters=config.clusters)

    def relabel(self, rng: torch.Generator) -> torch.Tensor:
        n = len(self.split.images)
        self.split.report(f"Clustering {n:,} training images (k-means, K = {self.clusters})")
        features = self.embed_training_split(self.backbone).numpy()
        seed = int(torch.randint(2**31 - 1, (1,), generator=rng, device=rng.device))
        assignment = cluster_features(features, self.clusters, self.config.pca_dim, seed)
        with torch.no_grad():  # a new top layer for the new clusters, as the code initialises it (and optimises it
            head = self.classifiers[0]  # with a new optimiser: its state is dropped, fresh_parameters)
            head.weight.normal_(0, 0.01, generator=rng)
            head.bias.zero_()
        self._fresh = list(head.parameters())
        return torch.from_numpy(assignment)[None]

    def draw(self, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        return uniform_over_clusters(self.assignments[0].cpu(), len(proposed), rng)
