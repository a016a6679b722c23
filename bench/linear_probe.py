"""Linear probe on cached features: Pretext's L-BFGS probe (engine/eval/probe.py) against scikit-learn's
LogisticRegression on the same standardised features, 60 000 x 512: time and test accuracy.

The features are Fashion-MNIST's pixels through a fixed random ReLU layer (784 -> 512, the features of a
random one-layer network: dense, non-negative and correlated like a convnet's pooled activations); without
the dataset (Debian's ``dataset-fashion-mnist``) a synthetic mixture of the same shape stands in.

    .venv/bin/python bench/linear_probe.py
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import DatasetUnavailable, load_dataset  # noqa: E402
from engine.eval.probe import linear_probe_accuracy  # noqa: E402


def random_relu_features(images: torch.Tensor, dim: int) -> torch.Tensor:
    x = images.flatten(1).float().div(255)
    x = (x - x.mean(0)) / x.std(0).clamp_min(1e-3)
    weight = torch.randn(x.shape[1], dim, generator=torch.Generator().manual_seed(0)) / x.shape[1] ** 0.5
    return torch.relu(x @ weight)


def features(n_train: int, dim: int) -> tuple[str, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    try:
        data = load_dataset("fashion-mnist")
        return ("Fashion-MNIST through a random ReLU layer", random_relu_features(data.train.images[:n_train], dim),
                data.train.labels[:n_train], random_relu_features(data.test.images, dim), data.test.labels)
    except DatasetUnavailable:
        g = torch.Generator().manual_seed(0)
        centres = torch.randn(10, dim, generator=g) * 0.15
        labels = torch.randint(0, 10, (n_train + 10000,), generator=g)
        x = torch.relu(centres[labels] + torch.randn(len(labels), dim, generator=g))
        return "synthetic Gaussian mixture through a ReLU", x[:n_train], labels[:n_train], x[n_train:], labels[n_train:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=60000)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--C", type=float, default=1.0)
    args = parser.parse_args()
    name, xtr, ytr, xte, yte = features(args.train, args.dim)
    print(f"{name}: train {tuple(xtr.shape)}, test {tuple(xte.shape)}, C={args.C}, torch threads "
          f"{torch.get_num_threads()}")

    start = time.perf_counter()
    ours = linear_probe_accuracy(xtr, ytr, xte, yte, 10, C=args.C)
    ours_s = time.perf_counter() - start
    print(f"Pretext probe (L-BFGS, torch):        {ours:.2%} in {ours_s:5.1f} s", flush=True)

    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(xtr.numpy())
    start = time.perf_counter()
    reference = LogisticRegression(C=args.C, max_iter=1000).fit(scaler.transform(xtr.numpy()), ytr.numpy())
    sk_s = time.perf_counter() - start
    sk = reference.score(scaler.transform(xte.numpy()), yte.numpy())
    print(f"scikit-learn LogisticRegression(lbfgs): {sk:.2%} in {sk_s:5.1f} s ({reference.n_iter_[0]} iterations)")
    print(f"difference {100 * (ours - sk):+.2f} points; speed-up x{sk_s / ours_s:.1f}")


if __name__ == "__main__":
    main()
