"""Collapse monitor: representation statistics computed at every online evaluation.

- std: mean per-dimension std of the L2-normalised embeddings (Chen & He 2021, fig. 2). A collapsed
  representation (one point) gives 0; embeddings spread over the sphere give about 1/sqrt(d).
- rank: RankMe effective rank, exp of the entropy of the normalised singular values (Garrido et al. 2023,
  after Roy & Vetterli 2007): 1 when everything lies on a line, up to d.
- alignment: E ||f(x) - f(x+)||^2 over two augmented views of the same image (Wang & Isola 2020), lower is better.
- uniformity: log E exp(-2 ||f(x) - f(y)||^2) over pairs of different images (Wang & Isola 2020), lower is
  more uniform; a collapsed representation gives 0, the maximum.

All four read a subject's outputs as points on the sphere, where embeddings spread in every direction are healthy.
Non-negative features (a ReLU backbone's, RotNet's subject) all lie in one orthant, so they read as nearly collapsed
when they are not (a healthy RotNet run on digits, kNN 88 %: std 0.12 / sqrt(d), uniformity -0.08): for such
subjects ``monitor(centre=True)`` first subtracts the mean embedding, as Chen & He's projector outputs (ending in
BatchNorm) are centred. The lesson switches' subjects are not centred: DINO's collapse to one shared distribution is
exactly what centring would hide (its std without sharpening is 0.2 / sqrt(d) as measured, 0.9 / sqrt(d) centred).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from engine.eval.protocol import embed

# Thresholds, from short runs on shapes (tests/test_collapse.py): healthy runs of every method stay above
# 0.28 / sqrt(d) (most above 0.5 / sqrt(d)) with an effective rank of 7 or more; the collapsing lesson switches fall
# to 0.02-0.2 / sqrt(d) or to a rank near 2.
COLLAPSE_RANK = 3.0  # effective rank below this: the embeddings lie on (almost) a line or a plane
COLLAPSE_STD = 0.25  # std below 0.25 / sqrt(d): a quarter of the spread of embeddings spread over the sphere
GRACE_STEPS = 50  # no warning before: a freshly initialised head reads as collapsed until training spreads it


def embedding_std(z: torch.Tensor) -> float:
    return F.normalize(z.float(), dim=1).std(dim=0).mean().item()


def effective_rank(z: torch.Tensor, eps: float = 1e-7) -> float:
    s = torch.linalg.svdvals(z.float())
    p = s / s.sum().clamp_min(eps) + eps
    return math.exp(-(p * p.log()).sum().item())


def alignment(z1: torch.Tensor, z2: torch.Tensor) -> float:
    return (F.normalize(z1.float(), dim=1) - F.normalize(z2.float(), dim=1)).pow(2).sum(1).mean().item()


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    z = F.normalize(z.float(), dim=1)
    return torch.pdist(z).pow(2).mul(-t).exp().mean().log().item()


def representation_metrics(z: torch.Tensor, z1: torch.Tensor, z2: torch.Tensor) -> dict[str, float]:
    """Scores of embeddings z (N, d) of clean images and z1, z2 of two augmented views of the same images."""
    return {"std": embedding_std(z), "rank": effective_rank(z), "alignment": alignment(z1, z2),
            "uniformity": uniformity(z)}


def monitor(encoder: nn.Module, images: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
            augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor], device: torch.device,
            seed: int = 0, centre: bool = False) -> tuple[dict[str, float], str | None]:
    """The metrics for uint8 ``images`` (clean embeddings, and two views from fixed seeds so that runs and steps
    compare) and why they count as collapsed, or None. ``centre`` subtracts the clean embeddings' mean first."""
    views = []
    for k in (1, 2):
        rng = torch.Generator(device).manual_seed(seed * 2 + k)
        views.append(embed(encoder, images, lambda x, rng=rng: augment(x, rng), device))
    z = embed(encoder, images, prepare, device)
    if centre:
        mean = z.mean(dim=0)
        z, views = z - mean, [v - mean for v in views]
    scores = representation_metrics(z, *views)
    return scores, collapse_reason(scores, z.shape[1])


def collapse_reason(scores: dict[str, float], dim: int) -> str | None:
    """Why the representation counts as collapsed, or None when it does not."""
    if scores["rank"] < COLLAPSE_RANK:
        return f"effective rank {scores['rank']:.2f} < {COLLAPSE_RANK:g}"
    if scores["std"] < COLLAPSE_STD / math.sqrt(dim):
        return f"std of normalised embeddings {scores['std']:.4f} < {COLLAPSE_STD:g}/sqrt({dim})"
    return None
