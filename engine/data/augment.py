"""Batched image augmentations on tensors, on the training device.

Each augmentation draws per-image parameters for the whole batch at once and applies them with a few
tensor ops (one ``grid_sample`` for crop + flip, 3x3 colour matrices, one grouped conv for blur), so a
256-image batch costs milliseconds instead of 256 PIL calls. The set follows SimCLR's (Chen et al. 2020,
appendix A): random resized crop, horizontal flip, colour jitter, random grayscale, Gaussian blur, plus
BYOL's solarization (Grill et al. 2020).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.config import param

GRAY_WEIGHTS = (0.299, 0.587, 0.114)
# RGB <-> YIQ: hue is a rotation of the (I, Q) chroma plane.
RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
YIQ_TO_RGB = torch.linalg.inv(RGB_TO_YIQ)


@dataclass
class AugmentConfig:
    crop_scale_min: float = param(0.2, "Random resized crop: smallest crop area, as a fraction of the image",
                                  low=0.01, high=1.0)
    crop_scale_max: float = param(1.0, "Random resized crop: largest crop area fraction", low=0.01, high=1.0)
    crop_ratio: float = param(4 / 3, "Random resized crop: largest aspect ratio (smallest is its inverse)",
                              low=1.0, high=3.0)
    flip_p: float = param(0.5, "Probability of a horizontal flip", low=0.0, high=1.0)
    rotate_degrees: float = param(0.0, "Random rotation up to this many degrees either way (180: any angle; "
                                  "for objects with no upright, like the shapes world)", low=0.0, high=180.0)
    jitter_p: float = param(0.8, "Probability of colour jitter", low=0.0, high=1.0)
    brightness: float = param(0.4, "Colour jitter: brightness factor drawn from [1-b, 1+b]", low=0.0, high=1.0)
    contrast: float = param(0.4, "Colour jitter: contrast factor drawn from [1-c, 1+c]", low=0.0, high=1.0)
    saturation: float = param(0.4, "Colour jitter: saturation factor drawn from [1-s, 1+s]", low=0.0, high=1.0)
    hue: float = param(0.1, "Colour jitter: hue shift drawn from [-h, h] turns", low=0.0, high=0.5)
    grayscale_p: float = param(0.2, "Probability of converting to grayscale", low=0.0, high=1.0)
    blur_p: float = param(0.0, "Probability of Gaussian blur", low=0.0, high=1.0)
    blur_sigma: float = param(1.0, "Gaussian blur: largest sigma in pixels (smallest is 0.1)", low=0.1, high=5.0)
    solarize_p: float = param(0.0, "Probability of solarization (invert pixels above 0.5)", low=0.0, high=1.0)
    local_scale_min: float = param(0.05, "Multi-crop local views: smallest crop area fraction", low=0.01, high=1.0)
    local_scale_max: float = param(0.3, "Multi-crop local views: largest crop area fraction", low=0.01, high=1.0)


def uniform(n: int, low: float, high: float, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(n, generator=rng, device=device) * (high - low) + low


def chance(n: int, p: float, rng: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n, 1, 1, 1) boolean mask, True with probability p."""
    return (torch.rand(n, generator=rng, device=device) < p).view(n, 1, 1, 1)


def resized_crop_and_flip(x: torch.Tensor, size: int, scale: tuple[float, float], max_ratio: float, flip_p: float,
                          rng: torch.Generator, max_degrees: float = 0.0) -> torch.Tensor:
    """RandomResizedCrop + horizontal flip (+ a rotation up to ``max_degrees`` either way) for the whole batch in one
    ``grid_sample``."""
    n, dev = len(x), x.device
    area = uniform(n, *scale, rng, dev)
    log_ratio = uniform(n, -math.log(max_ratio), math.log(max_ratio), rng, dev)
    w = torch.sqrt(area * torch.exp(log_ratio)).clamp(max=1.0)  # crop width / image width
    h = torch.sqrt(area / torch.exp(log_ratio)).clamp(max=1.0)
    cx = (torch.rand(n, generator=rng, device=dev) * 2 - 1) * (1 - w)  # centre, normalised [-1, 1] coordinates
    cy = (torch.rand(n, generator=rng, device=dev) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n, generator=rng, device=dev) < flip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    if max_degrees > 0:  # output coordinates turned before the crop's scaling: the crop's content rotates
        angle = uniform(n, -max_degrees, max_degrees, rng, dev) * (math.pi / 180)
        cos, sin = angle.cos(), angle.sin()
        rotation = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)  # (n, 2, 2)
        theta[:, :, :2] = theta[:, :, :2] @ rotation
    grid = F.affine_grid(theta, [n, x.shape[1], size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] == 1:
        return x
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def jitter_matrices(gray_mean: torch.Tensor, brightness: torch.Tensor, contrast: torch.Tensor,
                    saturation: torch.Tensor, hue_angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Colour jitter as one affine colour map per image, x -> M x + o (M: (n, 3, 3), o: (n, 3, 1)).

    Brightness b (v -> b v), contrast c about the image's mean gray level mu (v -> c v + (1 - c) b mu), saturation s
    about the pixel's gray level (v -> s v + (1 - s) (w . v) 1) and a hue rotation of the YIQ chroma plane are each
    linear in the colour, so their composition is too: M = H S c b, o = (1 - c) b mu 1 (gray stays gray under S
    and H). One clamp at the end replaces torchvision's clamp after each factor."""
    n, dev = len(brightness), brightness.device
    w = torch.tensor(GRAY_WEIGHTS, device=dev)
    eye = torch.eye(3, device=dev).expand(n, 3, 3)
    s = saturation.view(n, 1, 1)
    sat = s * eye + (1 - s) * torch.ones(3, 1, device=dev) * w  # s I + (1 - s) 1 w^T
    cos, sin = torch.cos(hue_angle), torch.sin(hue_angle)
    rot = torch.zeros(n, 3, 3, device=dev)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = cos, -sin, sin, cos
    hue = YIQ_TO_RGB.to(dev) @ rot @ RGB_TO_YIQ.to(dev)
    matrix = hue @ sat * (contrast * brightness).view(n, 1, 1)
    offset = ((1 - contrast) * brightness * gray_mean).view(n, 1, 1).expand(n, 3, 1)
    return matrix, offset


def colour_transform(x: torch.Tensor, cfg: AugmentConfig, rng: torch.Generator) -> torch.Tensor:
    """Colour jitter (probability ``jitter_p``) then random grayscale (``grayscale_p``), applied to the whole batch
    as one per-image 3x3 colour matrix and offset: one pass over the pixels instead of one per factor."""
    n, c, dev = len(x), x.shape[1], x.device
    one = lambda s: uniform(n, 1 - s, 1 + s, rng, dev)  # noqa: E731
    if cfg.jitter_p > 0:
        jitter = chance(n, cfg.jitter_p, rng, dev).view(n)
    else:
        jitter = torch.zeros(n, dtype=torch.bool, device=dev)
    b, k, s = one(cfg.brightness), one(cfg.contrast), one(cfg.saturation)
    angle = uniform(n, -cfg.hue, cfg.hue, rng, dev) * 2 * math.pi
    b, k, s = (torch.where(jitter, v, 1.0) for v in (b, k, s))  # images without jitter: the identity
    angle = torch.where(jitter, angle, 0.0)
    gray_mean = grayscale(x).mean(dim=(1, 2, 3))
    if c == 1:
        return (x * (k * b).view(n, 1, 1, 1) + ((1 - k) * b * gray_mean).view(n, 1, 1, 1)).clamp_(0, 1)
    matrix, offset = jitter_matrices(gray_mean, b, k, s, angle)
    if cfg.grayscale_p > 0:
        to_gray = torch.ones(3, 1, device=dev) * torch.tensor(GRAY_WEIGHTS, device=dev)
        gray = chance(n, cfg.grayscale_p, rng, dev).view(n, 1, 1)
        matrix = torch.where(gray, to_gray @ matrix, matrix)  # the offset is gray already: unchanged
    y = torch.bmm(matrix, x.flatten(2)).view_as(x)
    return y.add_(offset.unsqueeze(-1)).clamp_(0, 1)


def gaussian_blur(x: torch.Tensor, max_sigma: float, rng: torch.Generator) -> torch.Tensor:
    """Separable Gaussian blur with a sigma per image, as one grouped convolution per axis."""
    n, c, h, w = x.shape
    sigma = uniform(n, 0.1, max_sigma, rng, x.device)
    radius = max(1, math.ceil(2 * max_sigma))
    offsets = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(offsets**2) / (2 * sigma.view(n, 1) ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c, k)
    y = F.pad(x.reshape(1, n * c, h, w), (radius, radius, radius, radius), mode="reflect")
    y = F.conv2d(y, kernel.view(n * c, 1, 1, -1), groups=n * c)
    y = F.conv2d(y, kernel.view(n * c, 1, -1, 1), groups=n * c)
    return y.view(n, c, h, w)


class Augment:
    """Turns a uint8 batch into normalised float views: ``views(images, 2, rng)`` for two-view methods,
    ``views(images, 2, rng, n_local=6)`` for multi-crop; ``prepare(images)`` is the un-augmented eval transform.

    Views may be smaller than the evaluation size (``crop_size``): a convnet trained on low-resolution crops
    tests well at full resolution (FixRes, Touvron et al. 2019), and each step costs (crop/size)^2 as much."""

    def __init__(self, config: AugmentConfig, image_size: int, mean: torch.Tensor, std: torch.Tensor,
                 crop_size: int | None = None):
        self.config = config
        self.image_size = image_size  # evaluation resolution (``prepare``)
        self.crop_size = crop_size or image_size  # resolution of the augmented global views
        self.local_size = max(8, self.crop_size // 2)
        self.mean = mean.view(1, -1, 1, 1)
        self.std = std.view(1, -1, 1, 1)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.mean.to(x.device), self.std.to(x.device)
        return ((x - mean) / std).contiguous(memory_format=torch.channels_last)

    def prepare(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) → normalised float at the training size, no augmentation."""
        x = images.float().div_(255)
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.normalize(x)

    def __call__(self, images: torch.Tensor, rng: torch.Generator, *, size: int | None = None,
                 scale: tuple[float, float] | None = None) -> torch.Tensor:
        """One augmented view of every image in the batch (uint8 or float in [0, 1])."""
        cfg = self.config
        x = images.float().div_(255) if images.dtype == torch.uint8 else images
        scale = scale or (cfg.crop_scale_min, cfg.crop_scale_max)
        x = resized_crop_and_flip(x, size or self.crop_size, scale, cfg.crop_ratio, cfg.flip_p, rng, cfg.rotate_degrees)
        n, dev = len(x), x.device
        if cfg.jitter_p > 0 or cfg.grayscale_p > 0:
            x = colour_transform(x, cfg, rng)
        if cfg.blur_p > 0:
            x = torch.where(chance(n, cfg.blur_p, rng, dev), gaussian_blur(x, cfg.blur_sigma, rng), x)
        if cfg.solarize_p > 0:
            x = torch.where(chance(n, cfg.solarize_p, rng, dev) & (x >= 0.5), 1 - x, x)
        return self.normalize(x)

    def views(self, images: torch.Tensor, n_global: int, rng: torch.Generator, n_local: int = 0) -> list[torch.Tensor]:
        """``n_global`` full-size views and ``n_local`` small local crops (multi-crop, Caron et al. 2020)."""
        x = images.float().div_(255)
        views = [self(x, rng) for _ in range(n_global)]
        local = (self.config.local_scale_min, self.config.local_scale_max)
        views += [self(x, rng, size=self.local_size, scale=local) for _ in range(n_local)]
        return views

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised float views → uint8, for previews."""
        x = x * self.std.to(x.device) + self.mean.to(x.device)
        return (x.clamp(0, 1) * 255).round().to(torch.uint8)
