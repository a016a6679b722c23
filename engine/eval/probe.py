"""Linear probes: the offline one on cached frozen features, and the online one trained during SSL.

The offline probe is multinomial logistic regression fitted to convergence with full-batch L-BFGS on
standardised features; its L2 penalty matches scikit-learn's LogisticRegression(C) objective
(C * sum of losses + ||W||^2 / 2), so the two agree.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, C: float = 1.0,
                     max_iter: int = 200) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    """Fit W, b on standardised features; returns the layer and the (mean, std) used to standardise."""
    features = features.float()
    mean, std = features.mean(0), features.std(0).clamp_min(1e-6)
    x = (features - mean) / std
    layer = nn.Linear(x.shape[1], num_classes).to(x.device)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    penalty = 1.0 / (2.0 * C * len(x))  # sklearn's objective divided by C * N
    optimizer = torch.optim.LBFGS(layer.parameters(), lr=1.0, max_iter=max_iter, history_size=20,
                                  tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(layer(x), labels) + penalty * layer.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    return layer, mean, std


def linear_probe_predict(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                         num_classes: int, C: float = 1.0) -> torch.Tensor:
    """Predicted labels (Q,) of the test features by a probe fitted on the training features."""
    layer, mean, std = fit_linear_probe(train_features, train_labels, num_classes, C)
    with torch.no_grad():
        return layer((test_features.float() - mean) / std).argmax(1)


def linear_probe_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                          test_labels: torch.Tensor, num_classes: int, C: float = 1.0) -> float:
    predicted = linear_probe_predict(train_features, train_labels, test_features, num_classes, C)
    return (predicted == test_labels).float().mean().item()


class OnlineProbe(nn.Module):
    """A linear classifier trained on detached features during SSL (as solo-learn and lightly do), so
    accuracy can be plotted live; it never sends gradients into the encoder."""

    def __init__(self, dim: int, num_classes: int, lr: float = 1e-3):
        super().__init__()
        self.norm = nn.BatchNorm1d(dim, affine=False)
        self.linear = nn.Linear(dim, num_classes)
        self.optimizer = torch.optim.Adam(self.parameters(), lr=lr)

    def step(self, features: torch.Tensor, labels: torch.Tensor) -> float:
        """One update; returns the accuracy on this batch measured before the update."""
        known = labels >= 0
        if not known.any():
            return float("nan")
        logits = self.linear(self.norm(features[known].float()))
        loss = F.cross_entropy(logits, labels[known])
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return (logits.argmax(1) == labels[known]).float().mean().item()
