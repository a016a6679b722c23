"""kNN and linear probe against straightforward references."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.eval.knn import knn_predict
from engine.eval.probe import linear_probe_accuracy


def knn_by_hand(bank, bank_labels, query, k, t, classes):
    sims = [float(torch.dot(query, b) / (query.norm() * b.norm())) for b in bank]
    top = sorted(range(len(bank)), key=lambda i: -sims[i])[:k]
    votes = [0.0] * classes
    for i in top:
        votes[int(bank_labels[i])] += math.exp(sims[i] / t)
    return max(range(classes), key=lambda c: votes[c])


def test_knn_matches_a_direct_weighted_vote():
    g = torch.Generator().manual_seed(0)
    bank, queries = torch.randn(200, 8, generator=g), torch.randn(40, 8, generator=g)
    labels = torch.randint(0, 5, (200,), generator=g)
    predicted = knn_predict(bank, labels, queries, 5, k=20, temperature=0.07, chunk=16)
    expected = [knn_by_hand(bank, labels, q, 20, 0.07, 5) for q in queries]
    assert predicted.tolist() == expected


def test_linear_probe_agrees_with_scikit_learn():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x = x + np.random.default_rng(0).normal(0, 0.5, x.shape)  # no constant columns
    xtr, xte, ytr, yte = x[:1200], x[1200:], y[:1200], y[1200:]
    scaler = StandardScaler().fit(xtr)
    reference = LogisticRegression(C=1.0, max_iter=2000).fit(scaler.transform(xtr), ytr)
    reference = reference.score(scaler.transform(xte), yte)
    ours = linear_probe_accuracy(torch.tensor(xtr, dtype=torch.float32), torch.tensor(ytr),
                                 torch.tensor(xte, dtype=torch.float32), torch.tensor(yte), 10)
    assert ours == pytest.approx(reference, abs=0.01)
    assert ours > 0.9


def test_baselines_are_cached_per_key_and_content(tmp_path, monkeypatch):
    from engine.data.base import ImageSet
    from engine.eval.protocol import EvalSplit, baselines

    monkeypatch.setenv("PRETEXT_CACHE", str(tmp_path))
    g = torch.Generator().manual_seed(0)

    def split(offset):
        images = torch.randint(0, 256, (40, 1, 8, 8), dtype=torch.uint8, generator=g) // 2 + offset
        return EvalSplit(ImageSet(images[:30], torch.arange(30) % 2), ImageSet(images[30:], torch.arange(10) % 2), 2)

    built = []

    def random_encoder():
        built.append(1)
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 4))

    prepare = lambda x: x.float() / 255  # noqa: E731
    first = split(0)
    a = baselines(first, {"dataset": "toy"}, prepare, random_encoder, torch.device("cpu"), probe=False)
    b = baselines(first, {"dataset": "toy"}, prepare, random_encoder, torch.device("cpu"), probe=False)
    assert a == b and len(built) == 1  # the second call read the cache
    baselines(split(100), {"dataset": "toy"}, prepare, random_encoder, torch.device("cpu"), probe=False)
    assert len(built) == 2  # same key, other images: recomputed, not a stale entry
