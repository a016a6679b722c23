"""The Method contract: an nn.Module with a dataclass config that turns a uint8 batch into a loss.

A method gets a backbone and the batched augmentation; ``training_step`` returns the loss, detached
backbone features of one view (for the online linear probe) and scalars to log. ``after_step`` runs
after the optimizer step (momentum encoders, queues); ``prepare_data`` sees the training images once before a new
run's first step. ``preview`` (default: the augmented views), ``attention``
and ``embedder`` have defaults a method may override; optional capabilities are plain methods checked with
``hasattr``: ``prototype_scores(images)``, ``pseudo_labels()``. A method that revisits the whole training set while
training (re-clustering it) gets it from ``attach_training_data``, may pick each step's rows in ``batch_indices`` and
name the parameters it re-initialised there in ``fresh_parameters``.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from engine.data.augment import Augment
from engine.data.base import Dataset, ImageSet
from engine.eval import collapse
from engine.eval.attention import attention_maps, overlay_tiles
from engine.events import Tiles


@dataclass
class StepOutput:
    loss: torch.Tensor
    features: torch.Tensor  # (B, D) detached backbone features, aligned with the input batch
    logs: dict[str, float] = field(default_factory=dict)
    # training-set rows ``features`` belong to when the method drew its own batch (Exemplar's seed images): the
    # online probe reads their labels; None: the rows of the input batch


def views_preview(augment: Augment, images: torch.Tensor, rng: torch.Generator, n_views: int = 2,
                  n_local: int = 0) -> Tiles:
    """Each image beside its augmented views (multi-crop local views enlarged to the image size): what a
    view-invariance method is asked to match."""
    original = augment.unnormalize(augment.prepare(images)).cpu()
    size = original.shape[-2:]
    views = [augment.unnormalize(F.interpolate(v, size=size, mode="nearest")).cpu()
             for v in augment.views(images, n_views, rng, n_local=n_local)]
    rows = [[original[i]] + [v[i] for v in views] for i in range(len(images))]
    names = ["image"] + [f"view {k + 1}" for k in range(n_views)] + [f"local {k + 1}" for k in range(n_local)]
    return Tiles("Augmented views", rows, [names] * len(images))


def attention_overlays(method: Method, images: torch.Tensor, names: list[str]) -> Tiles:
    """Each uint8 image (named in ``names``) beside its attention heat maps blended over it, one per head."""
    maps = method.attention(images)
    tiles = overlay_tiles(images, maps).cpu()
    heads = maps.shape[1]
    title = "Last-block [CLS] attention per head" if heads > 1 else "Activation-based attention map"
    head_names = [f"head {k + 1}" for k in range(heads)] if heads > 1 else ["attention"]
    return Tiles(title, [list(row) for row in tiles], [[name] + head_names for name in names])


class Method(nn.Module):
    name: ClassVar[str]
    paper: ClassVar[str]
    Config: ClassVar[type]
    augment_defaults: ClassVar[dict[str, Any]] = {}  # the paper's augmentation, applied over AugmentConfig()
    train_defaults: ClassVar[dict[str, Any]] = {}  # optimiser settings that suit the method
    centred_embedder: ClassVar[bool] = False  # the collapse monitor centres the embedder's outputs (collapse.py)
    modality: ClassVar[str] = "image"  # what it trains on; text methods (engine.text.base) say "text"

    def __init__(self, backbone: nn.Module, config: Any, augment: Augment):
        super().__init__()
        self.backbone = backbone
        self.config = config
        self.augment = augment

    @classmethod
    def train_defaults_for(cls, dataset: str, dataset_options: dict[str, Any]) -> dict[str, Any]:
        """``train_defaults`` and the settings that suit the method on this data only (e.g. a view size that fits its
        images)."""
        return cls.train_defaults

    @classmethod
    def dataset_defaults(cls, dataset: str) -> dict[str, Any]:
        """Settings of ``dataset`` the method's pretext needs (e.g. an upright world for RotNet); the user's dataset
        options override them key by key."""
        return {}

    @classmethod
    def data_warning(cls, dataset: str, dataset_options: dict[str, Any], augment: Any) -> str | None:
        """One sentence when the pretext label cannot be told from the images of this data and augmentation (an
        AugmentConfig), else None; the run goes on (a lesson may want to show it), warned."""
        return None

    def training_step(self, images: torch.Tensor, rng: torch.Generator) -> StepOutput:
        raise NotImplementedError

    def after_step(self, progress: float) -> None:
        """Called after each optimizer step with training progress in [0, 1]."""

    def prepare_data(self, train: ImageSet) -> None:
        """Called once with the training split (uint8 images (N, C, S, S), and the labels, captions and attributes
        the source knows) before the first step of a new run, for what a method derives from its data (e.g. colour
        bins). Labels are for diagnostics only, never for training. Not called on resume: keep the result in
        buffers, which the checkpoint restores."""

    def attach_training_data(self, dataset: Dataset, report: Callable[[str], None]) -> None:
        """Called on every run, new or resumed, before training (and before ``prepare_data`` or the checkpoint's
        state): the run's dataset, whose train split a method may revisit while training (re-clustering it; its
        labels and class names only for diagnostics, never for training), and ``report(text)``, which shows what a
        slow step is doing (a Status event)."""

    def batch_indices(self, step: int, proposed: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
        """The training rows (int64 on the CPU) of step ``step``'s batch: by default ``proposed``, the Session's
        consecutive slices of a permutation per epoch. A method may relabel its data here first or draw other rows
        of the same count (uniformly over clusters, from a few seed images), determined by ``step`` or drawn with
        ``rng``, the step's generator that ``training_step`` then continues, so that a resumed run draws the same
        ones. Called once per step, right before ``training_step`` on those rows' images: a method that needs the
        batch's other data (its captions, its surrogate labels) looks it up here."""
        return proposed

    def fresh_parameters(self) -> list[nn.Parameter]:
        """Parameters re-initialised since the last call (DeepCluster's new classifier, in ``batch_indices``): the
        Session drops their optimiser state, as a new optimiser for them would have none."""
        return []

    @property
    def encoder(self) -> nn.Module:
        """The network evaluated by kNN and linear probes."""
        return self.backbone

    @property
    def embedder(self) -> nn.Module:
        """The network whose output the loss compares: the collapse monitor's subject. The backbone followed by the
        projection head for methods that have one (``self.projection``), else the encoder."""
        if hasattr(self, "projection"):
            return nn.Sequential(self.backbone, self.projection).train(self.training)
        return self.encoder

    @property
    def monitor_grace_steps(self) -> int:
        """Steps during which the collapse monitor's readings are not reported as a collapse: a freshly
        initialised head reads as collapsed until training spreads it."""
        return collapse.GRACE_STEPS

    @torch.no_grad()
    def preview(self, images: torch.Tensor, rng: torch.Generator) -> Tiles:
        """The pretext task shown in the window: by default each image beside its augmented views (and up to four
        multi-crop local views), what a view-invariance method is asked to match."""
        return views_preview(self.augment, images, rng, n_local=min(getattr(self.config, "local_crops", 0), 4))

    @torch.no_grad()
    def attention(self, images: torch.Tensor) -> torch.Tensor:
        """Heat maps (B, heads, H, W) in [0, 1] at image resolution for uint8 images: the encoder's last-block
        [CLS] attention per head for a ViT, its activation-based attention map (one "head") for a convnet."""
        return attention_maps(self.encoder, self.augment.prepare(images))


METHODS: dict[str, type[Method]] = {}


def register_method(cls: type[Method]) -> type[Method]:
    METHODS[cls.name] = cls
    return cls
