"""The contrastive and self-distillation losses, the MoCo queue, the EMA rule and Sinkhorn-Knopp, each against a
direct, loop-by-loop computation of the formula in the notes or the paper, on fixed tensors."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from engine.losses import BarlowTwinsLoss, DINOLoss, InfoNCELoss, NegativeCosineSimilarity, SwAVLoss, sinkhorn
from engine.methods.moco import KeyQueue
from engine.nets.momentum import copy_frozen, cosine_momentum, ema_update


def g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(a * a for a in v))
    return [a / n for a in v]


def dot(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b))


def softmax(v: list[float]) -> list[float]:
    e = [math.exp(x - max(v)) for x in v]
    return [x / sum(e) for x in e]


def test_infonce_matches_the_notes():
    """L = -log exp(s(q, k+)/t) / (exp(s(q, k+)/t) + sum_j exp(s(q, k_j)/t)), s the cosine similarity."""
    q, k, neg = torch.randn(5, 4, generator=g(0)), torch.randn(5, 4, generator=g(1)), torch.randn(7, 4, generator=g(2))
    for t in (0.07, 0.2, 1.0):
        total = 0.0
        for i in range(5):
            qi = unit(q[i].tolist())
            pos = math.exp(dot(qi, unit(k[i].tolist())) / t)
            total += -math.log(pos / (pos + sum(math.exp(dot(qi, unit(n.tolist())) / t) for n in neg)))
        assert InfoNCELoss(t)(q, k, neg).item() == pytest.approx(total / 5, abs=1e-5)


def test_moco_queue_is_first_in_first_out_and_wraps_around():
    queue = KeyQueue(size=5, dim=2)
    initial = queue.keys[:, 0].tolist()
    slots = {1: [1, 1, 0, 0, 0], 2: [1, 1, 2, 2, 0], 3: [3, 1, 2, 2, 3], 4: [3, 4, 4, 2, 3]}  # 0: still initial
    for batch in range(1, 5):
        queue.push(torch.full((2, 2), float(batch)))  # two keys per batch
        expected = [float(v) if v else initial[i] for i, v in enumerate(slots[batch])]
        assert queue.keys[:, 0].tolist() == pytest.approx(expected)
        assert int(queue.pointer) == 2 * batch % 5  # the next slot to overwrite: the oldest key
    queue.push(torch.arange(7.0)[:, None].expand(7, 2))  # more keys than slots: the newest 5 stay, oldest first
    order = [(int(queue.pointer) + i) % 5 for i in range(5)]
    assert queue.keys[order, 0].tolist() == [2.0, 3.0, 4.0, 5.0, 6.0]


def test_ema_update_is_theta_k_from_m_theta_k_plus_one_minus_m_theta_q():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = copy_frozen(online)
    assert all(not p.requires_grad for p in target.parameters()) and all(p.requires_grad for p in online.parameters())
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    online(torch.randn(8, 3))  # moves the BatchNorm running statistics
    before = [p.clone() for p in target.parameters()]
    ema_update(target, online, 0.9)
    for t, k, q in zip(target.parameters(), before, online.parameters()):
        for a, b, c in zip(t.flatten().tolist(), k.flatten().tolist(), q.flatten().tolist()):
            assert a == pytest.approx(0.9 * b + 0.1 * c, abs=1e-6)
    assert torch.equal(target[1].running_mean, online[1].running_mean)
    assert cosine_momentum(0.99, 0.0) == pytest.approx(0.99) and cosine_momentum(0.99, 1.0) == pytest.approx(1.0)
    assert cosine_momentum(0.99, 0.5) == pytest.approx(0.995)


def test_negative_cosine_similarity_matches_the_formula():
    p, z = torch.randn(6, 5, generator=g(3)), torch.randn(6, 5, generator=g(4))
    direct = sum(-dot(unit(a.tolist()), unit(b.tolist())) for a, b in zip(p, z)) / 6
    assert NegativeCosineSimilarity()(p, z).item() == pytest.approx(direct, abs=1e-6)


def test_barlow_twins_loss_matches_the_formula():
    n, d, lam = 8, 4, 0.3
    z1, z2 = torch.randn(n, d, generator=g(5)), torch.randn(n, d, generator=g(6))

    def standardise(z):
        cols = []
        for j in range(d):
            col = z[:, j].tolist()
            mean = sum(col) / n
            std = math.sqrt(sum((x - mean) ** 2 for x in col) / (n - 1))
            cols.append([(x - mean) / std for x in col])
        return cols  # cols[j][b]

    a, b = standardise(z1), standardise(z2)
    c = [[sum(a[i][k] * b[j][k] for k in range(n)) / n for j in range(d)] for i in range(d)]
    off_diagonal = sum(c[i][j] ** 2 for i in range(d) for j in range(d) if i != j)
    direct = sum((1 - c[i][i]) ** 2 for i in range(d)) + lam * off_diagonal
    assert BarlowTwinsLoss(lam)(z1, z2).item() == pytest.approx(direct, rel=1e-5)


def sinkhorn_by_hand(scores: torch.Tensor, eps: float, iterations: int) -> list[list[float]]:
    """SwAV's Algorithm (appendix A.1): Q = exp(C^T Z / eps)^T, normalised to total 1, then alternately rows
    (prototypes) to 1/K and columns (samples) to 1/B; the codes are B * Q^T."""
    b, k = scores.shape
    q = [[math.exp(scores[i][j].item() / eps) for i in range(b)] for j in range(k)]  # K x B
    total = sum(map(sum, q))
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        q = [[x / sum(row) / k for x in row] for row in q]
        col = [sum(q[j][i] for j in range(k)) for i in range(b)]
        q = [[q[j][i] / col[i] / b for i in range(b)] for j in range(k)]
    return [[q[j][i] * b for j in range(k)] for i in range(b)]


def test_sinkhorn_matches_the_algorithm_and_reaches_the_equal_partition():
    scores = torch.randn(12, 4, generator=g(7)).clamp(-1, 1)
    codes = sinkhorn(scores, epsilon=0.5, iterations=3)
    assert codes.flatten().tolist() == pytest.approx(sum(sinkhorn_by_hand(scores, 0.5, 3), []), rel=1e-4)
    assert codes.sum(1).tolist() == pytest.approx([1.0] * 12, abs=1e-5)  # each sample's code sums to 1
    converged = sinkhorn(scores, epsilon=0.5, iterations=200)
    assert converged.sum(0).tolist() == pytest.approx([12 / 4] * 4, abs=1e-4)  # each prototype gets B / K
    skewed = scores.clone()
    skewed[:, 0] += 3  # every sample prefers prototype 0, yet the partition stays equal
    assert sinkhorn(skewed, 0.5, 200).sum(0).tolist() == pytest.approx([3.0] * 4, abs=1e-3)


def test_swav_swapped_prediction_matches_the_formula():
    t = 0.1
    scores = [torch.randn(3, 4, generator=g(10 + v)) for v in range(4)]  # 2 global + 2 local views
    codes = [torch.softmax(torch.randn(3, 4, generator=g(20 + i)), 1) for i in range(2)]
    terms = []
    for i in range(2):
        for v in range(4):
            if v != i:
                def log_p(b, k, v=v):
                    return math.log(softmax([x / t for x in scores[v][b].tolist()])[k])

                terms.append(sum(-sum(codes[i][b][k].item() * log_p(b, k) for k in range(4)) for b in range(3)) / 3)
    assert SwAVLoss(t)(scores, codes).item() == pytest.approx(sum(terms) / len(terms), rel=1e-5)


def test_dino_loss_is_the_pseudocode_with_centering_and_temperatures():
    """loss = H(t1, s2)/2 + H(t2, s1)/2 with H(t, s) = -sum softmax((t - C)/tpt) log softmax(s/tps);
    then C = m C + (1 - m) mean(cat([t1, t2]))."""
    n, k, tps, tpt, m = 4, 5, 0.1, 0.04, 0.9
    s1, s2, t1, t2 = (torch.randn(n, k, generator=g(30 + i)) for i in range(4))
    c = torch.randn(k, generator=g(40)).tolist()
    loss = DINOLoss(k, tpt, tps, m)
    loss.center.copy_(torch.tensor([c]))

    def h(t, s):
        total = 0.0
        for b in range(n):
            tb = softmax([(t[b][j].item() - c[j]) / tpt for j in range(k)])
            sb = softmax([s[b][j].item() / tps for j in range(k)])
            total += -sum(tb[j] * math.log(sb[j]) for j in range(k))
        return total / n

    assert loss([s1, s2], [t1, t2]).item() == pytest.approx(h(t1, s2) / 2 + h(t2, s1) / 2, rel=1e-5)
    both = torch.cat([t1, t2])
    expected_center = [m * c[j] + (1 - m) * both[:, j].mean().item() for j in range(k)]
    assert loss.center[0].tolist() == pytest.approx(expected_center, abs=1e-6)
    # without centering C is not subtracted
    c = [0.0] * k
    uncentred = DINOLoss(k, tpt, tps, m, center=False)
    uncentred.center.fill_(5.0)
    assert uncentred([s1, s2], [t1, t2]).item() == pytest.approx(h(t1, s2) / 2 + h(t2, s1) / 2, rel=1e-5)


def test_dino_loss_with_multi_crop_pairs_every_teacher_view_with_every_other_student_view():
    k = 6
    student = [torch.randn(3, k, generator=g(50 + v)) for v in range(4)]
    teacher = [torch.randn(3, k, generator=g(60 + i)) for i in range(2)]
    loss = DINOLoss(k, center=False)
    single = []
    for i in range(2):
        for v in range(4):
            if v != i:
                target = torch.softmax(teacher[i] / 0.04, 1)
                single.append(-(target * torch.log_softmax(student[v] / 0.1, 1)).sum(1).mean())
    assert loss(student, teacher).item() == pytest.approx(sum(single).item() / 6, rel=1e-6)
