"""CPC's InfoNCE over rows of patches (van den Oord, Li & Vinyals 2018, "Representation Learning with Contrastive
Predictive Coding", eq. 4 with the log-bilinear score of eq. 3; images: sec. 3.3)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cpc_infonce(predictions: list[torch.Tensor], targets: torch.Tensor,
                candidates: torch.Tensor | None = None) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """``targets`` z (B, G, G, D) are the patch embeddings by (row, column); ``predictions[k - 1]`` (B, G - k, G, D)
    are W_k c_{b,i,j} for the context rows i = 0..G-k-1, each predicting z_{b,i+k,j}. ``candidates`` are the flat
    indices (into the B*G*G patches, row-major) of the negatives, other places and other images (None: every patch).
    For a prediction p with positive z+ = z_{b,i+k,j}:

        l = -log exp(p . z+) / (exp(p . z+) + sum_{n in candidates, n != +} exp(p . z_n))

    averaged over each offset's predictions, then over the K offsets. Returns the loss and, per offset, the hits
    (B, G - k, G): whether the positive scored above every negative (the contrastive task's accuracy)."""
    b, g, _, d = targets.shape
    with torch.autocast(targets.device.type, enabled=False):  # scores and softmax in float32
        flat = targets.float().reshape(b * g * g, d)
        if candidates is None:
            candidates = torch.arange(len(flat), device=flat.device)
        negatives = flat[candidates]
        rows = torch.arange(b * g * g, device=flat.device).view(b, g, g)
        losses, hits = [], []
        for k, predicted in enumerate(predictions, start=1):
            p = predicted.float().reshape(-1, d)
            positive_rows = rows[:, k:].reshape(-1)
            positive = (p * flat[positive_rows]).sum(1, keepdim=True)
            scores = (p @ negatives.T).masked_fill(candidates[None] == positive_rows[:, None], float("-inf"))
            logits = torch.cat([positive, scores], dim=1)
            losses.append(F.cross_entropy(logits, torch.zeros(len(p), dtype=torch.long, device=p.device)))
            hits.append((positive[:, 0] > scores.amax(1)).view(b, g - k, g))
        return torch.stack(losses).mean(), hits
