"""Projection, prediction and prototype heads that methods compose with a backbone."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class MLPHead(nn.Sequential):
    """Linear layers with BatchNorm + ReLU between them: dims [in, hidden, ..., out].

    ``last_bn`` adds a BatchNorm without affine parameters after the last layer (as SimSiam/Barlow Twins use).
    """

    def __init__(self, dims: list[int], last_bn: bool = False):
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims, dims[1:])):
            last = i == len(dims) - 2
            layers.append(nn.Linear(d_in, d_out, bias=last and not last_bn))
            if not last:
                layers += [nn.BatchNorm1d(d_out), nn.ReLU(inplace=True)]
        if last_bn:
            layers.append(nn.BatchNorm1d(dims[-1], affine=False))
        super().__init__(*layers)


class L2Normalize(nn.Module):
    """Projects each row onto the unit sphere: the step before a prototype layer, as a module to end a pipeline."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1)


class Prototypes(nn.Module):
    """K prototype vectors compared to the input by dot product with their L2-normalised weights: SwAV's
    prototype layer (Caron et al. 2020, sec. 3.1) and DINO's weight-normalised last layer with its norm fixed
    to 1 (Caron et al. 2021, ``norm_last_layer``)."""

    def __init__(self, dim: int, k: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(k, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, F.normalize(self.weight, dim=1))


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, appendix): a 3-layer MLP with GELU (optionally BatchNorm, the
    code's ``use_bn_in_head``), an L2-normalised bottleneck, then the weight-normalised prototypes layer giving K
    logits."""

    def __init__(self, in_dim: int, out_dim: int, hidden_dim: int = 512, bottleneck_dim: int = 128, bn: bool = False):
        super().__init__()
        norm = (lambda: nn.BatchNorm1d(hidden_dim)) if bn else nn.Identity
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), norm(), nn.GELU(), nn.Linear(hidden_dim, hidden_dim),
                                 norm(), nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = Prototypes(bottleneck_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.prototypes(F.normalize(self.mlp(x), dim=1))
