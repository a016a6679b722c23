"""SwAV: equal-partition codes by Sinkhorn-Knopp and the swapped prediction loss (Caron et al. 2020, eqs. 1-3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.losses.precision import float32


@torch.no_grad()
@float32
def sinkhorn(scores: torch.Tensor, epsilon: float = 0.05, iterations: int = 3) -> torch.Tensor:
    """Soft codes Q (B, K) for prototype scores (B, K): exp(scores / epsilon) alternately rescaled so that each
    prototype gets 1/K of the batch and each sample 1/B of the mass (the equal-partition transportation polytope,
    eq. 3), returned scaled so each sample's code sums to 1 and each prototype's column to B/K."""
    q = torch.exp((scores - scores.max()) / epsilon).T  # (K, B); the shift cancels in the normalisations
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True) * k  # rows: each prototype 1/K
        q /= q.sum(dim=0, keepdim=True) * b  # columns: each sample 1/B
    return (q * b).T


class SwAVLoss(nn.Module):
    """Swapped prediction: the code q_i of global view i is predicted from every other view v,
    l(z_v, q_i) = -sum_k q_i^(k) log softmax(z_v . c / t)^(k); the loss averages l over all (i, v != i) pairs."""

    def __init__(self, temperature: float = 0.1):
        super().__init__()
        self.temperature = temperature

    @float32
    def forward(self, scores: list[torch.Tensor], codes: list[torch.Tensor]) -> torch.Tensor:
        """``scores``: prototype scores of every view (global views first); ``codes``: the global views' codes."""
        terms = [-(q * F.log_softmax(s / self.temperature, dim=1)).sum(1).mean()
                 for i, q in enumerate(codes) for v, s in enumerate(scores) if v != i]
        return sum(terms) / len(terms)
