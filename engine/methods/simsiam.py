"""SimSiam (Chen & He 2021, "Exploring Simple Siamese Representation Learning")."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.losses import NegativeCosineSimilarity
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import MLPHead


@dataclass
class SimSiamConfig:
    stop_gradient: bool = param(True, "Stop-gradient on the target branch (off: the lesson, it collapses at once)")
    dim: int = param(512, "Projection width (output BatchNorm, as in the paper)", low=8, high=8192)
    pred_dim: int = param(128, "Predictor bottleneck width", low=4, high=8192)


@register_method
class SimSiam(Method):
    """One network f + projector for both views, a predictor h on top; L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2
    (Algorithm 1). No negatives, no momentum encoder: the stop-gradient alone prevents collapse."""

    name = "simsiam"
    paper = "Chen & He 2021, SimSiam"
    Config = SimSiamConfig
    train_defaults = {"weight_decay": 0.05}  # bench/README.md: 10-minute A/B against 1e-4 (AdamW, decoupled)

    def __init__(self, backbone, config: SimSiamConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.dim, config.dim, config.dim], last_bn=True)
        self.predictor = MLPHead([config.dim, config.pred_dim, config.dim])
        self.criterion = NegativeCosineSimilarity()

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x1, x2 = self.augment.views(images, 2, rng)
        h = self.backbone(torch.cat([x1, x2]))
        z = self.projection(h)
        p1, p2 = self.predictor(z).chunk(2)
        z1, z2 = (z.detach() if self.config.stop_gradient else z).chunk(2)
        loss = self.criterion(p1, z2) / 2 + self.criterion(p2, z1) / 2
        return StepOutput(loss, h[: len(images)].detach())
