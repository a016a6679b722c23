"""Colorization's class-rebalanced multinomial cross entropy (Zhang, Isola & Efros 2016, eqs. 2-4)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rebalancing_weights(p: torch.Tensor, bins: torch.Tensor, sigma: float = 5.0, lam: float = 0.5) -> torch.Tensor:
    """Per-bin weights w (Q,) from the empirical bin distribution p (Q,) of bins (Q, D) (eqs. 3-4): p smoothed by a
    Gaussian kernel of width ``sigma`` over the bins' positions, p~ = G_sigma * p (renormalised), then
    w ∝ ((1 - lam) p~ + lam / Q)^-1, scaled so that E_p~[w] = sum_q p~_q w_q = 1. Rare colours weigh more; lam = 1
    gives w = 1 (no rebalancing)."""
    kernel = torch.exp(-torch.cdist(bins.float(), bins.float()).pow(2) / (2 * sigma**2))
    smoothed = kernel @ p.float()
    smoothed = smoothed / smoothed.sum()
    w = 1 / ((1 - lam) * smoothed + lam / len(p))
    return w / (smoothed * w).sum()


def rebalanced_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """L = -1/HW sum_{h,w} v(Z_hw) log Z^_{hw,q*} (eq. 2 with one-hot targets q*, averaged over pixels and images):
    logits (B, Q, H, W), labels (B, H, W) the target bins q*, weights (Q,) the rebalancing w with v(Z_hw) = w_q*.
    In float32 even inside a bfloat16 autocast region."""
    with torch.autocast(logits.device.type, enabled=False):
        return (weights.float()[labels] * F.cross_entropy(logits.float(), labels, reduction="none")).mean()
