"""The window's zero-shot queries, run off the GUI thread: a dropped or pasted image's probability for each prompt
beside its nearest images, text-to-image search, and prompts placed on the embedding view.

A *bank* is the set of images queries are answered from: a run's test split (held-out captions and images), or the
photos of a folder the user dropped for a pretrained CLIP, embedded once per model snapshot. A prompt list's text
embeddings are cached per model (:class:`PromptCache`), so that a drop costs one image's forward pass and a matrix
product: bench/clip_latency.py measures it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine.data.images import ImageRejected, decode_image
from engine.eval.knn import cosine_topk
from engine.eval.zero_shot import check_prompts, probabilities
from engine.explore.query import Rejected, decode_sources, image_sources, place

BANK_IMAGES = 2000  # images of a run's test split searched and shown as neighbours
K_NEIGHBOURS = 8


@dataclass
class Bank:
    """Images, their joint-space embeddings and a short description of each."""

    images: torch.Tensor  # uint8 (N, C, S, S)
    embeddings: torch.Tensor  # float32 (N, E), L2-normalised
    names: list[str]  # a caption or file name per image

    def __len__(self) -> int:
        return len(self.images)


@dataclass(frozen=True)
class ZeroShot:
    """One query image: its probability per prompt, and its nearest bank images."""

    source: str
    image: torch.Tensor  # uint8 (C, S, S): what the model saw
    probabilities: torch.Tensor  # float32 (T,)
    neighbours: list[int]  # bank rows, most similar first
    similarities: list[float]


@dataclass
class PromptCache:
    """Text embeddings of prompt lists for one model: a drop re-embeds nothing it has seen."""

    model: Any
    embedded: dict[tuple[str, ...], torch.Tensor] = field(default_factory=dict)

    def embeddings(self, prompts: list[str]) -> torch.Tensor:
        key = tuple(prompts)
        if key not in self.embedded:
            self.embedded[key] = self.model.embed_texts(list(prompts))
        return self.embedded[key]


def run_bank(model: Any, dataset: Any, limit: int = BANK_IMAGES) -> Bank:
    """The first ``limit`` test images of a run's dataset, named by their caption (or class)."""
    test = dataset.test
    images = test.images[:limit]
    if test.captions:
        names = list(test.captions[:limit])
    elif test.labels is not None and dataset.class_names:
        names = [dataset.class_names[y] if y >= 0 else "?" for y in test.labels[:limit].tolist()]
    else:
        names = [f"test image {i}" for i in range(len(images))]
    return Bank(images, model.embed_images(images), names)


def decode_for(model: Any, source: str | Path | bytes) -> torch.Tensor:
    """uint8 (C, S, S) at the model's size and channels; ImageRejected with the reason."""
    return decode_image(source, model.image_size, model.channels)


def file_bank(model: Any, paths: list[str | Path]) -> tuple[Bank, list[Rejected]]:
    """The image files (folders: their images) as a bank, and the files rejected with their reason."""
    images, names, rejected = [], [], []
    for path in image_sources(paths):
        try:
            images.append(decode_for(model, path))
            names.append(Path(path).name)
        except ImageRejected as e:
            rejected.append(Rejected(str(path), e.reason))
    if not images:
        raise ValueError("none of the dropped files is an image that could be read")
    stacked = torch.stack(images)
    return Bank(stacked, model.embed_images(stacked), names), rejected


def zero_shot_queries(model: Any, cache: PromptCache, prompts: list[str], sources: list[str | Path | bytes],
                      bank: Bank | None = None, k: int = K_NEIGHBOURS) -> list[ZeroShot | Rejected]:
    """One result per source, in order: its prompt probabilities and nearest bank images, or why it was rejected.
    ``prompts`` are checked (ValueError in one sentence for an empty or too long list)."""
    prompts = check_prompts(prompts)
    names, results, decoded = decode_sources(sources, lambda source: decode_for(model, source))
    if decoded:
        images = torch.stack(list(decoded.values()))
        embedded = model.embed_images(images)
        probs = probabilities(model, embedded, cache.embeddings(prompts))
        if bank is not None and len(bank):
            sims, rows = cosine_topk(embedded, bank.embeddings, k)
        else:
            sims, rows = torch.zeros(len(images), 0), torch.zeros(len(images), 0, dtype=torch.long)
        for i, slot in enumerate(decoded):
            results[slot] = ZeroShot(names[slot], images[i], probs[i], rows[i].tolist(), sims[i].tolist())
    return [results[slot] for slot in range(len(sources))]


def text_search(model: Any, bank: Bank, text: str, k: int = 24) -> tuple[list[int], list[float]]:
    """The ``k`` bank images most similar to ``text``: rows and cosine similarities, best first."""
    (query,) = check_prompts([text])
    sims, rows = cosine_topk(model.embed_texts([query]), bank.embeddings, k)
    return rows[0].tolist(), sims[0].tolist()


def prompt_positions(model: Any, prompts: list[str], image_embeddings: torch.Tensor, coordinates: np.ndarray,
                     k: int = 10) -> np.ndarray:
    """float32 (T, 2): each prompt on the embedding view, where its ``k`` most similar images lie (weighted as the
    dropped images are placed, engine.explore.query.place); ``image_embeddings`` are those points' joint-space
    embeddings."""
    prompts = check_prompts(prompts)
    sims, rows = cosine_topk(model.embed_texts(prompts), image_embeddings, k)
    return place(sims, rows, coordinates)
