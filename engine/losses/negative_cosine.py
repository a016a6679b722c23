"""Negative cosine similarity D(p, z) = -p/||p|| . z/||z|| (SimSiam, Chen & He 2021, eq. 1). BYOL's normalised
MSE ||p/||p|| - z/||z|| ||^2 = 2 - 2 cos (Grill et al. 2020, eq. 2) is 2 + 2 D(p, z)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.losses.precision import float32


class NegativeCosineSimilarity(nn.Module):
    """Mean over the batch of -cos(p_i, z_i). Stop-gradient is the caller's: pass ``z.detach()``."""

    @float32
    def forward(self, p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return -F.cosine_similarity(p, z, dim=1).mean()
