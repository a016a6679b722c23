"""InfoNCE with a separate set of negatives, as MoCo uses it (van den Oord et al. 2018; He et al. 2020, eq. 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.losses.precision import float32


class InfoNCELoss(nn.Module):
    """L = -log exp(q.k+ / t) / (exp(q.k+ / t) + sum_j exp(q.k_j / t)) over L2-normalised queries q, their positive
    keys k+ and negatives k_j (MoCo's queue): a (1 + K)-way classification whose answer is always the positive."""

    def __init__(self, temperature: float = 0.2):
        super().__init__()
        self.temperature = temperature

    @float32
    def forward(self, q: torch.Tensor, k: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        q, k, negatives = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(negatives, dim=1)
        logits = torch.cat([(q * k).sum(1, keepdim=True), q @ negatives.T], dim=1) / self.temperature
        return F.cross_entropy(logits, torch.zeros(len(q), dtype=torch.long, device=q.device))
