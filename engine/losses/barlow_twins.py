"""Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021, eq. 1 and Algorithm 1)."""
from __future__ import annotations

import torch
from torch import nn

from engine.losses.precision import float32


class BarlowTwinsLoss(nn.Module):
    """C = z1n^T z2n / N, the cross-correlation of the two views' embeddings standardised along the batch;
    L = sum_i (1 - C_ii)^2 + lambda sum_i sum_{j != i} C_ij^2: invariance on the diagonal, decorrelation off it."""

    def __init__(self, lambda_: float = 5e-3):
        super().__init__()
        self.lambda_ = lambda_

    @float32
    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        z1 = (z1 - z1.mean(0)) / z1.std(0)
        z2 = (z2 - z2.mean(0)) / z2.std(0)
        c = z1.T @ z2 / len(z1)
        on_diagonal = (torch.diagonal(c) - 1).pow(2).sum()
        off_diagonal = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
        return on_diagonal + self.lambda_ * off_diagonal
