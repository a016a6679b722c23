"""DINO's self-distillation loss with centering and sharpening (Caron et al. 2021, Algorithm 1 and eq. 3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.losses.precision import float32


class DINOLoss(nn.Module):
    """H(t, s) = -sum softmax((t - C) / tpt) log softmax(s / tps), averaged over every pair of a teacher (global)
    view and a different student view. C is a running mean of the teacher outputs, C <- m C + (1 - m) mean(t),
    updated after each loss. ``center=False`` drops the -C (lesson: one dimension takes over); a teacher
    temperature as high as the student's drops the sharpening (lesson: uniform outputs)."""

    def __init__(self, out_dim: int, teacher_temp: float = 0.04, student_temp: float = 0.1,
                 center_momentum: float = 0.9, center: bool = True):
        super().__init__()
        self.teacher_temp, self.student_temp = teacher_temp, student_temp
        self.center_momentum, self.use_center = center_momentum, center
        self.register_buffer("center", torch.zeros(1, out_dim))

    @float32
    def targets(self, teacher: torch.Tensor) -> torch.Tensor:
        """The teacher's centred and sharpened distribution softmax((t - C) / tpt), without gradient."""
        center = self.center if self.use_center else 0.0
        return F.softmax((teacher.detach() - center) / self.teacher_temp, dim=1)

    @float32
    def forward(self, student: list[torch.Tensor], teacher: list[torch.Tensor]) -> torch.Tensor:
        targets = [self.targets(t) for t in teacher]
        log_probs = [F.log_softmax(s / self.student_temp, dim=1) for s in student]
        terms = [-(t * log_p).sum(1).mean()
                 for i, t in enumerate(targets) for v, log_p in enumerate(log_probs) if v != i]
        self.update_center(teacher)
        return sum(terms) / len(terms)

    @torch.no_grad()
    def update_center(self, teacher: list[torch.Tensor]) -> None:
        m = self.center_momentum
        batch_center = distributed.mean(torch.cat(teacher).mean(0, keepdim=True))  # over every rank's batch
        self.center.mul_(m).add_(batch_center, alpha=1 - m)
