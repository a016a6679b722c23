"""NT-Xent, SimCLR's normalised temperature-scaled cross entropy (Chen et al. 2020, eq. 1), with the negatives of
every process of a multi-process run (sec. 2.2: the batch, spread over devices, stays global)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.losses.precision import float32


class NTXentLoss(nn.Module):
    """For 2N projections, l(i, j) = -log exp(s_ij / t) / sum_{k != i} exp(s_ik / t) with s the cosine
    similarity; the loss averages l over all 2N anchors, each with its positive in the other view. Under torchrun
    the k run over every rank's projections (gathered with their gradient) and the anchors are this rank's: the
    mean of the ranks' losses is the loss of one process on the global batch."""

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature

    @float32
    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        n = len(z1)
        z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
        candidates = torch.cat([distributed.gather_with_grad(z1), distributed.gather_with_grad(z2)])
        total = len(candidates) // 2  # N over all ranks
        own = torch.arange(n, device=z1.device) + distributed.rank() * n  # this rank's rows among the N
        logits = torch.cat([z1, z2]) @ candidates.T / self.temperature
        logits[torch.arange(2 * n, device=z1.device), torch.cat([own, own + total])] = float("-inf")  # k != i
        positives = torch.cat([own + total, own])
        return F.cross_entropy(logits, positives)
