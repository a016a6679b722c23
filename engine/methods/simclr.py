"""SimCLR (Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations")."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import from_dict, param
from engine.data.shapes import ShapesConfig
from engine.losses import NTXentLoss
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import MLPHead


@dataclass
class SimCLRConfig:
    temperature: float = param(0.15, "NT-Xent temperature tau: lower sharpens the softmax over negatives",
                               low=0.01, high=2.0)
    hidden_dim: int = param(512, "Projection head hidden width", low=16, high=8192)
    out_dim: int = param(128, "Projection head output width (the space the loss compares)", low=8, high=4096)


@register_method
class SimCLR(Method):
    """Two augmented views per image; a projection head g; NT-Xent over the 2N projections.
    The other 2(N-1) views in the batch are the negatives."""

    name = "simclr"
    paper = "Chen et al. 2020, SimCLR"
    Config = SimCLRConfig
    train_defaults = {"lr": 8e-3}  # bench/README.md, "two minutes": the short lecture budget wants a high peak

    @classmethod
    def train_defaults_for(cls, dataset: str, dataset_options: dict) -> dict:
        """On shapes, views at 3/4 of the image side (24 px of 32; FixRes), never under 16 px (12 px views of 16 px
        images read as collapsed early on): twice the steps per minute, and after 2 minutes kNN 52 -> 60 %
        (bench/README.md)."""
        if dataset != "shapes":
            return cls.train_defaults
        size = from_dict(ShapesConfig, dataset_options).image_size
        return {**cls.train_defaults, "crop_size": max(size * 3 // 4, min(size, 16))}

    def __init__(self, backbone, config: SimCLRConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.hidden_dim, config.out_dim])
        self.criterion = NTXentLoss(config.temperature)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x1, x2 = self.augment.views(images, 2, rng)
        h = self.backbone(torch.cat([x1, x2]))  # one pass over both views: BN sees 2N images
        z1, z2 = self.projection(h).chunk(2)
        loss = self.criterion(z1, z2)
        return StepOutput(loss, h[: len(images)].detach())
