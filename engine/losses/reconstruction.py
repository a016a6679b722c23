"""Reconstruction losses: the context encoder's masked L2 (Pathak et al. 2016, eq. 1), also the denoising
autoencoder's squared error (Vincent et al. 2008) with the whole image as the region, and MAE's per-patch MSE on the
masked patches (He et al. 2021, sec. 3)."""
from __future__ import annotations

import torch

from engine.losses.precision import float32


@float32
def masked_l2(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """L_rec = || M * (x - F((1 - M) * x)) ||^2 as a mean over the region: sum(w (F - x)^2) / (C |{w > 0}|), with
    ``weight`` (B, 1, H, W) zero outside the region, 1 inside, larger where the paper's code weights the overlap
    with the context (its overlapL2Weight = 10). Predictions and targets (B, C, H, W)."""
    squared = (prediction - target).pow(2) * weight
    return squared.sum() / ((weight > 0).sum() * prediction.shape[1]).clamp_min(1)


@float32
def masked_patch_mse(prediction: torch.Tensor, patches: torch.Tensor, mask: torch.Tensor,
                     norm_pix: bool = True) -> torch.Tensor:
    """L = sum_i m_i mean_j (p_ij - t_ij)^2 / sum_i m_i over patches i (B, L, D) with m_i = 1 where patch i was
    masked: the visible patches do not count. With ``norm_pix`` the target t_i is patch i's pixels normalised by
    their own mean and (unbiased) variance, t = (x - mean) / sqrt(var + 1e-6), MAE's norm_pix_loss."""
    if norm_pix:
        mean, std = patch_stats(patches)
        patches = (patches - mean) / std
    per_patch = (prediction - patches).pow(2).mean(dim=-1)
    return (per_patch * mask).sum() / mask.sum().clamp_min(1)


def patch_stats(patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each patch's mean and sqrt(var + 1e-6) over its pixels (B, L, 1): norm_pix_loss's normalisation."""
    return patches.mean(dim=-1, keepdim=True), (patches.var(dim=-1, keepdim=True) + 1e-6).sqrt()
