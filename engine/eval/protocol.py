"""The evaluation protocol: kNN and linear probe on frozen features, beside two baselines (raw pixels and a
randomly initialised network of the same architecture) that are computed once per dataset and cached."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from engine.data.base import Dataset, ImageSet
from engine.eval.knn import knn_accuracy
from engine.eval.probe import linear_probe_accuracy


def cache_dir() -> Path:
    return Path(os.environ.get("PRETEXT_CACHE", Path.home() / ".cache" / "pretext"))


@torch.no_grad()
def embed(encoder: nn.Module, images: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
          device: torch.device, batch_size: int = 512) -> torch.Tensor:
    """Features (N, D) on the CPU for uint8 images, the encoder in eval mode (restored afterwards)."""
    was_training = encoder.training
    encoder.eval()
    out = [encoder(prepare(images[i:i + batch_size].to(device))).float().cpu()
           for i in range(0, len(images), batch_size)]
    encoder.train(was_training)
    return torch.cat(out)


def raw_pixels(images: torch.Tensor, prepare: Callable[[torch.Tensor], torch.Tensor],
               batch_size: int = 4096) -> torch.Tensor:
    """The raw-pixel representation: the normalised input the networks see, flattened."""
    return torch.cat([prepare(images[i:i + batch_size]).flatten(1) for i in range(0, len(images), batch_size)])


@dataclass
class EvalSplit:
    """Labelled images evaluation uses: a train bank (kNN neighbours, probe training) and test queries."""

    bank: ImageSet
    queries: ImageSet
    num_classes: int

    @classmethod
    def from_dataset(cls, dataset: Dataset, max_bank: int = 0, max_queries: int = 0, seed: int = 0) -> EvalSplit:
        """Labelled images only (label >= 0), optionally a fixed random subset of each split."""
        def pick(split: ImageSet, limit: int) -> ImageSet:
            index = torch.nonzero(split.labels >= 0).squeeze(1)
            if limit and len(index) > limit:
                order = torch.randperm(len(index), generator=torch.Generator().manual_seed(seed))
                index = index[order[:limit]].sort().values
            return split.subset(index)

        if dataset.eval_train.labels is None or dataset.test.labels is None:
            raise ValueError(f"{dataset.name} has no labels, so it cannot be evaluated")
        return cls(pick(dataset.eval_train, max_bank), pick(dataset.test, max_queries), dataset.num_classes)

    def score(self, bank_features: torch.Tensor, query_features: torch.Tensor, probe: bool = True) -> dict[str, float]:
        scores = {"knn": knn_accuracy(bank_features, self.bank.labels, query_features, self.queries.labels,
                                      self.num_classes)}
        if probe:
            scores["probe"] = linear_probe_accuracy(bank_features, self.bank.labels, query_features,
                                                    self.queries.labels, self.num_classes)
        return scores

    def evaluate(self, encoder: nn.Module, prepare: Callable[[torch.Tensor], torch.Tensor], device: torch.device,
                 probe: bool = True) -> dict[str, float]:
        return self.score(embed(encoder, self.bank.images, prepare, device),
                          embed(encoder, self.queries.images, prepare, device), probe)


def baselines(split: EvalSplit, key: dict, prepare: Callable[[torch.Tensor], torch.Tensor],
              random_encoder: Callable[[], nn.Module], device: torch.device,
              probe: bool = True) -> dict[str, dict[str, float]]:
    """{"raw": scores, "random": scores} for this split; cached on disk under a hash of ``key``.

    ``key`` must name everything the figures depend on (dataset and its options, subset sizes, image
    size, backbone, seed); a fingerprint of the images and labels is added, so that a dataset whose files
    or generator changed under the same name is not scored from a stale entry."""
    digest = hashlib.sha256(json.dumps({**key, "probe": probe}, sort_keys=True).encode())
    for images in (split.bank.images, split.queries.images):
        step = max(1, len(images) // 64)
        digest.update(images[::step].contiguous().numpy().tobytes())
    digest.update(split.bank.labels.numpy().tobytes())
    digest = digest.hexdigest()[:16]
    path = cache_dir() / "baselines" / f"{digest}.json"
    if path.exists():
        try:
            return json.loads(path.read_text())["scores"]
        except (ValueError, KeyError):
            pass  # a damaged cache entry is recomputed
    scores = {
        "raw": split.score(raw_pixels(split.bank.images, prepare), raw_pixels(split.queries.images, prepare), probe),
        "random": split.evaluate(random_encoder().to(device), prepare, device, probe),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"key": key, "scores": scores}))
    os.replace(tmp, path)
    return scores
