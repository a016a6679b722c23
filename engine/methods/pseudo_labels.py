"""The self-labelling loop DeepCluster and SeLa share: every few epochs the whole training set is embedded by the
network (eval mode, no augmentation) and labelled from its own outputs (k-means on the features, optimal transport
on the heads' logits); between relabellings the network learns to classify augmented views into these
pseudo-labels with one linear head per labelling.

The labels live in a buffer (heads, N) that the checkpoint saves, so a resumed run trains on the labels the
uninterrupted one had; relabelling happens in ``batch_indices`` on the training thread, reported by Status events.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from sklearn.metrics import normalized_mutual_info_score
from torch import nn

from engine.config import param
from engine.data.base import Dataset
from engine.eval.protocol import embed
from engine.events import Tiles
from engine.methods.base import Method, StepOutput

PREVIEW_CLUSTERS = 6  # rows of the preview: the largest clusters
PREVIEW_MEMBERS = 8  # images shown per cluster


def reassign_param(default: float, help_text: str):
    """The ``reassign_epochs`` setting: epochs of training between relabellings of the whole training set."""
    return param(default, help_text, low=0.01, high=1000.0)


@dataclass(frozen=True)
class TrainingSplit:
    """The training images a pseudo-label method relabels, with their labels and class names (diagnostics only)
    and the Session's progress callback. Deep copies of the method (the explorer's snapshots) share it."""

    images: torch.Tensor  # uint8 (N, C, S, S), on the CPU
    labels: torch.Tensor | None  # int64 (N,), -1 where unknown
    class_names: list[str]
    report: Callable[[str], None]

    def __deepcopy__(self, memo) -> TrainingSplit:
        return self


def agreement(assignments: torch.Tensor, reference: torch.Tensor) -> float:
    """Normalised mutual information between each head's labels (heads, N) and ``reference`` (N,) or (heads, N),
    averaged over heads; rows where the reference is negative (unknown) are left out."""
    reference = reference.expand_as(assignments)
    known = reference[0] >= 0
    return sum(normalized_mutual_info_score(r[known].numpy(), a[known].numpy())
               for a, r in zip(assignments, reference)) / len(assignments)


def _fit_assignments(module: nn.Module, state_dict: dict, prefix: str, *args) -> None:
    """Before a checkpoint loads: the assignment buffer takes the saved size (the number of training images)."""
    saved = state_dict.get(prefix + "assignments")
    if saved is not None:
        module.assignments = torch.empty_like(saved, device=module.assignments.device)


class PseudoLabelMethod(Method):
    """Classify augmented views into pseudo-labels of the whole training set, relabelled every
    ``config.reassign_epochs`` epochs. Subclasses define ``relabel(rng) -> (heads, N)`` int64 labels and may
    draw their own batches (``draw``); logs: ``pretext_acc`` (accuracy on the pseudo-labels, averaged over heads)
    and, at each relabelling, ``cluster_s`` (its seconds), ``nmi_previous`` (NMI to the previous labels) and
    ``nmi_labels`` (NMI to the true classes, a diagnostic: the labels never reach the loss)."""

    def __init__(self, backbone, config, augment, heads: int, clusters: int):
        super().__init__(backbone, config, augment)
        if heads < 1:
            raise ValueError(f"heads must be at least 1, not {heads}")
        if clusters < 2:
            raise ValueError(f"clusters must be at least 2, not {clusters}")
        self.classifiers = nn.ModuleList(nn.Linear(backbone.out_dim, clusters) for _ in range(heads))
        self.register_buffer("assignments", torch.empty(heads, 0, dtype=torch.long))  # (heads, N) once labelled
        self.register_load_state_dict_pre_hook(_fit_assignments)
        self.split: TrainingSplit | None = None
        self._rows: torch.Tensor | None = None  # training rows of the batch the next training_step gets
        self._relabel_logs: dict[str, float] = {}  # logged with the first step on the new labels
        self._fresh: list[nn.Parameter] = []  # re-initialised by the last relabelling

    @property
    def clusters(self) -> int:
        return self.classifiers[0].out_features

    def attach_training_data(self, dataset: Dataset, report: Callable[[str], None]) -> None:
        n = len(dataset.train)
        if self.clusters > n:
            raise ValueError(f"{self.name} cannot split {n} training images into {self.clusters} clusters: "
                             f"set clusters to at most {n}")
        self.split = TrainingSplit(dataset.train.images, dataset.train.labels, list(dataset.class_names), report)

    def reassign_every(self, batch_size: int) -> int:
        """Steps between relabellings: ``reassign_epochs`` epochs of ``batch_size`` images, at least one."""
        return max(1, round(self.config.reassign_epochs * len(self.split.images) / batch_size))

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        if self.split is None:
            raise RuntimeError(f"{self.name} trains on its training set's pseudo-labels: attach_training_data first")
        if step % self.reassign_every(len(proposed)) == 0 or self.assignments.shape[1] != len(self.split.images):
            self._relabel(rng)
        self._rows = self.draw(proposed, rng)
        return self._rows

    def fresh_parameters(self) -> list[nn.Parameter]:
        fresh, self._fresh = self._fresh, []
        return fresh

    def draw(self, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The batch's training rows: by default the Session's."""
        return proposed

    def relabel(self, rng: torch.Generator) -> torch.Tensor:
        """New labels (heads, N) int64 of the whole training split, from the network and ``rng``."""
        raise NotImplementedError

    def _relabel(self, rng: torch.Generator) -> None:
        started = time.perf_counter()
        previous = self.assignments.cpu()
        new = self.relabel(rng).cpu()
        logs = {"cluster_s": time.perf_counter() - started}
        if previous.shape == new.shape:
            logs["nmi_previous"] = agreement(new, previous)
        if self.split.labels is not None and bool((self.split.labels >= 0).any()):
            logs["nmi_labels"] = agreement(new, self.split.labels)
        self.assignments = new.to(self.assignments.device)
        self._relabel_logs = logs
        self.split.report(f"Training on new pseudo-labels of {new.shape[1]:,} images "
                          f"(made in {logs['cluster_s']:.1f} s)")

    def embed_training_split(self, network: nn.Module) -> torch.Tensor:
        """``network``'s outputs (on the CPU) for every training image, un-augmented, in eval mode, batched."""
        device = next(self.parameters()).device
        return embed(network.train(self.training), self.split.images, self.augment.prepare, device)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        rows = self._rows
        if rows is None or len(rows) != len(images):
            raise RuntimeError(f"{self.name}.training_step trains on the rows batch_indices chose: call it first")
        targets = self.assignments[:, rows.to(self.assignments.device)]
        h = self.backbone(self.augment(images, rng))
        logits = [head(h) for head in self.classifiers]
        loss = sum(F.cross_entropy(z, t) for z, t in zip(logits, targets)) / len(logits)
        accuracy = sum((z.argmax(1) == t).float().mean() for z, t in zip(logits, targets)) / len(logits)
        logs, self._relabel_logs = {"pretext_acc": float(accuracy), **self._relabel_logs}, {}
        return StepOutput(loss, h.detach(), logs)

    def pseudo_labels(self) -> torch.Tensor | None:
        """int64 (N,) on the CPU: the first head's current label of each training image (rows of the train
        split), None before the first labelling. The explorer colours points by it."""
        return self.assignments[0].cpu() if self.assignments.numel() else None

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """The largest clusters of the first head's labels (ties in random order: SeLa's are equal), a row of
        member images each; captions: cluster id and size, and its most frequent true class with its share.
        Before the first labelling, the augmented views."""
        labels = self.pseudo_labels()
        if labels is None or self.split is None or len(labels) != len(self.split.images):
            return super().preview(images, rng)
        device = rng.device
        sizes = torch.bincount(labels, minlength=self.clusters)
        shuffled = torch.randperm(self.clusters, generator=rng, device=device).cpu()
        order = shuffled[sizes[shuffled].argsort(descending=True, stable=True)][:PREVIEW_CLUSTERS]
        rows, captions = [], []
        for c in order.tolist():
            members = torch.nonzero(labels == c).squeeze(1)
            if not len(members):
                continue
            shown = members[torch.randperm(len(members), generator=rng, device=device).cpu()[:PREVIEW_MEMBERS]]
            rows.append(list(self.split.images[shown]))
            caption = [f"#{c} ({len(members)})"] + [""] * (len(shown) - 1)
            if len(shown) > 1 and self.split.labels is not None and self.split.class_names:
                classes = self.split.labels[members]
                classes = classes[classes >= 0]
                if len(classes):
                    majority = int(classes.mode().values)
                    share = float((classes == majority).float().mean())
                    caption[1] = f"{share:.0%} {self.split.class_names[majority]}"
            captions.append(caption)
        heads = f" (head 1 of {len(self.classifiers)})" if len(self.classifiers) > 1 else ""
        return Tiles(f"Largest of {self.clusters} pseudo-label clusters{heads}: size, top class", rows, captions)
