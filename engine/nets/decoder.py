"""A light convolutional decoder from a convnet backbone's feature map back to pixels, shared by the
reconstruction pretext tasks (context encoder, denoising autoencoder)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from engine.nets.convnet import conv_bn_relu

STAGES = 3  # the convnet and the CIFAR-stem ResNet-18 both downsample 8x: one upsampling stage per halving


def feature_channels(backbone: nn.Module) -> int:
    """Channels of ``backbone.feature_map``: its features are those channels pooled to a grid x grid map."""
    return backbone.out_dim // getattr(backbone, "grid", 1) ** 2


def pooled_features(backbone: nn.Module, feature_map: torch.Tensor) -> torch.Tensor:
    """(B, out_dim): the backbone's own features computed from its feature map, as its ``forward`` pools it (global
    average, or a grid x grid average for ``convnet-grid``), so a method need not run the backbone twice."""
    grid = getattr(backbone, "grid", 1)
    if grid == 1:
        return feature_map.mean(dim=(2, 3))
    return F.adaptive_avg_pool2d(feature_map.float(), grid).flatten(1)


class ConvDecoder(nn.Module):
    """(B, in_channels, S/8, S/8) -> (B, out_channels, S, S): a 1x1 conv-BN-ReLU to ``width`` channels, three stages
    of nearest-neighbour upsampling (to S/4, S/2, S: the sizes of the encoder's stages, so any S works) each followed
    by a 3x3 conv-BN-ReLU halving the width, then a 3x3 conv to the image's channels without an activation (the
    targets are normalised pixels). No skip connections: everything must pass through the encoder's features.
    At 32 px and width 64 it costs about a quarter of the convnet encoder's multiply-adds."""

    def __init__(self, in_channels: int, out_channels: int, width: int = 64):
        super().__init__()
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, width, 1, bias=False), nn.BatchNorm2d(width),
                                    nn.ReLU(inplace=True))
        widths = [max(width // 2**k, 4) for k in range(STAGES + 1)]
        self.stages = nn.ModuleList(conv_bn_relu(c_in, c_out) for c_in, c_out in zip(widths, widths[1:]))
        self.out = nn.Conv2d(widths[-1], out_channels, 3, padding=1)

    @classmethod
    def for_backbone(cls, backbone: nn.Module, out_channels: int, width: int, method: str) -> ConvDecoder:
        if not hasattr(backbone, "feature_map"):
            raise ValueError(f"{method} decodes a convnet's spatial feature map: choose --backbone convnet, "
                             f"convnet-grid or resnet18, not {type(backbone).__name__}")
        return cls(feature_channels(backbone), out_channels, width)

    def forward(self, feature_map: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        h, w = size
        x = self.reduce(feature_map)
        for k, stage in enumerate(self.stages):
            scale = 2 ** (STAGES - 1 - k)
            x = stage(F.interpolate(x, size=(h // scale, w // scale), mode="nearest"))
        return self.out(x)
