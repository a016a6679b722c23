"""Attention maps of an encoder, how much of them falls on the object, and overlays to look at.

For a ViT: the last block's attention from [CLS] to every patch, one map per head, as DINO's
``visualize_attention.py`` shows it (Caron et al. 2021, fig. 1). For a convnet: the activation-based attention
map A = mean_c |F_c|^p of the last feature map (Zagoruyko & Komodakis 2017), the map Gidaris et al. (2018,
fig. 3) use to show what RotNet looks at. Both are upsampled to the image and scaled to [0, 1] per map.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _scaled(maps: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map divided by its maximum, so the strongest location is 1."""
    return maps / maps.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)


@torch.no_grad()
def attention_maps(encoder: nn.Module, x: torch.Tensor, p: float = 2.0) -> torch.Tensor:
    """(B, heads, H, W) maps in [0, 1] for normalised inputs x (B, C, H, W), the encoder in eval mode."""
    was_training = encoder.training
    encoder.eval()
    size = x.shape[-2:]
    if hasattr(encoder, "last_attention"):
        attn = encoder.last_attention(x)[:, :, 0, 1:]  # [CLS] -> patches, (B, heads, P)
        grid = x.shape[-1] // encoder.patch_size
        maps = F.interpolate(attn.reshape(len(x), -1, grid, grid), size=size, mode="nearest")
    else:
        activation = encoder.feature_map(x).abs().pow(p).mean(dim=1, keepdim=True)
        maps = F.interpolate(activation.float(), size=size, mode="bilinear", align_corners=False)
    encoder.train(was_training)
    return _scaled(maps.float())


def mass_in_mask(maps: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Fraction of each image's attention mass inside its object mask, averaged over heads: (B,).
    A map spread evenly scores the mask's area fraction; one that sits on the object scores near 1."""
    inside = (maps * masks[:, None].float()).sum(dim=(-2, -1))
    return (inside / maps.sum(dim=(-2, -1)).clamp_min(1e-12)).mean(dim=1)


def heat_colors(maps: torch.Tensor) -> torch.Tensor:
    """[0, 1] maps (..., H, W) to RGB (..., 3, H, W) on a black-red-yellow-white ramp."""
    m = maps.clamp(0, 1).unsqueeze(-3)
    return torch.cat([(3 * m).clamp(0, 1), (3 * m - 1).clamp(0, 1), (3 * m - 2).clamp(0, 1)], dim=-3)


def overlay_tiles(images: torch.Tensor, maps: torch.Tensor, alpha: float = 0.6) -> torch.Tensor:
    """uint8 (B, 1 + heads, 3, H, W): each image, then each head's heat map blended over it."""
    img = images.float().div(255)
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    blended = (1 - alpha) * img[:, None] + alpha * heat_colors(maps.to(img.device))  # (B, heads, 3, H, W)
    tiles = torch.cat([img[:, None], blended], dim=1)
    return (tiles.clamp(0, 1) * 255).round().to(torch.uint8)


def overlay_grid(images: torch.Tensor, maps: torch.Tensor, scale: int = 4, alpha: float = 0.6) -> torch.Tensor:
    """One row per image: the image, then each head's heat map blended over it; uint8 (3, rows*h, cols*w)
    enlarged ``scale`` times (nearest) so 32-pixel images are visible."""
    tiles = overlay_tiles(images, maps, alpha)
    b, cols, c, h, w = tiles.shape
    grid = tiles.permute(2, 0, 3, 1, 4).reshape(c, b * h, cols * w)
    return grid.repeat_interleave(scale, dim=1).repeat_interleave(scale, dim=2)
