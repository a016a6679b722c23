"""The text-method contract: a module over a vocabulary's token ids, trained by ``engine.text.session.TextSession``.

A text method is registered in the same registry as the image methods (``register_method``) with ``modality =
"text"``, so the window's pickers, the CLI's ``--method`` and RunConfig's settings reach it as they reach any
method; the session factory (``engine.run.make_session``) gives it a TextSession instead of the image Session.
It is built as ``Method(vocabulary, counts, config)``, gets the encoded training passages once
(``prepare_corpus``), and ``training_step(step, lr, rng)`` draws batch ``step`` itself (deterministic in the
seed and the step, so a resumed run retraces an uninterrupted one).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from engine.events import Tiles
from engine.text.tokenizer import SPECIAL_TOKENS, Vocabulary

FIRST_WORD = len(SPECIAL_TOKENS)  # ids below are [PAD], [UNK], [CLS], [MASK]


@dataclass
class TextStep:
    loss: torch.Tensor  # scalar; with a graph for a method the session's optimiser trains
    words: int  # corpus words the step consumed (the words/s rate)
    logs: dict[str, float] = field(default_factory=dict)


def word_counts(passages: list[list[int]], vocabulary_size: int) -> torch.Tensor:
    """int64 (V,): how often each id occurs in ``passages``."""
    flat = torch.tensor([i for passage in passages for i in passage], dtype=torch.long)
    return torch.bincount(flat, minlength=vocabulary_size)


class TextMethod(nn.Module):
    name: ClassVar[str]
    paper: ClassVar[str]
    Config: ClassVar[type]
    modality: ClassVar[str] = "text"
    augment_defaults: ClassVar[dict[str, Any]] = {}  # no images: RunConfig's augmentation stays unused
    train_defaults: ClassVar[dict[str, Any]] = {}
    own_update: ClassVar[bool] = False  # True: training_step applies its own SGD step (word2vec); else the
    # session's optimiser steps on the returned loss
    sentence_poolings: ClassVar[tuple[str, ...]] = ()  # how sentence_vectors can pool ("cls", "mean"), if at all

    def __init__(self, vocabulary: Vocabulary, counts: torch.Tensor, config: Any):
        super().__init__()
        self.vocabulary = vocabulary
        self.config = config
        self.register_buffer("counts", counts.clone().long())  # word counts of the training passages

    @classmethod
    def train_defaults_for(cls, dataset: str, dataset_options: dict[str, Any]) -> dict[str, Any]:
        return cls.train_defaults

    @classmethod
    def dataset_defaults(cls, dataset: str) -> dict[str, Any]:
        return {}

    @classmethod
    def data_warning(cls, dataset: str, dataset_options: dict[str, Any], augment: Any) -> str | None:
        return None

    def prepare_corpus(self, passages: list[list[int]], batch_size: int, seed: int) -> None:
        """The training passages as token ids, the run's batch size and seed, before the first step of a new run
        and again on resume (what is derived from them is recomputed, never saved)."""
        raise NotImplementedError

    def training_step(self, step: int, lr: float, rng: torch.Generator) -> TextStep:
        raise NotImplementedError

    def word_vectors(self) -> torch.Tensor:
        """float32 (V, D) on the CPU: one vector per vocabulary id."""
        raise NotImplementedError

    def sentence_vectors(self, passages: list[list[int]], pooling: str) -> torch.Tensor:
        """float32 (N, D) per passage, for methods with a sentence encoder (``pooling`` "cls" or "mean")."""
        raise ValueError(f"{self.name} learns word vectors only, no sentence encoder")

    def held_out_scores(self, passages: list[list[int]], seed: int) -> dict[str, float]:
        """Scores of the pretext task on held-out passages (e.g. masked-word accuracy); none by default."""
        return {}

    def preview(self, passages: list[list[int]], rng: torch.Generator) -> Tiles:
        """The pretext task on a few passages, as token tiles (:func:`engine.text.preview.token_tiles`)."""
        raise NotImplementedError
