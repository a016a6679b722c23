"""Each loss against a direct, loop-by-loop computation of its formula on fixed tensors."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from engine.losses import NTXentLoss
from engine.methods.rotnet import rotations


def ntxent_by_the_notes(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> float:
    """SimCLR Algorithm 1: views interleaved as 2k-1, 2k; l(i,j) = -log e^{s_ij/t} / sum_{k!=i} e^{s_ik/t}."""
    z = [None] * (2 * len(z1))
    for k in range(len(z1)):
        z[2 * k], z[2 * k + 1] = z1[k].tolist(), z2[k].tolist()

    def s(i, j):
        dot = sum(a * b for a, b in zip(z[i], z[j]))
        return dot / (math.sqrt(sum(a * a for a in z[i])) * math.sqrt(sum(b * b for b in z[j])))

    def pair_loss(i, j):
        denominator = sum(math.exp(s(i, k) / tau) for k in range(len(z)) if k != i)
        return -math.log(math.exp(s(i, j) / tau) / denominator)

    n = len(z1)
    return sum(pair_loss(2 * k, 2 * k + 1) + pair_loss(2 * k + 1, 2 * k) for k in range(n)) / (2 * n)


def test_ntxent_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    for tau in (0.1, 0.5, 1.0):
        assert abs(NTXentLoss(tau)(z1, z2).item() - ntxent_by_the_notes(z1, z2, tau)) < 1e-5


def test_ntxent_is_low_for_matching_views_and_high_for_swapped_ones():
    g = torch.Generator().manual_seed(1)
    z = torch.randn(32, 16, generator=g)
    aligned = NTXentLoss(0.1)(z, z + 0.01 * torch.randn(32, 16, generator=g))
    shuffled = NTXentLoss(0.1)(z, z[torch.randperm(32, generator=g)])
    assert aligned < 0.1 < math.log(63) / 2 < shuffled


def test_rotnet_targets_match_the_rotation_applied():
    x = torch.arange(2 * 1 * 3 * 3, dtype=torch.float).view(2, 1, 3, 3)
    rotated, labels = rotations(x)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    for k in range(4):
        for i in range(2):
            assert torch.equal(rotated[k * 2 + i], torch.rot90(x[i], k, dims=(1, 2)))
    # cross entropy of RotNet equals the mean of -log softmax at the true rotation
    logits = torch.randn(8, 4, generator=torch.Generator().manual_seed(2))
    direct = -sum(math.log(torch.softmax(logits[i], 0)[labels[i]].item()) for i in range(8)) / 8
    assert abs(F.cross_entropy(logits, labels).item() - direct) < 1e-6
