"""Projection and prediction heads (small MLPs) that methods compose with a backbone."""
from __future__ import annotations

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
