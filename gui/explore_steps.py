"""The explorer's computations, each run on a background thread by a :class:`gui.jobs.BackgroundJob`: a
snapshot's embedding with its PCA view, the UMAP view, colourings, a point's neighbours and dropped-image
queries. No Qt here; the engine is imported inside the functions (the window opens before PyTorch loads)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gui.snapshots import Subject

K_NEIGHBOURS = 10
MAX_CATEGORIES = 20  # colours a legend shows; the rarest categories beyond become "other"
PCA, UMAP, PREVIOUS_UMAP = "PCA", "UMAP", "the previous snapshot's UMAP"  # what Explored.coordinates show
LABEL, CLUSTERS, PROTOTYPES, PSEUDO_LABEL, ATTRIBUTE = "label", "clusters", "prototypes", "pseudo-label", "attribute:"

Cancelled = Callable[[], bool]
Progress = Callable[[float], None]


@dataclass
class Explored:
    """One snapshot's view of the data: the embedding, the images of its rows and their 2-D layout."""

    subject: Subject
    embedding: Any  # engine.explore.embedding.Embedding
    images: Any  # uint8 tensor (N, C, H, W): the embedding's rows of the training split
    coordinates: np.ndarray  # float32 (N, 2)
    layout: str  # PCA, UMAP or PREVIOUS_UMAP
    metadata: dict[str, list[str]]  # per-row columns (index, label, attributes), as the exports write them
    joint: Any = None  # a CLIP run's joint-space image embeddings of the rows, made when prompts are placed

    @property
    def shows_umap(self) -> bool:
        return self.layout in (UMAP, PREVIOUS_UMAP)

    def follows(self, previous: Explored | None) -> bool:
        """Whether ``previous`` shows the same points of the same run (so this view can grow out of it)."""
        import torch

        return (previous is not None and previous.subject.run_dir == self.subject.run_dir
                and torch.equal(previous.embedding.indices, self.embedding.indices))


@dataclass(frozen=True)
class Colouring:
    categories: np.ndarray  # int (N,) in [0, len(names)), -1 for unknown
    names: list[str]


@dataclass(frozen=True)
class NeighbourGroup:
    """An image (a dropped file, or a point of the scatter) and its nearest rows of the embedding."""

    title: str
    image: Any  # uint8 tensor (C, H, W)
    rows: list[int]
    similarities: list[float]
    position: np.ndarray | None = None  # float32 (2,): where a query sits on the scatter
    row: int | None = None  # the embedding row, when the image is one of the points


def embed_subject(source: Any, previous: Explored | None, cancelled: Cancelled, progress: Progress) -> Explored:
    """A snapshot from ``source`` (gui.snapshots), its embedding and PCA view, aligned to ``previous`` when that
    shows the same points; where ``previous`` shows them in UMAP, the points stay there until their new UMAP
    moves them (a detour through PCA would be two jumps, not one motion)."""
    from engine.explore.embedding import embed_dataset
    from engine.explore.layout import align_2d, pca_2d

    subject = source.take(cancelled)
    embedding = embed_dataset(subject.snapshot, subject.dataset, "train", cancelled=cancelled, progress=progress)
    explored = Explored(subject, embedding, subject.dataset.train.images[embedding.indices],
                        pca_2d(embedding.features), PCA, embedding.metadata())
    if explored.follows(previous) and previous.shows_umap:
        explored.coordinates, explored.layout = previous.coordinates, PREVIOUS_UMAP
    elif explored.follows(previous):
        explored.coordinates = align_2d(explored.coordinates, previous.coordinates)
    return explored


def umap_layout(worker: Any, explored: Explored, previous: Explored | None, cancelled: Cancelled,
                progress: Progress) -> np.ndarray:
    """UMAP coordinates, starting from the previous UMAP view of the same points if there is one, fitted onto the
    layout shown now (that view, or PCA) so that the change animates as a morph (``bench/morph_motion.py``)."""
    from engine.explore.layout import align_2d, umap_2d

    init = previous.coordinates if explored.follows(previous) and previous.shows_umap else None
    coordinates = umap_2d(worker, explored.embedding.features, init=init, cancelled=cancelled, progress=progress)
    return align_2d(coordinates, explored.coordinates)


def colouring_choices(explored: Explored) -> list[tuple[str, str]]:
    """(key, text) of the colourings this embedding offers."""
    from engine.explore.embedding import has_prototypes

    embedding = explored.embedding
    choices = [(LABEL, "label")] if embedding.labels is not None else []
    choices += [(ATTRIBUTE + name, f"attribute: {name}") for name in embedding.attributes]
    choices.append((CLUSTERS, "k-means cluster"))
    if has_prototypes(explored.subject.snapshot):
        choices.append((PROTOTYPES, "nearest prototype"))
    if embedding.pseudo_labels is not None:
        choices.append((PSEUDO_LABEL, "pseudo-label"))
    return choices


def compute_colouring(explored: Explored, key: str, cancelled: Cancelled, progress: Progress) -> Colouring:
    from engine.explore.clusters import kmeans_clusters
    from engine.explore.embedding import nearest_prototypes

    embedding = explored.embedding
    if key == LABEL:
        return Colouring(embedding.labels.numpy(), list(embedding.class_names))
    if key.startswith(ATTRIBUTE):
        name = key[len(ATTRIBUTE):]
        values = embedding.attributes[name].numpy()
        names = embedding.attribute_names.get(name) or [str(v) for v in range(values.max(initial=0) + 1)]
        return Colouring(values, list(names))
    if key == CLUSTERS:
        k = len(embedding.class_names) or 10
        return Colouring(kmeans_clusters(embedding.features, k).numpy(), [f"cluster {c}" for c in range(k)])
    if key == PROTOTYPES:
        nearest = nearest_prototypes(explored.subject.snapshot, explored.images, cancelled, progress).numpy()
        return most_frequent(nearest, [f"prototype {p}" for p in range(nearest.max(initial=0) + 1)])
    if key == PSEUDO_LABEL:
        pseudo = embedding.pseudo_labels.numpy()
        return most_frequent(pseudo, [f"pseudo-label {c}" for c in range(pseudo.max(initial=0) + 1)])
    raise ValueError(f"unknown colouring {key!r}")


def most_frequent(categories: np.ndarray, names: list[str], limit: int = MAX_CATEGORIES) -> Colouring:
    """The ``limit - 1`` most frequent categories (largest first) and "other" for the rest."""
    counts = np.bincount(categories[categories >= 0], minlength=len(names))
    order = np.argsort(-counts, kind="stable")
    kept = order[:limit - 1] if np.count_nonzero(counts) > limit else order[:np.count_nonzero(counts)]
    mapping = np.full(len(names), len(kept))
    mapping[kept] = np.arange(len(kept))
    other = ["other"] if np.count_nonzero(counts) > len(kept) else []
    return Colouring(np.where(categories >= 0, mapping[categories], -1), [names[c] for c in kept] + other)


def point_neighbours(explored: Explored, row: int, k: int = K_NEIGHBOURS) -> NeighbourGroup:
    """The ``k`` rows most cosine-similar to ``row`` (itself left out)."""
    from engine.eval.knn import cosine_topk

    features = explored.embedding.features
    similarities, rows = cosine_topk(features[row:row + 1], features, k + 1)
    pairs = [(r, s) for r, s in zip(rows[0].tolist(), similarities[0].tolist()) if r != row][:k]
    index = int(explored.embedding.indices[row])
    return NeighbourGroup(f"#{index}", explored.images[row], [r for r, _ in pairs],
                          [s for _, s in pairs], row=row)


def run_queries(explored: Explored, sources: list[str | bytes], k: int = K_NEIGHBOURS
                ) -> tuple[list[NeighbourGroup], list[tuple[str, str]]]:
    """Dropped files, folders (their images) or pasted bytes: the neighbour groups of the images that
    decoded, and (name, reason) of those rejected."""
    from engine.explore.query import Query, image_sources, query

    paths = image_sources([s for s in sources if not isinstance(s, bytes)])
    pasted = [s for s in sources if isinstance(s, bytes)]
    results = query(explored.subject.snapshot, explored.embedding, [*paths, *pasted], explored.coordinates, k)
    groups = [NeighbourGroup(Path(r.source).name, r.image, r.neighbours.tolist(), r.similarities.tolist(), r.position)
              for r in results if isinstance(r, Query)]
    rejected = [(Path(r.source).name, r.reason) for r in results if not isinstance(r, Query)]
    return groups, rejected


def prompt_positions(explored: Explored, prompts: list[str]) -> np.ndarray:
    """float32 (T, 2): a CLIP run's prompts on the layout shown, each where its most similar points lie (their
    joint-space embeddings, projected from the features the view shows); cached per snapshot."""
    from engine.eval.pretrained_clip import MethodModel
    from engine.explore.clip_queries import prompt_positions as positions

    snapshot = explored.subject.snapshot
    if explored.joint is None:
        output = explored.embedding.features if getattr(snapshot, "eval_layer", 0) == 0 else None  # the last stage
        explored.joint = snapshot.method.joint_from_features(output, explored.images)
    model = MethodModel(snapshot.method, snapshot.channels)
    return positions(model, prompts, explored.joint, explored.coordinates)


def placed(groups: list[NeighbourGroup], coordinates: np.ndarray) -> list[NeighbourGroup]:
    """The query groups moved onto a new layout of the same points (as the engine places them)."""
    import torch

    from engine.explore.query import place

    queries = [g for g in groups if g.row is None and g.rows]
    if not queries:
        return groups
    positions = place(torch.tensor([g.similarities for g in queries]), torch.tensor([g.rows for g in queries]),
                      coordinates)
    moved = {id(g): p for g, p in zip(queries, positions)}
    return [NeighbourGroup(g.title, g.image, g.rows, g.similarities, moved.get(id(g), g.position), g.row)
            for g in groups]
