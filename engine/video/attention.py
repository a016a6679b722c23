"""Attention from a target frame's locations to its reference frames' locations, restricted to a local window, and
what it copies (Vondrick et al. 2018, eqs. 1-2).

For target location j and reference location i: A_ij = exp(f_i^T f_j / T) / sum_k exp(f_k^T f_j / T), the sum over
the locations of every reference frame within ``radius`` cells of j (the Chebyshev distance; the paper attends to
all locations, which costs (h w)^2 per frame pair); optionally only the ``topk`` largest logits per target location
are kept. The copy is y_j = sum_i A_ij c_i for values c (colour distributions, labels) at the reference locations.

Weights are (N, R, K, h, w): for each target location, one weight per reference frame and per window offset
(K = (2 radius + 1)^2, in :func:`window_offsets` order; an offset that leaves the frame weighs 0). They are computed
one offset at a time, so memory grows with h w K, not (h w)^2 (``bench/attention_memory.py``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def window_offsets(radius: int) -> list[tuple[int, int]]:
    """The (dy, dx) offsets of a window, row by row."""
    return [(dy, dx) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)]


def shifted(x: torch.Tensor, radius: int) -> list[torch.Tensor]:
    """For each window offset (dy, dx), ``x`` (..., h, w) read at (y + dy, x + dx), zero outside: views of one padded
    copy, so no offset's copy is kept."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (radius, radius, radius, radius))
    return [padded[..., radius + dy:radius + dy + h, radius + dx:radius + dx + w] for dy, dx in window_offsets(radius)]


def inside_frame(h: int, w: int, radius: int, device: torch.device) -> torch.Tensor:
    """bool (K, h, w): whether each window offset of each location stays inside the frame."""
    return torch.stack(shifted(torch.ones(h, w, device=device), radius)) > 0


def keep_topk(logits: torch.Tensor, topk: int) -> torch.Tensor:
    """``logits`` (N, M, h, w) with all but the ``topk`` largest of each location's M set to -inf (0: all kept)."""
    if not topk or topk >= logits.shape[1]:
        return logits
    threshold = logits.topk(topk, dim=1).values[:, -1:]
    return logits.masked_fill(logits < threshold, float("-inf"))


def window_attention(target: torch.Tensor, references: torch.Tensor, radius: int, temperature: float = 1.0,
                     topk: int = 0) -> torch.Tensor:
    """Weights (N, R, K, h, w) of target features (N, D, h, w) over reference features (N, R, D, h, w): each target
    location's softmax over the R reference frames' locations within ``radius``; they sum to one per location."""
    n, r, d, h, w = references.shape
    refs = references.reshape(n * r, d, h, w)
    query = target[:, None].expand(n, r, d, h, w).reshape(n * r, d, h, w)
    logits = torch.stack([(query * ref).sum(1) for ref in shifted(refs, radius)], dim=1).view(n, r, -1, h, w)
    logits = logits.float().masked_fill(~inside_frame(h, w, radius, target.device), float("-inf")) / temperature
    k = logits.shape[2]
    return keep_topk(logits.reshape(n, r * k, h, w), topk).softmax(dim=1).view(n, r, k, h, w)


def window_copy(weights: torch.Tensor, values: torch.Tensor, radius: int) -> torch.Tensor:
    """y_j = sum_i A_ij c_i: (N, C, h, w) from weights (N, R, K, h, w) and reference values (N, R, C, h, w)."""
    n, r, c, h, w = values.shape
    out = torch.zeros(n, c, h, w, device=values.device, dtype=torch.float32)
    for k, value in enumerate(shifted(values.float(), radius)):
        out += (weights[:, :, k, None] * value).sum(1)
    return out


def dense_attention(target: torch.Tensor, references: torch.Tensor, radius: int | None = None) -> torch.Tensor:
    """The same attention over all reference locations, (N, R, h w, h, w) (weight of reference location i for target
    location j), with a banded mask to ``radius`` if given: the full (h w)^2 matrix, for comparison."""
    n, r, d, h, w = references.shape
    logits = torch.einsum("nrdi,ndj->nrij", references.reshape(n, r, d, h * w).float(),
                          target.reshape(n, d, h * w).float())
    if radius is not None:
        y, x = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        y, x = y.flatten().to(target.device), x.flatten().to(target.device)
        far = torch.maximum((y[:, None] - y[None]).abs(), (x[:, None] - x[None]).abs()) > radius
        logits = logits.masked_fill(far, float("-inf"))
    weights = logits.permute(0, 3, 1, 2).reshape(n, h * w, r * h * w).softmax(dim=2)
    return weights.view(n, h, w, r, h * w).permute(0, 3, 4, 1, 2)
