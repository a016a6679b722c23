"""Small immutable events a Session emits. The CLI prints them, the GUI draws them, tests assert on them.

Step events are throttled at the source: each carries every (step, loss) pair since the previous one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Started:
    run_dir: str
    config: dict[str, Any]
    device: str
    total_steps: int | None  # None when the budget is time or unlimited
    dataset: str
    train_size: int
    image_size: int  # the side of the images the network sees, e.g. for dropped images
    channels: int
    unit: str = "images"  # what train_size and the Step rate count: "images", or "words" for a text run


@dataclass(frozen=True)
class Status:
    """A long preparation step (loading data, computing baselines), for progress text."""

    message: str


@dataclass(frozen=True)
class Step:
    step: int
    epoch: float
    steps: tuple[int, ...]
    losses: tuple[float, ...]
    lr: float
    images_per_s: float
    elapsed_s: float
    eta_s: float | None
    logs: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Eval:
    step: int
    scores: dict[str, float]  # knn (and probe) of the current encoder
    baselines: dict[str, dict[str, float]]  # {"raw": scores, "random": scores}
    final: bool = False  # full splits and linear probe, at the end of a run


@dataclass(frozen=True)
class Tiles:
    """Images to show in a grid: rows of uint8 (C, H, W) tiles with a caption per tile. A method's preview of its
    pretext task and the attention overlays are both Tiles."""

    title: str
    rows: list[list[torch.Tensor]]
    captions: list[list[str]]


@dataclass(frozen=True)
class SimilarityTiles(Tiles):
    """Tiles that are also an image-text similarity matrix (CLIP's preview, the paper's Figure 1): ``matrix`` (n, n)
    cosine similarities of the tiles' first column of images (rows) to ``texts`` (columns)."""

    texts: list[str] = field(default_factory=list)
    matrix: torch.Tensor | None = None


@dataclass(frozen=True)
class Preview:
    """The method's pretext task on a few test images."""

    step: int
    tiles: Tiles


@dataclass(frozen=True)
class Attention:
    """Attention maps blended over a few test images (and any the user asked about): rows of an image and its
    heads' overlays."""

    step: int
    tiles: Tiles


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: str


@dataclass(frozen=True)
class Warning:
    message: str


@dataclass(frozen=True)
class Collapsed:
    """The collapse monitor found the representation collapsed at an online evaluation (engine.eval.collapse)."""

    step: int
    reason: str


@dataclass(frozen=True)
class Error:
    message: str
    details: str = ""


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "completed", "stopped" or "failed"
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Report:
    """Lines to read as they are: a text run's nearest words and analogies at its final evaluation."""

    title: str
    lines: tuple[str, ...]
