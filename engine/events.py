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
class Preview:
    step: int
    title: str
    rows: tuple[tuple[torch.Tensor, ...], ...]  # uint8 (C, H, W) tiles
    captions: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Attention:
    """Attention maps blended over a few test images (and any the user asked about): rows of an image and its
    heads' overlays, uint8 (3, H, W) tiles, as Preview carries them."""

    step: int
    title: str
    rows: tuple[tuple[torch.Tensor, ...], ...]
    captions: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Checkpoint:
    step: int
    path: str


@dataclass(frozen=True)
class Warning:
    message: str


@dataclass(frozen=True)
class Error:
    message: str
    details: str = ""


@dataclass(frozen=True)
class Finished:
    step: int
    reason: str  # "completed", "stopped" or "failed"
    scores: dict[str, float] = field(default_factory=dict)
