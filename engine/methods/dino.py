"""DINO (Caron et al. 2021, "Emerging Properties in Self-Supervised Vision Transformers")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.eval.protocol import embed
from engine.losses import DINOLoss
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import DINOHead
from engine.nets.momentum import copy_frozen, cosine_momentum, ema_update


class Targets(nn.Module):
    """``DINOLoss.targets`` as a module, to end the teacher's pipeline for the collapse monitor."""

    def __init__(self, criterion: DINOLoss):
        super().__init__()
        self.criterion = criterion

    def forward(self, teacher: torch.Tensor) -> torch.Tensor:
        return self.criterion.targets(teacher)


@dataclass
class DINOConfig:
    out_dim: int = param(1024, "K, the dimension of the output distributions", low=2, high=100_000)
    teacher_temp: float = param(0.04, "Teacher temperature tpt (sharpening: below the student's)", low=0.001, high=1.0)
    student_temp: float = param(0.1, "Student temperature tps", low=0.001, high=1.0)
    center_momentum: float = param(0.9, "Centering momentum m in C <- m C + (1 - m) mean(teacher outputs)",
                                   low=0.0, high=1.0)
    momentum: float = param(0.99, "Base teacher EMA momentum l, raised to 1 by a cosine schedule", low=0.0, high=1.0)
    local_crops: int = param(0, "Multi-crop: small local views, seen by the student only (the paper's 6 suit "
                                "224 px images; on 32 px images a local crop often misses the object)",
                             low=0, high=16)
    hidden_dim: int = param(512, "Head MLP hidden width", low=16, high=8192)
    bottleneck_dim: int = param(128, "Head bottleneck width before the prototypes layer", low=8, high=4096)
    head_bn: bool = param(True, "BatchNorm in the head's MLP (the code's use_bn_in_head; helps convnets start)")
    center: bool = param(True, "Centering of the teacher outputs (off: the lesson, one dimension dominates)")
    sharpen: bool = param(True, "Sharpening: teacher temperature below the student's "
                          "(off: the teacher uses the student temperature; the lesson, outputs turn uniform)")


@register_method
class DINO(Method):
    """Self-distillation with no labels (Algorithm 1): the student sees the two global views and the local crops,
    the teacher, an EMA of the student, only the global views; the student matches the teacher's centred and
    sharpened distribution of every other view, H(t, s). The teacher is the network evaluated, as in the paper."""

    name = "dino"
    paper = "Caron et al. 2021, DINO"
    Config = DINOConfig
    augment_defaults = {"crop_scale_min": 0.4, "local_scale_min": 0.05, "local_scale_max": 0.4, "solarize_p": 0.1}
    train_defaults = {"lr": 5e-4, "weight_decay": 0.04}

    def __init__(self, backbone, config: DINOConfig, augment):
        super().__init__(backbone, config, augment)
        self.head = DINOHead(backbone.out_dim, config.out_dim, config.hidden_dim, config.bottleneck_dim,
                            config.head_bn)
        self.teacher_backbone, self.teacher_head = copy_frozen(backbone), copy_frozen(self.head)
        teacher_temp = config.teacher_temp if config.sharpen else config.student_temp
        self.criterion = DINOLoss(config.out_dim, teacher_temp, config.student_temp, config.center_momentum,
                                  config.center)

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        n_local = self.config.local_crops
        views = self.augment.views(images, 2, rng, n_local=n_local)
        h = self.backbone(torch.cat(views[:2]))  # global and local views differ in size: one pass each
        features = [h] + ([self.backbone(torch.cat(views[2:]))] if n_local else [])
        student = self.head(torch.cat(features)).chunk(2 + n_local)
        with torch.no_grad():
            teacher = self.teacher_head(self.teacher_backbone(torch.cat(views[:2]))).chunk(2)
        loss = self.criterion(list(student), list(teacher))
        return StepOutput(loss, h[: len(images)].detach())

    def after_step(self, progress: float) -> None:
        m = cosine_momentum(self.config.momentum, progress)
        ema_update(self.teacher_backbone, self.backbone, m)
        ema_update(self.teacher_head, self.head, m)

    @property
    def encoder(self):
        return self.teacher_backbone

    @property
    def embedder(self) -> nn.Module:
        """The teacher's target distributions: DINO's two collapses (one dimension dominates, or uniform outputs)
        both make them the same for every image (Caron et al. 2021, sec. 5.3)."""
        return nn.Sequential(self.teacher_backbone, self.teacher_head, Targets(self.criterion)).train(self.training)

    @property
    def monitor_grace_steps(self) -> int:
        """The monitor reads the EMA teacher, which trails the student by about 1 / (1 - m) steps: until it has
        caught up, its outputs are still the near-uniform ones of initialisation (0.25 / sqrt(K) at step 73 of a
        healthy shapes run that reached 0.5 / sqrt(K) and rank 118), not a collapse."""
        return super().monitor_grace_steps + round(1 / max(1 - self.config.momentum, 0.01))

    @torch.no_grad()
    def prototype_scores(self, images: torch.Tensor) -> torch.Tensor:
        """(B, K) on the CPU: the teacher head's logits for each uint8 image, one per output dimension (its last
        layer's weight-normalised prototypes, Caron et al. 2021, appendix), before centering and sharpening."""
        teacher = nn.Sequential(self.teacher_backbone, self.teacher_head).train(self.training)
        return embed(teacher, images, self.augment.prepare, images.device)
