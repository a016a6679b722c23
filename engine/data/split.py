"""Deterministic, stratified train/test splits for sources that ship a single pool of images."""
from __future__ import annotations

import torch

from engine.data.base import ImageSet


def stratified_split(labels: torch.Tensor, test_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted train and test indices; the same labels, fraction and seed always give the same split.

    Each class sends ``round(test_fraction * size)`` of its images, drawn by ``seed``, to test, but at least
    one when it has two or more images and never all of them. A class with a single image stays in train.
    If that leaves nothing for test (a handful of images, or ``test_fraction`` 0), the test split reuses the
    training images, so evaluation then measures fit rather than generalisation.
    """
    generator = torch.Generator().manual_seed(seed)
    train, test = [], []
    for value in labels.unique():
        members = torch.nonzero(labels == value).squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        count = min(max(round(test_fraction * len(members)), 1), len(members) - 1) if test_fraction > 0 else 0
        test.append(members[:count])
        train.append(members[count:])
    train_index, test_index = torch.cat(train).sort().values, torch.cat(test).sort().values
    return train_index, (test_index if len(test_index) else train_index)


def split_images(images: torch.Tensor, labels: torch.Tensor | None, test_fraction: float,
                 seed: int, captions: list[str] | None = None) -> tuple[ImageSet, ImageSet]:
    """Train and test ImageSets, stratified by ``labels`` (unlabelled images are split as one class)."""
    pool = ImageSet(images, labels, captions=captions)
    strata = labels if labels is not None else torch.zeros(len(images), dtype=torch.int64)
    train_index, test_index = stratified_split(strata, test_fraction, seed)
    return pool.subset(train_index), pool.subset(test_index)
