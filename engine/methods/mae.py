"""MAE (He, Chen, Xie, Li, Dollar & Girshick 2021, "Masked Autoencoders Are Scalable Vision Learners")."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from engine.config import param
from engine.losses import masked_patch_mse, patch_stats
from engine.methods.base import Method, StepOutput, Tiles, register_method
from engine.methods.reconstruction import eval_mode, random_indices, reconstruction_preview
from engine.nets.vit import Block, TinyViT

MASK_GREY = 128  # masked patches in the preview


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """(B, C, H, W) -> (B, L, p*p*C): the p x p patches in row-major grid order (the ViT's token order), each
    flattened as (row, column, channel), as MAE's code does."""
    b, c, h, w = x.shape
    x = x.reshape(b, c, h // p, p, w // p, p)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(b, (h // p) * (w // p), p * p * c)


def unpatchify(patches: torch.Tensor, p: int, channels: int) -> torch.Tensor:
    """The inverse of ``patchify`` for a square grid."""
    b, length, _ = patches.shape
    g = round(length**0.5)
    x = patches.reshape(b, g, g, p, p, channels)
    return x.permute(0, 5, 1, 3, 2, 4).reshape(b, channels, g * p, g * p)


def random_masking(n: int, length: int, ratio: float, rng: torch.Generator,
                   device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image, exactly round(ratio L) of the L patches masked, uniformly without replacement (sec. 3): the
    indices of the visible patches (n, L - round(ratio L)) and the mask (n, L), 1 where masked."""
    keep = random_indices(n, length, length - round(ratio * length), rng, device)
    mask = torch.ones(n, length, device=device).scatter_(1, keep, 0.0)
    return keep, mask


def sincos_position_embedding(dim: int, grid: int) -> torch.Tensor:
    """MAE's fixed 2-D sine-cosine position embedding, (1, 1 + grid^2, dim) with a zero row for [CLS]: half the
    channels encode the column, half the row, each as sin and cos of the position times dim/4 frequencies
    1 / 10000^(k / (dim/4))."""
    quarter = dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    rows, cols = torch.meshgrid(torch.arange(grid, dtype=torch.float64), torch.arange(grid, dtype=torch.float64),
                                indexing="ij")
    angles = [pos.reshape(-1, 1) * omega for pos in (cols, rows)]
    embedding = torch.cat([torch.cat([a.sin(), a.cos()], dim=1) for a in angles], dim=1)
    return torch.cat([torch.zeros(1, dim, dtype=torch.float64), embedding]).float()[None]


class MAEDecoder(nn.Module):
    """The visible tokens embedded to the decoder's width, a shared learned mask token at every masked position,
    fixed sine-cosine position embeddings on the full set, a few transformer blocks and a linear projection to each
    patch's p*p*C pixels (sec. 3, "MAE decoder")."""

    def __init__(self, encoder_dim: int, dim: int, depth: int, heads: int, patch_dim: int):
        super().__init__()
        self.dim = dim
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.blocks = nn.ModuleList(Block(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.predict = nn.Linear(dim, patch_dim)
        nn.init.normal_(self.mask_token, std=0.02)
        self.apply(TinyViT._init)

    def forward(self, encoded: torch.Tensor, keep_index: torch.Tensor, grid: int) -> torch.Tensor:
        """(B, 1 + K, encoder_dim) encoder tokens ([CLS] first) -> (B, grid^2, patch_dim) predicted patches."""
        x = self.embed(encoded)
        n, d = len(x), self.dim
        full = self.mask_token.to(x.dtype).expand(n, grid * grid, d)
        full = full.scatter(1, keep_index[..., None].expand(-1, -1, d), x[:, 1:])
        x = torch.cat([x[:, :1], full], dim=1) + sincos_position_embedding(d, grid).to(x.device, x.dtype)
        for block in self.blocks:
            x, _ = block(x)
        return self.predict(self.norm(x))[:, 1:]


@dataclass
class MAEConfig:
    mask_ratio: float = param(0.75, "Fraction of each image's patches hidden from the encoder", low=0.05, high=0.95)
    norm_pix_loss: bool = param(True, "Targets: each patch's pixels normalised by the patch's own mean and variance "
                                      "(off: the pixels themselves)")
    decoder_dim: int = param(128, "Decoder width (narrower than the encoder's); a multiple of 4 and of the heads",
                             low=16, high=1024)
    decoder_depth: int = param(2, "Decoder transformer blocks", low=1, high=12)
    decoder_heads: int = param(4, "Decoder attention heads", low=1, high=16)


@register_method
class MAE(Method):
    """A random 75 % of each image's patches is removed; the ViT encoder sees only the visible ones (no mask tokens),
    a light decoder fills in mask tokens and predicts every patch's pixels; the loss is the mean squared error on
    the masked patches only, against per-patch normalised pixels (norm_pix_loss). The encoder evaluated is the ViT
    on the full image ([CLS] token), as MAE's linear probe."""

    name = "mae"
    paper = "He et al. 2021, MAE"
    Config = MAEConfig
    # the paper's pre-training augmentation is random resized crop (scale 0.2-1) and flip only: masking is the
    # regulariser, colour jitter hurts it (sec. 4.1, the augmentation ablation); no rotation or colour jitter from
    # the shapes world's defaults
    augment_defaults = {"crop_scale_min": 0.2, "rotate_degrees": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}
    # the paper's base lr 1.5e-4 x batch / 256 at batch 256; a ViT: MAE drops tokens, which a convnet cannot
    train_defaults = {"lr": 1.5e-4, "weight_decay": 0.05, "backbone": "vit-tiny"}

    def __init__(self, backbone, config: MAEConfig, augment):
        super().__init__(backbone, config, augment)
        if not hasattr(backbone, "forward_visible"):
            raise ValueError(f"mae masks the patches of a Vision Transformer, which {type(backbone).__name__} is "
                             "not: choose --backbone vit-tiny")
        p = backbone.patch_size
        for size in sorted({augment.image_size, augment.crop_size}):
            if size % p:
                raise ValueError(f"mae splits images into the ViT's {p}-pixel patches, which do not divide {size} px: "
                                 f"choose an image and crop size that is a multiple of {p}")
        if config.decoder_dim % 4 or config.decoder_dim % config.decoder_heads:
            raise ValueError(f"decoder_dim {config.decoder_dim} must be a multiple of 4 (its sine-cosine position "
                             f"embedding) and of decoder_heads {config.decoder_heads}")
        self.channels = augment.mean.shape[1]
        self.decoder = MAEDecoder(backbone.out_dim, config.decoder_dim, config.decoder_depth, config.decoder_heads,
                                  p * p * self.channels)

    def masked_prediction(self, x: torch.Tensor, rng: torch.Generator):
        """(predicted patches, true patches (B, L, p*p*C), mask (B, L), the encoder's [CLS] on the visible patches)."""
        p = self.backbone.patch_size
        patches = patchify(x, p)
        keep, mask = random_masking(len(x), patches.shape[1], self.config.mask_ratio, rng, x.device)
        encoded = self.backbone.forward_visible(x, keep)
        return self.decoder(encoded, keep, x.shape[-1] // p), patches, mask, encoded[:, 0]

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        prediction, patches, mask, cls = self.masked_prediction(self.augment(images, rng), rng)
        loss = masked_patch_mse(prediction, patches, mask, self.config.norm_pix_loss)
        return StepOutput(loss, cls.detach(), {"recon_mse": loss.item()})

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """Masked input (masked patches grey), the reconstruction with the visible patches pasted back (as MAE's demo
        notebook shows it; the paper's figure 2 shows the raw output), original. With norm_pix_loss the predicted
        patches are shown with the true patch's mean and variance, which the prediction does not include."""
        x = self.augment.prepare(images)
        with eval_mode(self):
            prediction, patches, mask, _ = self.masked_prediction(x, rng)
        norm = self.config.norm_pix_loss
        errors = [masked_patch_mse(prediction[i:i + 1], patches[i:i + 1], mask[i:i + 1], norm).item()
                  for i in range(len(x))]
        if norm:
            mean, std = patch_stats(patches)
            prediction = prediction.float() * std + mean
        p, c = self.backbone.patch_size, self.channels
        pasted = torch.where(mask[..., None] > 0, prediction.float(), patches)
        hidden = unpatchify(mask[..., None].expand_as(patches), p, c) > 0
        original = self.augment.unnormalize(x)
        masked = torch.where(hidden, torch.full_like(original, MASK_GREY), original)
        tiles = [t.cpu() for t in (masked, self.augment.unnormalize(unpatchify(pasted, p, c)), original)]
        title = "Masked input, reconstruction (visible patches pasted back), original"
        return reconstruction_preview(title, *tiles, errors, f"masked {self.config.mask_ratio:.0%}")
