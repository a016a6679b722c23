"""The pixelwise contrastive loss of Dense Object Nets (Florence, Manuelli & Tedrake 2018, sec. III-A, eqs. 1-3;
after Schmidt, Newcombe & Fox 2017)."""
from __future__ import annotations

import torch

from engine.losses.precision import float32


@float32
def pixelwise_contrastive_loss(match_a: torch.Tensor, match_b: torch.Tensor, non_a: torch.Tensor,
                               non_b: torch.Tensor, margin: float, hard_negatives: bool = False
                               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """With D = ||f(I_a)(u_a) - f(I_b)(u_b)||_2 the distance of two pixels' descriptors (rows of the (K, D) inputs:
    descriptors at matching pixels, and at non-matching ones),

        L_matches     = 1/N_matches     sum_matches     D^2
        L_non-matches = 1/N_non-matches sum_non-matches max(0, M - D)^2
        L = L_matches + L_non-matches

    matches are pulled together, non-matches pushed at least the margin M apart. With ``hard_negatives`` the
    non-match sum is divided by the number of hard negatives (D < M, those with a loss) instead of N_non-matches
    (the paper's hard-negative scaling, sec. III-B, the default of its code, pytorch-dense-correspondence): the
    easy non-matches no longer dilute the push as training separates most of them.
    Returns (L, L_matches, L_non-matches)."""
    matches = (match_a - match_b).pow(2).sum(dim=1).mean()
    hinge = (margin - (non_a - non_b).norm(dim=1)).clamp(min=0).pow(2)
    count = (hinge > 0).sum().clamp(min=1) if hard_negatives else max(len(hinge), 1)
    non_matches = hinge.sum() / count
    return matches + non_matches, matches, non_matches
