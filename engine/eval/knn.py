"""Weighted k-nearest-neighbour classifier on L2-normalised features (Wu et al. 2018; the DINO protocol):
the k most cosine-similar training features vote for their label with weight exp(sim / T)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


@torch.no_grad()
def cosine_topk(queries: torch.Tensor, bank: torch.Tensor, k: int,
                chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """Similarities and indices (Q, k), most similar first, of each query's k nearest bank rows by cosine."""
    bank = F.normalize(bank.float(), dim=1)
    k = min(k, len(bank))
    sims, indices = [], []
    for start in range(0, len(queries), chunk):
        s, i = (F.normalize(queries[start:start + chunk].float(), dim=1) @ bank.T).topk(k, dim=1)
        sims.append(s)
        indices.append(i)
    return torch.cat(sims), torch.cat(indices)


@torch.no_grad()
def knn_predict(train_features: torch.Tensor, train_labels: torch.Tensor, queries: torch.Tensor,
                num_classes: int, k: int = 20, temperature: float = 0.07, chunk: int = 1024) -> torch.Tensor:
    """Predicted labels (Q,) for query features (Q, D) given a labelled bank (N, D)."""
    sims, idx = cosine_topk(queries, train_features, k, chunk)
    votes = torch.zeros(len(queries), num_classes, device=sims.device)
    votes.scatter_add_(1, train_labels[idx], torch.exp(sims / temperature))
    return votes.argmax(1)


def knn_accuracy(train_features: torch.Tensor, train_labels: torch.Tensor, test_features: torch.Tensor,
                 test_labels: torch.Tensor, num_classes: int, k: int = 20, temperature: float = 0.07) -> float:
    predicted = knn_predict(train_features, train_labels, test_features, num_classes, k, temperature)
    return (predicted == test_labels).float().mean().item()
