"""The label-fraction curve (the semi-supervised view of SimCLR, Chen et al. 2020, sec. 7): top-1 accuracy
with 1 %, 10 % and 100 % of the training labels for (1) a linear probe on the frozen encoder's features,
(2) the pretrained encoder fine-tuned end to end with a linear head, and (3) a network of the same
architecture trained from scratch on the same labels, with the same budget. The budget is small by default
so the curve fits in a lecture; raise ``FinetuneBudget.steps`` for firmer numbers."""
from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.augment import Augment, AugmentConfig
from engine.data.base import Dataset
from engine.eval.probe import linear_probe_accuracy
from engine.eval.protocol import EvalSplit
from engine.explore import Cancelled
from engine.explore.embedding import EncoderSnapshot
from engine.nets import untrained_backbone

FRACTIONS = (0.01, 0.1, 1.0)
# Fine-tuning sees crops and flips only: colour changes would erase the class when colour is the label.
FINETUNE_AUGMENT = AugmentConfig(crop_scale_min=0.5, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)


@dataclass(frozen=True)
class FinetuneBudget:
    steps: int = 40  # optimiser steps per network (each fraction trains two networks)
    batch_size: int = 64
    lr: float = 1e-3  # Adam; the head learns at 10x


@dataclass(frozen=True)
class FractionResult:
    fraction: float
    labels: int  # labelled training images used
    probe: float  # top-1 on the test split
    finetuned: float
    supervised: float


def labelled_subset(labels: torch.Tensor, fraction: float, seed: int = 0) -> torch.Tensor:
    """Sorted rows holding ``fraction`` of each class's labelled images (at least one per class)."""
    g = torch.Generator().manual_seed(seed)
    rows = []
    for c in labels[labels >= 0].unique().tolist():
        members = torch.nonzero(labels == c).squeeze(1)
        keep = max(1, math.ceil(fraction * len(members)))
        rows.append(members[torch.randperm(len(members), generator=g)[:keep]])
    return torch.cat(rows).sort().values


def label_fraction_curve(snapshot: EncoderSnapshot, dataset: Dataset, fractions: tuple[float, ...] = FRACTIONS,
                         budget: FinetuneBudget = FinetuneBudget(), seed: int = 0,
                         cancelled: Callable[[], bool] | None = None,
                         progress: Callable[[float], None] | None = None) -> list[FractionResult]:
    """One result per fraction. Slow: 2 x len(fractions) short trainings (the default budget's six take a few
    minutes of CPU for the small convnet at 32 px); ``progress`` gets the fraction of steps done and
    Cancelled is raised between steps once ``cancelled()`` is true."""
    split = EvalSplit.from_dataset(dataset)
    bank, queries = snapshot.embed(split.bank.images), snapshot.embed(split.queries.images)
    total, done = 2 * len(fractions) * budget.steps, 0

    def tick() -> None:
        nonlocal done
        if cancelled is not None and cancelled():
            raise Cancelled("label-fraction curve cancelled")
        done += 1
        if progress is not None:
            progress(done / total)

    results = []
    for fraction in fractions:
        rows = labelled_subset(split.bank.labels, fraction, seed)
        images, labels = split.bank.images[rows], split.bank.labels[rows]
        probe = linear_probe_accuracy(bank[rows], labels, queries, split.queries.labels, split.num_classes)
        accuracy = {}
        scratch = untrained_backbone(snapshot.backbone, snapshot.channels, snapshot.image_size, seed + 1)
        for name, encoder in (("finetuned", copy.deepcopy(snapshot.method.encoder)), ("supervised", scratch)):
            classifier = _train_classifier(encoder, images, labels, split.num_classes, snapshot, budget, seed, tick)
            accuracy[name] = _accuracy(classifier, split.queries.images, split.queries.labels, snapshot)
        results.append(FractionResult(fraction, len(rows), probe, accuracy["finetuned"], accuracy["supervised"]))
    return results


def _train_classifier(encoder: nn.Module, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                      snapshot: EncoderSnapshot, budget: FinetuneBudget, seed: int,
                      tick: Callable[[], None]) -> nn.Module:
    """Encoder + linear head trained end to end with cross-entropy on augmented labelled images."""
    device = snapshot.device
    source = snapshot.method.augment
    augment = Augment(FINETUNE_AUGMENT, source.image_size, source.mean.flatten(), source.std.flatten())
    head = nn.Linear(encoder.out_dim, num_classes)
    model = nn.Sequential(encoder, head).to(device).train().requires_grad_(True)
    optimizer = torch.optim.Adam([{"params": encoder.parameters()},
                                  {"params": head.parameters(), "lr": 10 * budget.lr}], lr=budget.lr)
    g = torch.Generator().manual_seed(seed)
    for step in range(budget.steps):
        index = torch.randint(len(images), (min(budget.batch_size, len(images)),), generator=g)
        views = augment(images[index].to(device), torch.Generator(device).manual_seed(seed * 1_000_003 + step))
        loss = F.cross_entropy(model(views), labels[index].to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        tick()
    return model.eval()


@torch.no_grad()
def _accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, snapshot: EncoderSnapshot,
              batch_size: int = 512) -> float:
    prepare = snapshot.method.augment.prepare
    correct = sum((model(prepare(images[i:i + batch_size].to(snapshot.device))).argmax(1).cpu()
                   == labels[i:i + batch_size]).sum().item() for i in range(0, len(images), batch_size))
    return correct / max(len(images), 1)
