"""Backbones (registry) and heads."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from engine.nets.convnet import ConvNet
from engine.nets.resnet import ResNet18
from engine.nets.vit import TinyViT

BACKBONES: dict[str, Callable[[int, int], nn.Module]] = {
    "convnet": lambda channels, size: ConvNet(channels),
    "convnet-grid": lambda channels, size: ConvNet(channels, grid=2),
    "resnet18": lambda channels, size: ResNet18(channels),
    "vit-tiny": lambda channels, size: TinyViT(channels, size),
}
BACKBONE_HELP = {
    "convnet": "small 4-stage convnet, fast on a laptop CPU (default)",
    "convnet-grid": "the small convnet with 2x2-pooled features (1024-d): keeps the layout of centred images "
                    "(Fashion-MNIST, digits)",
    "resnet18": "ResNet-18 with the CIFAR stem: stronger, far slower on a CPU (for a GPU)",
    "vit-tiny": "tiny ViT (patch 4, width 192, depth 6) with readable attention (for DINO)",
}


def build_backbone(name: str, channels: int, image_size: int) -> nn.Module:
    """A backbone mapping (B, channels, image_size, image_size) images to (B, out_dim) features."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(BACKBONES)}")
    return BACKBONES[name](channels, image_size)


def untrained_backbone(name: str, channels: int, image_size: int, seed: int) -> nn.Module:
    """A freshly initialised backbone drawn from its own ``seed``: torch's global random state is put back, so a
    training thread using it is not disturbed."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_backbone(name, channels, image_size)
