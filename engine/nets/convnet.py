"""The default backbone: a small VGG-style convnet that trains at hundreds of images/s on a laptop CPU."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class ConvNet(nn.Module):
    """Four conv-BN-ReLU stages (widths w, 2w, 4w, 8w), max-pooling between them, average pooling to a
    ``grid`` x ``grid`` map (1: global average pooling), flattened.

    At 32x32 and w=32 that is ~15 M multiply-adds per image; features are 8w * grid^2-dimensional. A 2x2 grid
    keeps the coarse layout that aligned, centred images (Fashion-MNIST, digits) are told apart by.
    """

    def __init__(self, in_channels: int = 3, width: int = 32, grid: int = 1):
        super().__init__()
        self.grid = grid
        widths = [width, 2 * width, 4 * width, 8 * width]
        layers: list[nn.Module] = [conv_bn_relu(in_channels, widths[0])]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [nn.MaxPool2d(2), conv_bn_relu(c_in, c_out)]
        self.features = nn.Sequential(*layers)
        self.out_dim = widths[-1] * grid * grid

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def stages(self) -> list[nn.Module]:
        """The four conv-BN-ReLU stages, in order (what engine/eval/layers.py reads)."""
        return list(self.features[::2])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        if self.grid == 1:
            return x.mean(dim=(2, 3))
        return F.adaptive_avg_pool2d(x.float(), self.grid).flatten(1)  # its bfloat16 CPU kernel is ~6x slower
