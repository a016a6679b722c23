"""ResNet-18 with the CIFAR stem (He et al. 2016; 3x3 stride-1 first conv, no max-pool), as in SimCLR's CIFAR runs."""
from __future__ import annotations

import torch
from torch import nn


class ResNet18(nn.Module):
    def __init__(self, in_channels: int = 3):
        super().__init__()
        from torchvision.models import resnet18  # torchvision takes seconds to import: only when asked for

        net = resnet18()
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu)
        self.layers = nn.Sequential(net.layer1, net.layer2, net.layer3, net.layer4)
        self.out_dim = 512

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.stem(x))

    def stages(self) -> list[nn.Module]:
        """The four residual stages, in order (what engine/eval/layers.py reads)."""
        return list(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.feature_map(x).mean(dim=(2, 3))
