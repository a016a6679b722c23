"""SwAV (Caron et al. 2020, "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.eval.protocol import embed
from engine.losses import SwAVLoss, sinkhorn
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import L2Normalize, MLPHead, Prototypes


@dataclass
class SwAVConfig:
    prototypes: int = param(512, "Number of prototypes K (clusters the batch is split equally among); at least the "
                            "projection width, or the embeddings can hide where every prototype scores the same",
                            low=2, high=100_000)
    temperature: float = param(0.1, "Softmax temperature of the swapped prediction", low=0.01, high=2.0)
    epsilon: float = param(0.05, "Sinkhorn entropy regularisation (smaller: harder codes)", low=0.001, high=1.0)
    sinkhorn_iterations: int = param(3, "Sinkhorn-Knopp iterations", low=1, high=100)
    local_crops: int = param(0, "Multi-crop: small local views besides the two global ones (the paper's 6 suit "
                                "224 px images; on 16-32 px images they push short runs into uniform codes)",
                             low=0, high=16)
    hidden_dim: int = param(512, "Projection head hidden width", low=16, high=8192)
    out_dim: int = param(128, "Projection width (the space of the prototypes)", low=8, high=4096)


@register_method
class SwAV(Method):
    """Every view is projected to the unit sphere and scored against K prototypes; the codes of the two global
    views are computed online by Sinkhorn-Knopp so that the batch is split equally among the prototypes; each
    view then predicts the code of the other views (swapped prediction), multi-crop's small local views included
    when they are switched on."""

    name = "swav"
    paper = "Caron et al. 2020, SwAV"
    Config = SwAVConfig
    augment_defaults = {"crop_scale_min": 0.14, "local_scale_min": 0.05, "local_scale_max": 0.14}  # sec. 4.1

    def __init__(self, backbone, config: SwAVConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.hidden_dim, config.out_dim])
        self.prototypes = Prototypes(config.out_dim, config.prototypes)
        self.criterion = SwAVLoss(config.temperature)
        self.after_step(0.0)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        cfg = self.config
        views = self.augment.views(images, 2, rng, n_local=cfg.local_crops)
        h = self.backbone(torch.cat(views[:2]))  # global and local views differ in size: one pass each
        features = [h] + ([self.backbone(torch.cat(views[2:]))] if cfg.local_crops else [])
        z = F.normalize(self.projection(torch.cat(features)), dim=1)
        scores = list(self.prototypes(z).chunk(len(views)))
        codes = [sinkhorn(s.detach(), cfg.epsilon, cfg.sinkhorn_iterations) for s in scores[:2]]
        return StepOutput(self.criterion(scores, codes), h[: len(images)].detach())

    @torch.no_grad()
    def after_step(self, progress: float) -> None:
        """The prototypes live on the unit sphere: renormalised after every update, as the code does before each
        step (``w.data = normalize(w.data)``)."""
        self.prototypes.weight.copy_(F.normalize(self.prototypes.weight, dim=1))

    @torch.no_grad()
    def prototype_scores(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) on the CPU: cosine similarity of each uint8 image's L2-normalised projection to each prototype,
        the scores whose softmax predicts the image's code (sec. 3.1), in eval mode."""
        scorer = nn.Sequential(self.backbone, self.projection, L2Normalize(), self.prototypes).train(self.training)
        return embed(scorer, images, self.augment.prepare, images.device)
