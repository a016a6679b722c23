"""Context encoder (Pathak, Krahenbuhl, Donahue, Darrell & Efros 2016, "Context Encoders: Feature Learning by
Inpainting")."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.losses import adversarial_losses
from engine.methods.base import register_method
from engine.methods.reconstruction import ConvAutoencoder, decoder_width_param

MASKS = ("centre", "blocks", "region")
OVERLAP_WEIGHT = 10.0  # the paper's code weights the overlap's L2 10x (overlapL2Weight)
BLOCK_SIDE = 0.25  # random blocks: side as a fraction of the image's
REGION_GRID = 4  # random regions: bicubic upsampling of this many uniform values per side, thresholded


def centre_mask(n: int, size: int, area: float, device: torch.device) -> torch.Tensor:
    """(n, 1, S, S): 1 on the central square of ``area`` times the image (the paper's: 64 x 64 of 128 x 128)."""
    side = max(1, round(size * math.sqrt(area)))
    start = (size - side) // 2
    mask = torch.zeros(n, 1, size, size, device=device)
    mask[..., start:start + side, start:start + side] = 1
    return mask


def block_mask(n: int, size: int, area: float, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """Random blocks (sec. 3.3): squares of a quarter of the image's side at uniform positions, possibly
    overlapping, as many per image as keep their union within ``area`` (at least one)."""
    side = max(1, round(size * BLOCK_SIDE))
    candidates = 2 * math.ceil(area / (side / size) ** 2) + 2
    top, left = (torch.randint(0, size - side + 1, (n, candidates, 1, 1), generator=rng, device=device) for _ in "yx")
    pixels = torch.arange(size, device=device)
    rows, cols = pixels.view(1, 1, size, 1), pixels.view(1, 1, 1, size)
    blocks = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)  # (n, K, S, S)
    unions = blocks.to(torch.uint8).cummax(dim=1).values  # the union of the first k blocks, k = 1..K
    kept = (unions.float().mean(dim=(2, 3)) <= area).sum(dim=1).clamp_min(1)
    return unions[torch.arange(n, device=device), kept - 1].unsqueeze(1).float()


def region_mask(n: int, size: int, area: float, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """Random regions: the paper pastes PASCAL object shapes; its code thresholds bicubically upsampled uniform
    noise into blobs, as here, at each image's ``area`` quantile so the blobs cover exactly that fraction."""
    noise = torch.rand(n, 1, REGION_GRID, REGION_GRID, generator=rng, device=device)
    smooth = F.interpolate(noise, size=(size, size), mode="bicubic", align_corners=False).flatten(1)
    threshold = smooth.kthvalue(max(1, round(area * size * size)), dim=1, keepdim=True).values
    return (smooth <= threshold).float().view(n, 1, size, size)


def hole_mask(kind: str, n: int, size: int, area: float, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    if kind == "centre":
        return centre_mask(n, size, area, device)
    return (block_mask if kind == "blocks" else region_mask)(n, size, area, rng, device)


class Discriminator(nn.Sequential):
    """DCGAN's discriminator, small: 4x4 stride-2 convs with LeakyReLU(0.2), global average, a linear logit. No
    BatchNorm, so the real and fake batches and the generator's second pass do not share batch statistics."""

    def __init__(self, channels: int, width: int = 32):
        layers: list[nn.Module] = []
        for c_in, c_out in zip([channels, width, 2 * width], [width, 2 * width, 4 * width]):
            layers += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
        super().__init__(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, 1))


@dataclass
class ContextEncoderConfig:
    mask: str = param("centre", "Region removed: the centre square, random blocks, or random blob-shaped regions",
                      choices=MASKS)
    mask_area: float = param(0.25, "Fraction of the image removed (the paper's: a quarter)", low=0.05, high=0.75)
    overlap: int = param(0, "Pixels of context around the hole also reconstructed, their L2 weighted 10x "
                            "(the paper's overlap, for blending; 0: off)", low=0, high=8)
    adversarial: bool = param(True, "Joint loss with a discriminator on the filled image (off: L2 only, which "
                                    "fills the hole with a blurry average)")
    adv_weight: float = param(0.001, "lambda_adv of the joint loss; lambda_rec = 1 - lambda_adv", low=0.0, high=1.0)
    decoder_width: int = decoder_width_param()


@register_method
class ContextEncoder(ConvAutoencoder):
    """A region of each image is filled with the mean (0 after normalisation) and the encoder-decoder paints it
    back. L = lambda_rec L_rec + lambda_adv L_adv (sec. 3.2; 0.999 and 0.001): L_rec the L2 over the missing region
    (eq. 1), L_adv the generator's side of a GAN whose discriminator tells the real image from the image with the
    fill pasted in (the paper's D sees the centre region alone, which only the centre mask defines).

    One optimiser, one backward: the returned loss is lambda_rec L_rec + lambda_adv L_G + L_D, where L_D scores
    detached fakes (its gradient reaches only D) and L_G runs the fakes through D with detached parameters
    (``torch.func.functional_call``; its gradient reaches only the generator): each player descends its own loss,
    D learns to flag the fakes while the generator learns to pass them (engine/losses/adversarial.py). The paper's
    code gives the generator 10x D's learning rate (2e-3 and 2e-4); here both share the run's (2e-3 by default)."""

    name = "context_encoder"
    paper = "Pathak et al. 2016, Context Encoders"
    Config = ContextEncoderConfig
    # light augmentation: the task needs no invariance, only varied scenes (the paper: random crops); no rotation
    # or colour jitter, which the shapes world's own defaults would add
    augment_defaults = {"crop_scale_min": 0.5, "rotate_degrees": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}
    paste_fill = True
    input_name = "masked input"
    preview_title = "Masked input, the fill pasted into the context, original"

    def __init__(self, backbone, config: ContextEncoderConfig, augment):
        super().__init__(backbone, config, augment)
        if config.adversarial:
            self.discriminator = Discriminator(augment.mean.shape[1])

    def corrupt(self, x: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        hole = hole_mask(self.config.mask, len(x), x.shape[-1], self.config.mask_area, rng, x.device).to(x.dtype)
        return x * (1 - hole), hole

    def loss_weight(self, hole: torch.Tensor) -> torch.Tensor:
        """The hole, and with ``overlap`` the ring of context around it weighted 10x."""
        o = self.config.overlap
        if not o:
            return hole
        ring = F.max_pool2d(hole, 2 * o + 1, stride=1, padding=o) - hole
        return hole + OVERLAP_WEIGHT * ring

    def total_loss(self, recon_l2, reconstruction, x, hole):
        if not self.config.adversarial:
            return recon_l2, {}
        filled = x + hole * (reconstruction - x)
        d_loss, g_loss, accuracy = adversarial_losses(self.discriminator, x, filled)
        lam = self.config.adv_weight
        loss = (1 - lam) * recon_l2 + lam * g_loss + d_loss
        return loss, {"adv_g": g_loss.item(), "disc_loss": d_loss.item(), "disc_acc": accuracy.item()}
