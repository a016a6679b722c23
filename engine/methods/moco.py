"""MoCo v2 (He et al. 2020, "Momentum Contrast for Unsupervised Visual Representation Learning"; Chen et al. 2020,
"Improved Baselines with Momentum Contrastive Learning").

Shuffling BN (He et al. 2020, sec. 3.3) on one device: BatchNorm statistics computed over the whole batch let a
query tell its own key, which shared them, from the queue's, which did not, and the model learns that shortcut. As
MoCo's code does on several GPUs, the batch is split into groups that each get their own BatchNorm statistics (one
group per GPU there), and the key encoder sees the keys in a random order before the split, so that a query's
statistics come from other images than its key's."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine import distributed
from engine.config import param
from engine.losses import InfoNCELoss
from engine.methods.base import Method, StepOutput, register_method
from engine.nets.heads import MLPHead
from engine.nets.momentum import copy_frozen, ema_update


class KeyQueue(nn.Module):
    """A FIFO of the K most recent keys: each batch of keys replaces the oldest ones (He et al. 2020, sec. 3.2).
    Its size is independent of the batch size. Starts as random unit vectors, as in the paper's code."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def push(self, keys: torch.Tensor) -> None:
        n, size = len(keys), len(self.keys)
        kept = keys[-size:].to(self.keys.dtype)  # a batch larger than the queue keeps its newest keys
        index = (self.pointer + n - len(kept) + torch.arange(len(kept), device=keys.device)) % size
        self.keys[index] = kept
        self.pointer.copy_((self.pointer + n) % size)


@dataclass
class MoCoConfig:
    temperature: float = param(0.2, "InfoNCE temperature tau", low=0.01, high=2.0)
    queue_size: int = param(4096, "Negatives kept in the queue (decoupled from the batch size)", low=16, high=1_000_000)
    momentum: float = param(0.99, "Key encoder momentum m in theta_k <- m theta_k + (1 - m) theta_q", low=0.0, high=1.0)
    hidden_dim: int = param(512, "Projection head hidden width (MoCo v2's MLP head)", low=16, high=8192)
    out_dim: int = param(128, "Projection head output width (the space of queries, keys and the queue)",
                         low=8, high=4096)
    shuffle_bn: bool = param(True, "Shuffling BN: BatchNorm statistics per group of the batch (as per GPU), keys "
                             "shuffled across the groups, so that a query and its key do not share statistics")
    bn_groups: int = param(8, "Shuffling BN: groups the batch is split into (the number of GPUs it stands for)",
                           low=2, high=64)


def split_batch(network: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, groups: int) -> torch.Tensor:
    """``network`` applied to each of ``groups`` consecutive slices of the batch on its own, as on ``groups`` GPUs:
    its BatchNorm layers normalise each slice with that slice's statistics."""
    return torch.cat([network(part) for part in x.chunk(groups)])


@register_method
class MoCo(Method):
    """Queries q = g(f(x1)) from the online encoder, keys k = g_k(f_k(x2)) from a momentum copy without gradients;
    InfoNCE with the positive key against a queue of keys from earlier batches. After each step the key encoder
    follows the online one by EMA and this batch's keys enter the queue. With ``shuffle_bn`` both encoders run per
    group of the batch, the keys in a shuffled order that is undone afterwards."""

    name = "moco"
    paper = "Chen et al. 2020, MoCo v2"
    Config = MoCoConfig
    augment_defaults = {"blur_p": 0.5}  # MoCo v2's "aug+": SimCLR's augmentation with blur

    def __init__(self, backbone, config: MoCoConfig, augment):
        super().__init__(backbone, config, augment)
        self.projection = MLPHead([backbone.out_dim, config.hidden_dim, config.out_dim])
        self.key_backbone, self.key_projection = copy_frozen(backbone), copy_frozen(self.projection)
        self.queue = KeyQueue(config.queue_size, config.out_dim)
        self.criterion = InfoNCELoss(config.temperature)
        self._keys: torch.Tensor | None = None

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        x_q, x_k = self.augment.views(images, 2, rng)
        groups = self._bn_groups(len(images))
        h = split_batch(self.backbone, x_q, groups)
        q = split_batch(self.projection, h, groups)
        with torch.no_grad():
            n, device = len(x_k), x_k.device
            order = torch.randperm(n, generator=rng, device=device) if groups > 1 else torch.arange(n, device=device)
            k = split_batch(lambda x: self.key_projection(self.key_backbone(x)), x_k[order], groups)
            k = F.normalize(k[order.argsort()], dim=1)  # back in the queries' order
        loss = self.criterion(q, k, self.queue.keys)
        self._keys = k
        return StepOutput(loss, h.detach())

    def _bn_groups(self, batch_size: int) -> int:
        if not self.config.shuffle_bn:
            return 1
        if batch_size < 2 * self.config.bn_groups:
            raise ValueError(f"MoCo's shuffle_bn splits a batch into method.bn_groups={self.config.bn_groups} "
                             f"groups of at least 2 images: use a batch_size of at least {2 * self.config.bn_groups}, "
                             f"fewer bn_groups or method.shuffle_bn=false")
        return self.config.bn_groups

    def after_step(self, progress: float) -> None:
        ema_update(self.key_backbone, self.backbone, self.config.momentum)
        ema_update(self.key_projection, self.projection, self.config.momentum)
        self.queue.push(distributed.gather(self._keys))  # every rank's keys: the same queue on every rank
