"""Denoising autoencoder (Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and Composing Robust Features
with Denoising Autoencoders")."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from engine.config import param
from engine.methods.base import register_method
from engine.methods.reconstruction import ConvAutoencoder, decoder_width_param, random_indices


def masking_noise(x: torch.Tensor, fraction: float, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Sec. 2.3's q_D: per image, a fixed number round(nu d) of the d pixels chosen at random are set to 0 (all
    channels of a pixel together; 0 of the normalised input, the dataset's mean colour); the others are untouched."""
    n, _, h, w = x.shape
    hole = torch.zeros(n, h * w, device=x.device, dtype=x.dtype)
    hole.scatter_(1, random_indices(n, h * w, round(fraction * h * w), rng, x.device), 1)
    hole = hole.view(n, 1, h, w)
    return x * (1 - hole), hole


@dataclass
class DenoisingAEConfig:
    corruption: str = param("mask", "Masking noise (the paper's: a fraction of the pixels set to 0) or additive "
                                    "Gaussian noise", choices=("mask", "gaussian"))
    mask_fraction: float = param(0.25, "Masking noise: the fraction nu of each image's pixels destroyed",
                                 low=0.0, high=0.95)
    noise_std: float = param(0.5, "Gaussian noise: its standard deviation, in the dataset's pixel standard deviations",
                             low=0.0, high=5.0)
    decoder_width: int = decoder_width_param()


@register_method
class DenoisingAE(ConvAutoencoder):
    """The encoder-decoder maps a corrupted view x~ ~ q_D(x~ | x) back to the clean x; the loss is the squared error
    over the whole image, L(x, z) = ||x - z||^2 (sec. 2.2; its cross entropy suits binary inputs, these are real-
    valued). Robust features must undo the corruption from the image's structure."""

    name = "denoising_ae"
    paper = "Vincent et al. 2008, Denoising Autoencoders"
    Config = DenoisingAEConfig
    # light augmentation (the paper uses none): varied crops and flips, no rotation or colour jitter, which the
    # shapes world's own defaults would add and the reconstruction does not need
    augment_defaults = {"crop_scale_min": 0.5, "rotate_degrees": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}
    input_name = "corrupted input"
    preview_title = "Corrupted input, reconstruction, original"

    def corrupt(self, x: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.corruption == "mask":
            return masking_noise(x, self.config.mask_fraction, rng)
        noise = torch.randn(x.shape, generator=rng, device=x.device, dtype=x.dtype)
        return x + self.config.noise_std * noise, torch.ones_like(x[:, :1])
