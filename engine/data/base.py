"""Data containers shared by every dataset source.

Images are kept in memory as uint8 tensors (N, C, H, W): decoding happens once, when the source
loads, never in the training loop. Labels are used only by evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class ImageSet:
    """One split: uint8 images and whatever ground truth the source knows."""

    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor | None = None  # int64 (N,)
    attributes: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> int64 (N,)
    captions: list[str] | None = None
    masks: torch.Tensor | None = None  # bool (N, H, W): pixels of the main object

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        n = len(self.images)
        if self.labels is not None and len(self.labels) != n:
            raise ValueError("labels and images differ in length")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(
            images=self.images[index],
            labels=None if self.labels is None else self.labels[index],
            attributes={k: v[index] for k, v in self.attributes.items()},
            captions=None if self.captions is None else [self.captions[i] for i in index.tolist()],
            masks=None if self.masks is None else self.masks[index],
        )


@dataclass
class Dataset:
    """A named dataset: a train split (the unlabelled training data) and a test split (for evaluation)."""

    name: str
    train: ImageSet
    test: ImageSet
    class_names: list[str] = field(default_factory=list)
    attribute_names: dict[str, list[str]] = field(default_factory=dict)  # attribute -> value names
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of files not loaded
    # labelled images evaluation fits on (the kNN bank, the linear probe) when the train split is not them (a single
    # image's crops: the source dataset's training split); None: the train split
    reference: ImageSet | None = None

    @property
    def eval_train(self) -> ImageSet:
        """The training side of evaluation: ``reference`` if set, else the train split."""
        return self.train if self.reference is None else self.reference

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[-1]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)
