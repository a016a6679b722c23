"""Embeddings of a run's data for the explorer: a frozen snapshot of the method, the features of a sample of
up to 20 000 images with what is known about each (labels, attributes, their rows in the split, the method's
pseudo-labels), and the per-image colourings that need the network (nearest prototype)."""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from engine.data.base import Dataset
from engine.eval.layers import at_layer
from engine.eval.protocol import embed
from engine.explore import Cancelled
from engine.methods import Method

if TYPE_CHECKING:
    from engine.run import LoadedRun, Session

MAX_POINTS = 20000  # the explorer's sample: enough to see structure, small enough for UMAP in seconds
CHUNK = 1024  # images per step of progress and cancellation


@dataclass(frozen=True)
class EncoderSnapshot:
    """A method frozen at one training step, in eval mode, with its eval transform: safe to use from any thread
    while training goes on (it is a copy), and the same network embeds the dataset and dropped queries."""

    method: Method
    backbone: str  # the architecture's name, to build an untrained twin (label-fraction baselines)
    device: torch.device
    channels: int
    step: int
    eval_layer: int = 0  # the backbone stage evaluations read (engine/eval/layers.py)

    @classmethod
    def of_session(cls, session: Session) -> EncoderSnapshot:
        """An eval-mode copy of the session's method (milliseconds for the small backbones). Take it on the
        training thread (in ``on_event``) or while paused, so that it never sees a half-applied step."""
        method = copy.deepcopy(session.method).eval().requires_grad_(False)
        return cls(method, session.config.backbone, session.device, session.dataset.channels, session.step,
                   session.config.eval_layer)

    @classmethod
    def of_run(cls, run: LoadedRun) -> EncoderSnapshot:
        return cls(run.method, run.config.backbone, run.device, run.dataset.channels, run.step,
                   run.config.eval_layer)

    @property
    def image_size(self) -> int:
        return self.method.augment.image_size

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Encoder features (N, D) on the CPU for uint8 images (N, C, H, W)."""
        return embed(at_layer(self.method.encoder, self.eval_layer), images, self.method.augment.prepare, self.device)


@dataclass
class Embedding:
    """Features of a sample of one split, row-aligned with what is known about each image."""

    features: torch.Tensor  # float32 (N, D), on the CPU
    indices: torch.Tensor  # int64 (N,): rows of the split
    split: str  # "train" or "test"
    labels: torch.Tensor | None  # int64 (N,), -1 where unknown
    attributes: dict[str, torch.Tensor]  # name -> int64 (N,) indices into attribute_names[name]
    class_names: list[str]
    attribute_names: dict[str, list[str]]
    step: int  # training step of the snapshot that computed it
    pseudo_labels: torch.Tensor | None = None  # int64 (N,): the method's current pseudo-label (DeepCluster, SeLa)

    def __len__(self) -> int:
        return len(self.features)

    def metadata(self) -> dict[str, list[str]]:
        """Per-row columns for exports: the row in the split, the class name and each attribute's value name."""
        columns = {"index": [str(i) for i in self.indices.tolist()]}
        if self.labels is not None:
            columns["label"] = [self.class_names[y] if 0 <= y < len(self.class_names) else "unknown"
                                for y in self.labels.tolist()]
        for name, values in self.attributes.items():
            names = self.attribute_names.get(name)
            columns[name] = [names[v] if names else str(v) for v in values.tolist()]
        if self.pseudo_labels is not None:
            columns["pseudo_label"] = [str(c) for c in self.pseudo_labels.tolist()]
        return columns


def sample_rows(n: int, limit: int = MAX_POINTS, seed: int = 0) -> torch.Tensor:
    """Sorted row indices: all n, or a fixed random subset of ``limit`` (the same for every snapshot of a run,
    so successive views show the same points)."""
    if n <= limit:
        return torch.arange(n)
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:limit].sort().values


def embed_dataset(snapshot: EncoderSnapshot, dataset: Dataset, split: str = "train", limit: int = MAX_POINTS,
                  seed: int = 0, cancelled: Callable[[], bool] | None = None,
                  progress: Callable[[float], None] | None = None) -> Embedding:
    """The snapshot's features of up to ``limit`` images of ``dataset``'s split. Slow: seconds per 10 000
    small images on a laptop CPU; raises Cancelled between chunks when ``cancelled()`` turns true."""
    images = getattr(dataset, split)
    rows = sample_rows(len(images), limit, seed)
    features = _in_chunks(lambda index: snapshot.embed(images.images[index]), rows, cancelled, progress)
    return Embedding(
        features=features, indices=rows, split=split,
        labels=None if images.labels is None else images.labels[rows],
        attributes={name: values[rows] for name, values in images.attributes.items()},
        class_names=list(dataset.class_names), attribute_names=dict(dataset.attribute_names), step=snapshot.step,
        pseudo_labels=training_pseudo_labels(snapshot, rows, len(images)) if split == "train" else None)


def training_pseudo_labels(snapshot: EncoderSnapshot, rows: torch.Tensor, train_size: int) -> torch.Tensor | None:
    """The pseudo-labels of the training ``rows`` from the method's optional capability ``pseudo_labels()`` (one
    per training image, None before the first labelling); None without them or when they cover another split."""
    labels = snapshot.method.pseudo_labels() if hasattr(snapshot.method, "pseudo_labels") else None
    return labels[rows] if labels is not None and len(labels) == train_size else None


def has_prototypes(snapshot: EncoderSnapshot) -> bool:
    """Whether the method learns prototypes (SwAV, DINO) and scores images against them."""
    return hasattr(snapshot.method, "prototype_scores")


@torch.no_grad()
def nearest_prototypes(snapshot: EncoderSnapshot, images: torch.Tensor,
                       cancelled: Callable[[], bool] | None = None,
                       progress: Callable[[float], None] | None = None) -> torch.Tensor:
    """int64 (N,): the best-scoring prototype of each uint8 image, from the method's optional capability
    ``prototype_scores(images) -> (B, K)``. Raises ValueError for methods without prototypes."""
    if not has_prototypes(snapshot):
        raise ValueError(f"{type(snapshot.method).__name__} has no prototypes")
    method = snapshot.method
    return _in_chunks(lambda index: method.prototype_scores(images[index].to(snapshot.device)).argmax(1).cpu(),
                      torch.arange(len(images)), cancelled, progress)


def _in_chunks(compute: Callable[[torch.Tensor], torch.Tensor], rows: torch.Tensor,
               cancelled: Callable[[], bool] | None, progress: Callable[[float], None] | None) -> torch.Tensor:
    """``compute`` over ``rows`` CHUNK at a time, reporting progress and honouring cancellation in between."""
    out = []
    for start in range(0, len(rows), CHUNK):
        if cancelled is not None and cancelled():
            raise Cancelled("embedding cancelled")
        out.append(compute(rows[start:start + CHUNK]))
        if progress is not None:
            progress(min(1.0, (start + CHUNK) / len(rows)))
    return torch.cat(out) if out else torch.empty(0)
