"""TextSession: the training loop of a text method (:mod:`engine.text.base`), with the image Session's interface
(``run``, ``pause``/``resume``/``stop``, ``request_preview``, ``from_run_dir``, ``evaluate``) and its seams: the same
run folder (``run.json``, ``metrics.jsonl``, an atomic safetensors checkpoint that a run resumes from), the same
events, RunConfig and its learning-rate schedule. ``engine.run.make_session`` picks it for a text method.

The checkpoint's JSON state carries the vocabulary (``Vocabulary.to_json``), so a resumed or loaded run reads its
corpus with the words it was trained on. Randomness is a function of (seed, step), as in the image Session.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine import events
from engine.build import RunConfig, build_optimizer
from engine.checkpoint import (
    check_architecture,
    load_checkpoint,
    restore_model,
    restore_training,
    save_checkpoint,
    training_tensors,
)
from engine.config import to_dict
from engine.data import load_dataset
from engine.device import pick_device
from engine.errors import DatasetUnavailable
from engine.methods import METHODS
from engine.run import (
    MAX_BAD_STEPS,
    PendingSteps,
    RunControl,
    learning_rate,
    saved_config,
)
from engine.runfolder import MetricsLog, RunFolder
from engine.text.base import TextMethod, word_counts
from engine.text.corpora import Corpus
from engine.text.evaluation import (
    WordVectors,
    analogy_accuracy,
    analogy_results,
    attribute_neighbour_score,
    random_attribute_score,
    report_lines,
)
from engine.text.tokenizer import Vocabulary

PREVIEW_PASSAGES = 3


def build_text_method(config: RunConfig, vocabulary: Vocabulary, counts: torch.Tensor) -> TextMethod:
    """The run's text method, initialised from the config's seed whatever runs beside (on the CPU)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        return METHODS[config.method](vocabulary, counts, config.method_config())


def load_corpus(config: RunConfig) -> Corpus:
    corpus = load_dataset(config.dataset, config.dataset_options)
    if not isinstance(corpus, Corpus):
        raise ValueError(f"{config.dataset} is not a text corpus: {config.method} trains on text")
    return corpus


def text_scores(method: TextMethod, corpus: Corpus, vectors: WordVectors, held_out: list[list[int]],
                seed: int) -> dict[str, float]:
    """The attribute-neighbour score (captions), the analogy accuracy (questions in the vocabulary) and the
    pretext task's held-out scores."""
    scores = {}
    if corpus.attribute_words:
        scores["attribute_neighbours"] = attribute_neighbour_score(vectors, corpus.attribute_words)
    if results := analogy_results(vectors, corpus.analogies):
        scores["analogy_acc"] = analogy_accuracy(results)
    return {**scores, **method.held_out_scores(held_out, seed)}


@dataclass(frozen=True)
class TextSnapshot:
    """A text method frozen at one step (a copy, in eval mode) with its vocabulary and corpus: what the word map
    explores, safe to use from any thread while training goes on."""

    method: TextMethod
    vocabulary: Vocabulary
    corpus: Corpus | None  # None when a saved run's corpus is not on this machine any more
    run_dir: Path | None
    step: int
    method_name: str

    @property
    def title(self) -> str:
        return f"{self.method_name} on {self.corpus.name if self.corpus else 'text'}, step {self.step:,}"

    def word_vectors(self) -> WordVectors:
        return WordVectors(self.vocabulary.words, self.method.word_vectors(), self.method.counts.cpu())

    def sentences(self, pooling: str, limit: int) -> tuple[list[str], torch.Tensor, dict[str, list[str]]]:
        """Up to ``limit`` training passages, their sentence vectors and what is known about each (captions:
        their shape, colour and size)."""
        if self.corpus is None:
            raise ValueError("the run's corpus is not on this machine: only its words can be shown")
        texts = self.corpus.train[:limit]
        vectors = self.method.sentence_vectors(self.vocabulary.encode(texts), pooling)
        return texts, vectors, {name: values[:limit] for name, values in self.corpus.passage_attributes.items()}


def load_text_run(run_dir: Path, device: str = "cpu") -> TextSnapshot:
    """A saved text run's method with its checkpoint's weights and vocabulary, for exploring; writes nothing.
    Raises CheckpointError or ValueError with one sentence."""
    folder = RunFolder(run_dir)
    config = saved_config(folder)
    tensors, state = load_checkpoint(folder.checkpoint)
    check_architecture(state, config.method, config.backbone)
    vocabulary = Vocabulary.from_json(state["vocabulary"])
    method = build_text_method(config, vocabulary, tensors["model.counts"])
    restore_model(tensors, method)
    try:
        corpus = load_corpus(config)
    except DatasetUnavailable:
        corpus = None
    return TextSnapshot(method.to(pick_device(device)).eval(), vocabulary, corpus, folder.path, int(state["step"]),
                        config.method)


class TextSession(RunControl):
    """Trains one text run, with the image Session's controls; ``on_event`` is called on the training thread with
    each event."""

    modality = "text"

    def __init__(self, config: RunConfig, run_dir: Path | None = None,
                 on_event: Callable[[Any], None] | None = None, resume: bool = False):
        super().__init__(config, run_dir, on_event, resume)
        self.words_done = 0  # corpus words the steps consumed (epochs = words_done / train_words)
        # set up by _setup(), on the training thread
        self.device = torch.device("cpu")
        self.corpus: Corpus | None = None
        self.vocabulary: Vocabulary | None = None
        self.train_ids: list[list[int]] = []
        self.test_ids: list[list[int]] = []
        self.train_words = 0
        self.method: TextMethod | None = None
        self.optimizer: torch.optim.Optimizer | None = None  # None for a method with its own SGD (word2vec)
        self.baselines: dict[str, dict[str, float]] = {}
        self.metrics: MetricsLog | None = None

    def request_attention(self, images: torch.Tensor) -> None:
        raise ValueError("a text run has no attention maps")

    def snapshot(self) -> TextSnapshot:
        """A frozen copy of the method; take it on the training thread (in ``on_event``), while paused or after
        the run, so that it never sees a half-applied step."""
        method = self.method
        frozen = copy.deepcopy(method, {id(method.vocabulary): method.vocabulary}).eval().requires_grad_(False)
        return TextSnapshot(frozen, self.vocabulary, self.corpus, self.run_dir, self.step, self.config.method)

    def evaluate(self) -> dict[str, float]:
        """Load this run's checkpoint and evaluate it (``main.py eval RUN_DIR``): its scores are appended to its
        metrics as a final eval record, and a Report lists nearest words and analogies."""
        self._setup()
        try:
            return self._final_eval()
        finally:
            self.metrics.close()

    def _setup(self) -> None:
        cfg = self.config
        self.device = pick_device(cfg.device)
        self.on_event(events.Status(f"Loading {cfg.dataset}"))
        corpus = self.corpus = load_corpus(cfg)
        for path, reason in corpus.skipped:
            self.on_event(events.Warning(f"skipped {path}: {reason}"))
        tensors = state = None
        if self.resume_from_checkpoint:
            tensors, state = load_checkpoint(self.folder.checkpoint)
            check_architecture(state, cfg.method, cfg.backbone)
            self.vocabulary = Vocabulary.from_json(state["vocabulary"])
        else:
            self.on_event(events.Status("Fitting the vocabulary"))
            self.vocabulary = corpus.fit_vocabulary()
        self.train_ids, self.test_ids = self.vocabulary.encode(corpus.train), self.vocabulary.encode(corpus.test)
        counts = tensors["model.counts"] if tensors else word_counts(self.train_ids, len(self.vocabulary))
        self.train_words = int(counts.sum())
        self.method = build_text_method(cfg, self.vocabulary, counts).to(self.device)
        self.method.prepare_corpus(self.train_ids, cfg.batch_size, cfg.seed)
        torch.manual_seed(cfg.seed)
        self.optimizer = None if self.method.own_update else build_optimizer(self.method, cfg)
        if tensors is not None:
            if self.optimizer is None:
                restore_model(tensors, self.method)
                torch.set_rng_state(tensors["rng.torch"])
            else:
                restore_training(tensors, self.method, self.optimizer)
            self.step, self.elapsed = int(state["step"]), float(state["elapsed"])
            self.words_done = int(state.get("words", 0))
            self.folder.truncate(self.step)
        if corpus.attribute_words:
            dim = self.method.word_vectors().shape[1]
            self.baselines = {"random": {"attribute_neighbours": random_attribute_score(
                self.vocabulary.words, corpus.attribute_words, dim, cfg.seed + 1)}}
        self.folder.write_info({"config": to_dict(cfg), "dataset": {
            "name": corpus.name, "train": len(corpus.train), "test": len(corpus.test), "classes": [],
            "image_size": 0, "channels": 0, "words": self.train_words, "vocabulary": len(self.vocabulary),
            "description": corpus.description}, "device": str(self.device), "torch": torch.__version__})
        self.metrics = self.folder.open_metrics()
        self.on_event(events.Started(str(self.run_dir), to_dict(cfg), str(self.device), cfg.steps or None,
                                     corpus.name, self.train_words, 0, 0, unit="words"))

    def _progress(self) -> float | None:
        cfg = self.config
        if cfg.steps:
            return min(1.0, self.step / cfg.steps)
        if cfg.minutes:
            return min(1.0, self.elapsed / (cfg.minutes * 60))
        return None

    evaluable = True  # every text run evaluates (neighbours, analogies, held-out accuracy)

    def _step_amount(self, out: Any) -> int:
        return out.words

    def _lr(self) -> float:
        return learning_rate(self.config, self.step, self._progress())

    def _train_step(self) -> Any:
        """One step (the method's own SGD, or the optimiser on its loss); None when the loss or gradients were
        not finite and the update was skipped (after MAX_BAD_STEPS in a row the run stops)."""
        rng = torch.Generator().manual_seed(self.config.seed * 1_000_003 + self.step)
        lr = self._lr()
        out = self.method.training_step(self.step, lr, rng)
        finite = bool(torch.isfinite(out.loss))
        if self.optimizer is not None:
            self.optimizer.zero_grad(set_to_none=True)
            if finite:
                out.loss.backward()
                grads = [p.grad for p in self.method.parameters() if p.grad is not None]
                finite = not grads or bool(torch.isfinite(torch.nn.utils.get_total_norm(grads)))
            if finite:
                for group in self.optimizer.param_groups:
                    group["lr"] = lr
                self.optimizer.step()
            else:
                self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.words_done += out.words
        if not finite:
            self._bad_steps += 1
            self.on_event(events.Warning(f"step {self.step - 1}: the loss or gradients are not finite; step skipped"))
            if self._bad_steps >= MAX_BAD_STEPS:
                raise FloatingPointError(f"{self._bad_steps} consecutive non-finite steps: lower the learning rate "
                                         "or change the method's settings; the last good checkpoint is kept")
            return None
        self._bad_steps = 0
        return out

    def _emit_steps(self, pending: PendingSteps) -> None:
        since = max(self.elapsed - pending.since, 1e-9)
        self.on_event(events.Step(self.step, self.words_done / max(self.train_words, 1), tuple(pending.steps),
                                  tuple(pending.losses), self._lr(), pending.images / since, self.elapsed,
                                  self._eta(), pending.logs))
        self.metrics.flush()
        pending.clear(self.elapsed)

    def _eta(self) -> float | None:
        cfg = self.config
        if cfg.steps:
            return (cfg.steps - self.step) * self.elapsed / max(self.step, 1)
        if cfg.minutes:
            return max(0.0, cfg.minutes * 60 - self.elapsed)
        return None

    # evaluation and previews
    def word_vectors(self) -> WordVectors:
        return WordVectors(self.vocabulary.words, self.method.word_vectors(), self.method.counts.cpu())

    def _scores(self) -> dict[str, float]:
        return text_scores(self.method, self.corpus, self.word_vectors(), self.test_ids, self.config.seed)

    def _evaluate(self) -> None:
        self._log_eval(events.Eval(self.step, self._scores(), self.baselines))

    def _final_eval(self) -> dict[str, float]:
        self.on_event(events.Status("Final evaluation: nearest words, analogies and held-out scores"))
        scores = self._scores()
        self._log_eval(events.Eval(self.step, scores, self.baselines, final=True))
        self.on_event(events.Report(f"Nearest words and analogies at step {self.step:,}",
                                    tuple(report_lines(self.word_vectors(), self.corpus.attribute_words,
                                                       self.corpus.analogies))))
        return scores

    def _maybe_preview(self, force: bool) -> None:
        if not (force or self._preview_requested.is_set()):
            return
        self._preview_requested.clear()
        passages = (self.test_ids or self.train_ids)[:PREVIEW_PASSAGES * 4]
        tiles = self.method.preview(passages, torch.Generator().manual_seed(self.step))
        self.on_event(events.Preview(self.step, tiles))

    # checkpoints
    def _save(self) -> None:
        if not all(torch.isfinite(t).all() for t in self.method.state_dict().values() if t.is_floating_point()):
            self.on_event(events.Warning("weights are not finite: checkpoint not written, the previous one is kept"))
            return
        if self.optimizer is None:
            tensors = {f"model.{k}": v for k, v in self.method.state_dict().items()}
            tensors["rng.torch"] = torch.get_rng_state()
        else:
            tensors = training_tensors(self.method, self.optimizer)
        state = {"step": self.step, "elapsed": self.elapsed, "words": self.words_done, "config": to_dict(self.config),
                 "method": self.config.method, "backbone": self.config.backbone,
                 "vocabulary": self.vocabulary.to_json()}
        save_checkpoint(self.folder.checkpoint, tensors, state)
        self.on_event(events.Checkpoint(self.step, str(self.folder.checkpoint)))
