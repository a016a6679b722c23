"""SeLa (Asano, Rupprecht and Vedaldi 2020, "Self-labelling via simultaneous clustering and representation
learning", ICLR)."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.losses import sinkhorn
from engine.methods.base import register_method
from engine.methods.pseudo_labels import PseudoLabelMethod, reassign_param

SINKHORN_ITERATIONS = 1000  # at most; the rounds stop once every cluster's mass is within the tolerance of N / K
SINKHORN_TOLERANCE = 1e-3


@dataclass
class SeLaConfig:
    clusters: int = param(100, "Clusters K of each head's labels", low=2, high=100_000)
    heads: int = param(2, "Classifier heads, each with its own labelling of the training set (the paper's best "
                          "uses 10); the loss averages them", low=1, high=64)
    lam: float = param(25.0, "Sinkhorn-Knopp lambda: the labels maximise <Q, log P> + H(Q) / lambda, Q ~ P^lambda "
                             "(larger: harder, closer to the exact transport, slower to converge)",
                       low=1.0, high=100.0)
    reassign_epochs: float = reassign_param(1.0, "Epochs of training between self-labelling rounds (the paper: 80 "
                                            "rounds in 400 epochs)")


class StackedHeads(nn.Module):
    """The heads' logits of features (B, D) as one tensor (B, heads, K)."""

    def __init__(self, heads: nn.ModuleList):
        super().__init__()
        self.heads = heads

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return torch.stack([head(h) for head in self.heads], dim=1)


def self_labels(logits: torch.Tensor, lam: float) -> torch.Tensor:
    """int64 (N,): each sample's cluster in the equal-partition transport of the heads' probabilities P (N, K) for
    logits (N, K): Q = diag(alpha) P^lambda diag(beta) by Sinkhorn-Knopp in float64, then the most likely
    cluster of each sample's row of Q (the paper's code takes its argmax)."""
    log_p = torch.log_softmax(logits.double(), dim=1)
    return sinkhorn(log_p, 1.0 / lam, SINKHORN_ITERATIONS, SINKHORN_TOLERANCE).argmax(dim=1)


@register_method
class SeLa(PseudoLabelMethod):
    """Labels and network optimise one objective, the cross-entropy between the labels and the heads' predictions,
    in alternation (sec. 3): every ``reassign_epochs`` epochs the labels of the whole training set (the heads'
    logits in eval mode on un-augmented images) are set by optimal transport under the constraint that every
    cluster takes N / K images, solved by Sinkhorn-Knopp as Q = diag(alpha) P^lambda diag(beta); in between the
    network learns the labels from augmented views. Several heads each label the set on their own (the paper's
    multiple simultaneous clusterings) and the loss averages them. As the paper's code does, training starts from a
    random equal partition, the first self-labelling coming after the first period of training; the heads are never
    re-initialised, since each head's labels are its own logits' classes."""

    name = "sela"
    paper = "Asano et al. 2020, SeLa"
    Config = SeLaConfig

    def __init__(self, backbone, config: SeLaConfig, augment):
        super().__init__(backbone, config, augment, heads=config.heads, clusters=config.clusters)

    def relabel(self, rng: torch.Generator) -> torch.Tensor:
        n, k, heads = len(self.split.images), self.clusters, len(self.classifiers)
        if self.assignments.shape[1] != n:  # the start: every head a random equal partition
            equal = torch.arange(n) % k
            return torch.stack([equal[torch.randperm(n, generator=rng, device=rng.device).cpu()]
                                for _ in range(heads)])
        self.split.report(f"Self-labelling {n:,} training images (Sinkhorn-Knopp, {heads} x {k} clusters)")
        logits = self.embed_training_split(nn.Sequential(self.backbone, StackedHeads(self.classifiers)))
        return torch.stack([self_labels(logits[:, h], self.config.lam) for h in range(heads)])
