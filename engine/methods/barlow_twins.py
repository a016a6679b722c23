"""Barlow Twins (Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction")."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.losses import BarlowTwinsLoss
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import MLPHead


@dataclass
class BarlowTwinsConfig:
    lambda_: float = param(5e-3, "lambda: weight of the off-diagonal (redundancy reduction) terms", low=0.0, high=1.0)
    dim: int = param(1024, "Projector width (hidden and output; the paper finds wider is better)", low=8, high=16384)


@register_method
class BarlowTwins(Method):
    """Both views through the same network and 3-layer projector; the cross-correlation matrix of the two
    embeddings, standardised along the batch, is pushed to the identity (eq. 1)."""

    name = "barlow_twins"
    paper = "Zbontar et al. 2021, Barlow Twins"
    Config = BarlowTwinsConfig
    augment_defaults = {"solarize_p": 0.1}  # BYOL's augmentation, as the paper uses

    def __init__(self, backbone, config: BarlowTwinsConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.dim, config.dim, config.dim])
        self.criterion = BarlowTwinsLoss(config.lambda_)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x1, x2 = self.augment.views(images, 2, rng)
        h = self.backbone(torch.cat([x1, x2]))
        z1, z2 = self.projection(h).chunk(2)
        return StepOutput(self.criterion(z1, z2), h[: len(images)].detach())
