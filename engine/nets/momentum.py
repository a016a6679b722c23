"""Momentum (EMA) networks shared by MoCo, BYOL and DINO.

The key encoder / target / teacher is a frozen copy of the online network, updated after each optimizer
step by theta_k <- m theta_k + (1 - m) theta_q (He et al. 2020, eq. 2). Its parameters keep
``requires_grad=False``, so the Session's optimizer leaves them out while checkpoints still hold them.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn


def copy_frozen(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` that receives no gradients (the EMA target starts equal to the online net)."""
    target = copy.deepcopy(module)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, m: float) -> None:
    """theta_target <- m theta_target + (1 - m) theta_online; buffers (BatchNorm statistics) are copied."""
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        t.lerp_(o.detach(), 1.0 - m)
    for t, o in zip(target.buffers(), online.buffers(), strict=True):
        t.copy_(o)


def cosine_momentum(base: float, progress: float) -> float:
    """BYOL's schedule (Grill et al. 2020, sec. 3.2): m = 1 - (1 - base) (cos(pi progress) + 1) / 2, rising to 1."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * progress) + 1.0) / 2.0
