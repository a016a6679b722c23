"""SwAV: the swapped prediction loss (Caron et al. 2020, eqs. 1-2); its equal-partition codes come from
:func:`engine.losses.sinkhorn.sinkhorn` (eq. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.losses.precision import float32


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
