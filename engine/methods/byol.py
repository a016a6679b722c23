"""BYOL (Grill et al. 2020, "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.losses import NegativeCosineSimilarity
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import MLPHead
from engine.nets.momentum import copy_frozen, cosine_momentum, ema_update


@dataclass
class BYOLConfig:
    momentum: float = param(0.99, "Base EMA momentum of the target, raised to 1 by a cosine schedule "
                            "(0: the target is the online network itself; lesson: it collapses)", low=0.0, high=1.0)
    predictor: bool = param(True, "Predictor q on the online branch (off, with momentum 0: collapse)")
    hidden_dim: int = param(1024, "Hidden width of the projector and the predictor", low=16, high=8192)
    out_dim: int = param(256, "Projection (and prediction) width", low=8, high=4096)


@register_method
class BYOL(Method):
    """The online network (f, g, predictor q) predicts the target network's projection of the other view;
    the target (f', g') is an EMA of the online one and gets no gradient. No negatives: the predictor and the
    slowly moving target keep the trivial constant solution from being reached. Symmetric loss (eq. 2)
    ||p1/|p1| - z2'/|z2'| ||^2 + ||p2/|p2| - z1'/|z1'| ||^2 = 4 + 2 D(p1, z2') + 2 D(p2, z1')."""

    name = "byol"
    paper = "Grill et al. 2020, BYOL"
    Config = BYOLConfig
    augment_defaults = {"solarize_p": 0.1}  # the paper's solarization, averaged over its two view distributions

    def __init__(self, backbone, config: BYOLConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.hidden_dim, config.out_dim])
        predictor = MLPHead([config.out_dim, config.hidden_dim, config.out_dim])
        self.predictor = predictor if config.predictor else nn.Identity()
        self.target_backbone, self.target_projection = copy_frozen(backbone), copy_frozen(self.projection)
        self.criterion = NegativeCosineSimilarity()

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x1, x2 = self.augment.views(images, 2, rng)
        x = torch.cat([x1, x2])
        h = self.backbone(x)
        p1, p2 = self.predictor(self.projection(h)).chunk(2)
        with torch.no_grad():
            z1, z2 = self.target_projection(self.target_backbone(x)).chunk(2)
        loss = 4 + 2 * self.criterion(p1, z2) + 2 * self.criterion(p2, z1)
        return StepOutput(loss, h[: len(images)].detach())

    def after_step(self, progress: float) -> None:
        m = cosine_momentum(self.config.momentum, progress)
        ema_update(self.target_backbone, self.backbone, m)
        ema_update(self.target_projection, self.projection, m)
