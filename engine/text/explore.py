"""The word map's computations: the points it shows (words, or a text method's sentence vectors), coloured by
attribute (captions) or by frequency, their exports in the TensorBoard Projector's format, and the preview of a
text method's task before training."""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from engine.build import RunConfig
from engine.events import Tiles
from engine.text.base import FIRST_WORD, word_counts
from engine.text.evaluation import WordVectors

MAX_WORDS = 5000  # the most frequent words shown: enough for structure, small enough for UMAP in seconds
MAX_SENTENCES = 3000
FREQUENCY_BANDS = (100, 1000)  # rank limits of the frequency colouring
OTHER = "other words"
PREVIEW_PASSAGES = 12


@dataclass
class Points:
    """What the word map shows: one label and vector per point, a category each, and the vectors queries search
    (the whole vocabulary for a word map)."""

    kind: str  # "words", or the sentence pooling ("cls", "mean")
    labels: list[str]
    vectors: torch.Tensor  # float32 (N, D)
    categories: np.ndarray  # int (N,)
    names: list[str]  # category names
    counts: list[int] | None  # word counts (words only)
    words: WordVectors  # the vocabulary's vectors: what a typed word is looked up in

    def metadata(self) -> dict[str, list[str]]:
        """Per-point columns for the exports."""
        columns = {"word" if self.kind == "words" else "sentence": self.labels,
                   "group": [self.names[c] for c in self.categories.tolist()]}
        if self.counts is not None:
            columns["count"] = [str(c) for c in self.counts]
        return columns

    def neighbours(self, row: int, k: int = 5) -> list[tuple[str, float]]:
        """The k points nearest ``row`` (words: among the whole vocabulary)."""
        if self.kind == "words":
            return self.words.neighbours(self.labels[row], k)
        unit = F.normalize(self.vectors, dim=1)
        similarity = unit @ unit[row]
        similarity[row] = -2.0
        values, rows = similarity.topk(min(k, len(self.labels) - 1))
        return [(self.labels[r], float(v)) for r, v in zip(rows.tolist(), values.tolist())]


def word_points(words: WordVectors, groups: dict[str, list[str]], limit: int = MAX_WORDS) -> Points:
    """The ``limit`` most frequent words, coloured by their attribute group (captions) or frequency rank."""
    counts = words.counts if words.counts is not None else torch.ones(len(words.words), dtype=torch.long)
    counts = counts.clone()
    counts[:FIRST_WORD] = -1  # special tokens are not shown
    order = [r for r in torch.argsort(counts, descending=True, stable=True).tolist() if counts[r] > 0][:limit]
    labels = [words.words[r] for r in order]
    if groups:
        names = [*groups, OTHER]
        group_of = {word: i for i, words_ in enumerate(groups.values()) for word in words_}
        categories = np.array([group_of.get(label, len(groups)) for label in labels], int)
    else:
        bands = [b for b in FREQUENCY_BANDS if b < len(labels)]
        names = [f"{low + 1:,}-{high:,} most frequent" for low, high in zip((0, *bands), (*bands, len(labels)))]
        categories = np.searchsorted(np.array(bands), np.arange(len(labels)), side="right")
    return Points("words", labels, words.vectors[order].float(), categories, names,
                  [int(counts[r]) for r in order], words)


def sentence_points(snapshot, pooling: str, limit: int = MAX_SENTENCES) -> Points:
    """Up to ``limit`` training passages as the method's sentence vectors ([CLS] or mean-pooled), coloured by their
    caption's colour (captions) or by length."""
    texts, vectors, attributes = snapshot.sentences(pooling, limit)
    if "color" in attributes:
        order = snapshot.corpus.attribute_words.get("color", [])  # each colour's name, then its synonyms
        names = sorted(set(attributes["color"]), key=lambda v: order.index(v) if v in order else len(order))
        categories = np.array([names.index(value) for value in attributes["color"]], int)
    else:
        lengths = np.array([len(t.split()) for t in texts])
        names = ["up to 10 words", "11-30 words", "over 30 words"]
        categories = np.searchsorted(np.array([10, 30]), lengths, side="left")
    return Points(pooling, texts, vectors, categories, names, None, snapshot.word_vectors())


def export_points(directory: Path, points: Points, coordinates: np.ndarray | None = None) -> list[Path]:
    """``vectors.tsv`` and ``metadata.tsv`` (TensorBoard Projector files, loadable with ``tensorboard --logdir DIR``
    or the standalone Projector), ``projector_config.pbtxt``, and ``coordinates.csv`` of the view when given."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vectors, metadata = directory / "vectors.tsv", directory / "metadata.tsv"
    np.savetxt(vectors, points.vectors.float().numpy(), fmt="%.9g", delimiter="\t")  # 9 digits: exact float32
    columns = points.metadata()
    rows = ["\t".join(columns)] + ["\t".join(" ".join(v.split()) for v in row) for row in zip(*columns.values())]
    metadata.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = directory / "projector_config.pbtxt"
    config.write_text("\n".join(["embeddings {", f"  tensor_name: {json.dumps('pretext ' + points.kind)}",
                                 '  tensor_path: "vectors.tsv"', '  metadata_path: "metadata.tsv"', "}"]) + "\n",
                      encoding="utf-8")
    written = [vectors, metadata, config]
    if coordinates is not None:
        with open(directory / "coordinates.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["x", "y", *columns])
            for (x, y), row in zip(np.asarray(coordinates).tolist(), zip(*columns.values())):
                writer.writerow([f"{x:.6g}", f"{y:.6g}", *row])
        written.append(directory / "coordinates.csv")
    return written


_PREVIEW_CACHE: dict[str, tuple] = {}


def preview_before_training(config: RunConfig, draw: int) -> Tiles:
    """The text method's task on a few held-out passages with its untrained network, for the window's preview
    before a run (the corpus and vocabulary of the last settings are kept)."""
    from engine.text.session import build_text_method, load_corpus

    key = json.dumps([config.dataset, config.dataset_options], sort_keys=True)
    if key not in _PREVIEW_CACHE:
        corpus = load_corpus(config)
        vocabulary = corpus.fit_vocabulary()
        passages = vocabulary.encode((corpus.test or corpus.train)[:PREVIEW_PASSAGES])
        _PREVIEW_CACHE.clear()
        _PREVIEW_CACHE[key] = (vocabulary, word_counts(vocabulary.encode(corpus.train), len(vocabulary)), passages)
    vocabulary, counts, passages = _PREVIEW_CACHE[key]
    method = build_text_method(config, vocabulary, counts)
    return method.preview(passages, torch.Generator().manual_seed(config.seed * 1000 + draw))


def explore_text_run(run_dir: Path, umap_figure: Path | None = None, export_dir: Path | None = None,
                     points: int = MAX_WORDS, say=print) -> list[Path]:
    """``main.py eval RUN_DIR --umap PNG --export DIR`` for a text run: its ``points`` most frequent words laid out
    by UMAP (PCA for a handful), the scatter coloured by attribute or frequency, and the Projector files."""
    from engine.explore.layout import pca_2d, umap_2d
    from engine.explore.plot import save_scatter
    from engine.explore.umap_worker import UmapWorker
    from engine.text.session import load_text_run

    say(f"Loading {run_dir}")
    snapshot = load_text_run(run_dir)
    groups = snapshot.corpus.attribute_words if snapshot.corpus is not None else {}
    shown = word_points(snapshot.word_vectors(), groups, points)
    if len(shown.labels) > 15:
        worker = UmapWorker()
        try:
            say(f"UMAP of {len(shown.labels)} words")
            coordinates = umap_2d(worker, shown.vectors)
        finally:
            worker.close()
    else:
        coordinates = pca_2d(shown.vectors)
    written = []
    if umap_figure is not None:
        title = f"{snapshot.title}: {len(shown.labels)} words"
        written.append(save_scatter(umap_figure, coordinates, shown.categories, shown.names, title))
    if export_dir is not None:
        written += export_points(export_dir, shown, coordinates)
    return written
