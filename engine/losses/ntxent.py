"""NT-Xent, SimCLR's normalised temperature-scaled cross entropy (Chen et al. 2020, eq. 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.losses.precision import float32


class NTXentLoss(nn.Module):
    """For 2N projections, l(i, j) = -log exp(s_ij / t) / sum_{k != i} exp(s_ik / t) with s the cosine
    similarity; the loss averages l over all 2N anchors, each with its positive in the other view."""

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature

    @float32
    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = z @ z.T / self.temperature
        logits.fill_diagonal_(float("-inf"))  # k != i
        positives = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
        return F.cross_entropy(logits, positives)
