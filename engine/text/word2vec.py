"""word2vec (Mikolov, Sutskever, Chen, Corrado and Dean 2013, "Distributed Representations of Words and Phrases and
their Compositionality"; Mikolov, Chen, Corrado and Dean 2013, "Efficient Estimation of Word Representations in
Vector Space"): skip-gram with negative sampling, and CBOW.

Skip-gram: each word w predicts the words c around it. Negative sampling (the paper's eq. 4) replaces the softmax
p(c|w) = exp(u_c . v_w) / sum_c' exp(u_c' . v_w) by a logistic regression that tells the real context word from
k noise words drawn from the unigram distribution raised to the 3/4 power:

    log sigma(u_c . v_w) + sum_{i=1..k} E_{n_i ~ P_n} log sigma(-u_{n_i} . v_w),    P_n(w) ~ count(w)^0.75

with input vectors v (the word vectors kept) and output vectors u. Frequent words are subsampled: a word of
frequency f is kept with probability (sqrt(f/t) + 1) t/f (the paper's code; the paper writes 1 - sqrt(t/f) for
the discard probability). Each centre word draws its window uniformly from 1..window (the paper's code: nearer
words weigh more). CBOW predicts the centre word from the mean of its context words' input vectors.

Batched on tensors and trained by SGD of the rows a step touches, as the paper's SGD (no optimiser state): the
pairs of ``batch_size`` centre words at once, their scores by batched matrix products. One draw of k noise words
is shared by ``negative_group`` consecutive pairs (each pair still sees k noise words: the same estimator, with a
fraction of the memory traffic). Within one step a frequent word's row collects hundreds of updates that
sequential SGD applies one at a time, each correcting the last; their sum is shortened to at most ``max_step`` in
length (a per-row trust region), which keeps a large batch stable where plain summed SGD diverges.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from engine.config import param
from engine.events import Tiles
from engine.methods.base import register_method
from engine.text.base import FIRST_WORD, TextMethod, TextStep
from engine.text.preview import token_tiles
from engine.text.tokenizer import Vocabulary

PREVIEW_PASSAGES = 3
PREVIEW_NOISE = 3


@dataclass
class Word2VecConfig:
    architecture: str = param("skip-gram", "skip-gram: each word predicts its context words; cbow: the mean of "
                              "the context's vectors predicts the word", choices=("skip-gram", "cbow"))
    dim: int = param(100, "Length of the word vectors", low=2, high=1024)
    window: int = param(5, "Largest distance of a context word (each centre word draws its window from 1 to "
                           "this)", low=1, high=50)
    negatives: int = param(5, "Noise words per real (word, context) pair", low=1, high=100)
    noise_power: float = param(0.75, "Exponent of the word counts in the noise distribution (1: unigram, "
                                     "0: uniform)", low=0.0, high=1.0)
    sample: float = param(1e-3, "Subsampling threshold t: a word of frequency f is kept with probability "
                                "(sqrt(f/t) + 1) t/f, so frequent words are thinned out (0: off)", low=0.0, high=1.0)
    negative_group: int = param(64, "Consecutive pairs that share one draw of noise words (1: a draw per pair)",
                                low=1, high=4096)
    max_step: float = param(0.3, "Longest step one word's vector takes in one batch: the summed updates of a "
                                 "frequent word are shortened to it (1e9: never)", low=1e-4, high=1e9)


def noise_distribution(counts: torch.Tensor, power: float) -> torch.Tensor:
    """float64 (V,): P_n(w) proportional to count(w)^power (words never seen have probability 0)."""
    weights = counts.double().pow(power) * (counts > 0)
    return weights / weights.sum()


def keep_probabilities(counts: torch.Tensor, threshold: float) -> torch.Tensor:
    """float32 (V,): the chance that subsampling keeps an occurrence, min(1, (sqrt(f/t) + 1) t/f) for a word of
    frequency f = count / total; 1 for every word when ``threshold`` is 0."""
    if threshold <= 0:
        return torch.ones(len(counts))
    frequency = counts.double() / counts.sum()
    keep = ((frequency / threshold).sqrt() + 1) * threshold / frequency.clamp_min(1e-300)
    return keep.clamp(max=1.0).float()


def context_windows(stream: torch.Tensor, passage: torch.Tensor, centres: torch.Tensor, spans: torch.Tensor,
                    window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The context of each centre position: ids (n, 2 window) at offsets -window..-1, 1..window (0 where unused)
    and a mask of those within the centre's span and in its passage."""
    offsets = torch.cat([torch.arange(-window, 0), torch.arange(1, window + 1)])
    positions = centres[:, None] + offsets
    inside = (offsets.abs() <= spans[:, None]) & (positions >= 0) & (positions < len(stream))
    positions = positions.clamp(0, len(stream) - 1)
    inside &= passage[positions] == passage[centres][:, None]
    return stream[positions] * inside, inside


def skipgram_pairs(stream: torch.Tensor, passage: torch.Tensor, centres: torch.Tensor, spans: torch.Tensor,
                   window: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(words, contexts): every (centre word, context word) pair of the centre positions, offset by offset (so that
    consecutive pairs, which share their noise words, have different centres)."""
    contexts, inside = context_windows(stream, passage, centres, spans, window)
    words = stream[centres][None, :].expand(contexts.shape[1], -1)
    return words[inside.T], contexts.T[inside.T]


def clipped_add(table: torch.Tensor, rows: list[torch.Tensor], updates: list[torch.Tensor], max_step: float) -> None:
    """table[rows] += updates for each pair of (rows (N,), updates (N, D)); a row that repeats takes the sum of its
    updates, shortened to at most ``max_step`` in length (infinite: not shortened)."""
    if not math.isfinite(max_step):
        for index, update in zip(rows, updates):
            table.index_add_(0, index, update)
        return
    touched, inverse = torch.unique(torch.cat(rows), return_inverse=True)
    summed = table.new_zeros(len(touched), table.shape[1])
    for index, update in zip(inverse.split([len(r) for r in rows]), updates):
        summed.index_add_(0, index, update)
    table.index_add_(0, touched, summed * (max_step / summed.norm(dim=1, keepdim=True).clamp_min(max_step)))


def negative_sampling_step(outputs: torch.Tensor, hidden: torch.Tensor, targets: torch.Tensor,
                           negatives: torch.Tensor, weight: torch.Tensor, lr: float, max_step: float
                           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The negative-sampling loss of P (hidden vector, target word) pairs and an SGD step of the output vectors.

    ``hidden`` (P, D): v_w for skip-gram, the context mean for CBOW; ``targets`` (P,): the words to tell from the
    noise; ``negatives`` (Q, K): one draw of K noise words per group of P / Q consecutive pairs; ``weight`` (P,):
    1 for a real pair, 0 for padding. Updates ``outputs`` in place (see :func:`clipped_add`); returns (the summed
    loss, the correct real/noise decisions, the step of each hidden vector). Every step is computed from the
    vectors before it (one batched SGD step)."""
    q, k = negatives.shape
    p, dim = hidden.shape
    group = p // q
    u = outputs.index_select(0, targets)  # (P, D); index_select: a faster gather than indexing on the CPU
    noise = outputs.index_select(0, negatives.flatten()).view(q, k, dim)
    grouped = hidden.view(q, group, dim)
    positive = (hidden * u).sum(1)  # u_c . v_w
    negative = torch.bmm(grouped, noise.transpose(1, 2))  # (Q, G, K): u_n . v_w
    loss = -(weight * (F.logsigmoid(positive) + F.logsigmoid(-negative).sum(2).view(p))).sum()
    correct = (weight * ((positive > 0).float() + (negative < 0).float().sum(2).view(p))).sum()
    step = weight * lr
    up = torch.sigmoid(-positive) * step  # gradient ascent: d/ds log sigma(s) = sigma(-s)
    down = -torch.sigmoid(negative) * step.view(q, group, 1)  # d/ds log sigma(-s) = -sigma(s)
    hidden_step = torch.bmm(down, noise).view(p, dim).addcmul_(up[:, None], u)
    clipped_add(outputs, [targets, negatives.flatten()],
                [up[:, None] * hidden, torch.bmm(down.transpose(1, 2), grouped).view(-1, dim)], max_step)
    return loss, correct, hidden_step


def skipgram_step(inputs: torch.Tensor, outputs: torch.Tensor, words: torch.Tensor, contexts: torch.Tensor,
                  negatives: torch.Tensor, weight: torch.Tensor, lr: float, max_step: float
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of skip-gram with negative sampling on the pairs (words[i], contexts[i]), updating the input
    and output vectors in place; returns (the summed loss, the correct real/noise decisions)."""
    loss, correct, hidden_step = negative_sampling_step(outputs, inputs.index_select(0, words), contexts, negatives,
                                                        weight, lr, max_step)
    clipped_add(inputs, [words], [hidden_step], max_step)
    return loss, correct


def cbow_step(inputs: torch.Tensor, outputs: torch.Tensor, contexts: torch.Tensor, inside: torch.Tensor,
              words: torch.Tensor, negatives: torch.Tensor, weight: torch.Tensor, lr: float, max_step: float
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step of CBOW with negative sampling: the mean of each row of ``contexts`` (where ``inside``)
    predicts ``words``; each context word's vector takes the whole step of the mean, as in the paper's code."""
    mask = inside.float()
    hidden = (inputs[contexts] * mask[..., None]).sum(1) / mask.sum(1).clamp_min(1)[:, None]
    loss, correct, hidden_step = negative_sampling_step(outputs, hidden, words, negatives, weight, lr, max_step)
    spread = hidden_step[:, None, :] * mask[..., None]
    clipped_add(inputs, [contexts.flatten()], [spread.view(-1, inputs.shape[1])], max_step)
    return loss, correct


@register_method
class Word2Vec(TextMethod):
    name = "word2vec"
    paper = ("Mikolov et al. 2013, Distributed Representations of Words and Phrases and their Compositionality "
             "(skip-gram with negative sampling; CBOW)")
    Config = Word2VecConfig
    own_update = True
    train_defaults = {"dataset": "captions", "lr": 0.025, "batch_size": 2048, "warmup_steps": 0,
                      "optimizer": "sgd", "weight_decay": 0.0, "eval_every_s": 10.0}

    def __init__(self, vocabulary: Vocabulary, counts: torch.Tensor, config: Word2VecConfig):
        super().__init__(vocabulary, counts, config)
        size, dim = len(vocabulary), config.dim
        self.register_buffer("input_vectors", (torch.rand(size, dim) - 0.5) / dim)  # the paper's code's start
        self.register_buffer("output_vectors", torch.zeros(size, dim))
        self.register_buffer("cursor", torch.zeros(2, dtype=torch.long))  # (epoch, the epoch's first step)
        words = counts.clone()
        words[:FIRST_WORD] = 0  # [UNK] and the other special tokens are dropped from the stream, never drawn
        self.noise_cdf = noise_distribution(words, config.noise_power).cumsum(0)
        self.keep = keep_probabilities(words, config.sample)
        self._epoch: tuple[int, torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def prepare_corpus(self, passages: list[list[int]], batch_size: int, seed: int) -> None:
        lengths = torch.tensor([len(p) for p in passages], dtype=torch.long)
        tokens = torch.tensor([i for p in passages for i in p], dtype=torch.long)
        passage = torch.repeat_interleave(torch.arange(len(passages)), lengths)
        known = tokens >= FIRST_WORD
        if not known.any():
            raise ValueError("the corpus has no word seen min_count times: lower the dataset's min_count")
        self.tokens, self.passage = tokens[known], passage[known]
        self.batch_size, self.seed = batch_size, seed
        self._epoch = None

    def draw_noise(self, n: int, rng: torch.Generator) -> torch.Tensor:
        """n noise words from P_n, by inverting its cumulative distribution."""
        u = torch.rand(n, generator=rng, dtype=torch.float64)
        return torch.searchsorted(self.noise_cdf, u * self.noise_cdf[-1]).clamp_max(len(self.noise_cdf) - 1)

    def epoch_stream(self, epoch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The epoch's (tokens, passage ids, raw positions + a final count): passages in a fresh order, frequent
        words subsampled, both drawn from (seed, epoch)."""
        if self._epoch is not None and self._epoch[0] == epoch:
            return self._epoch[1:]
        generator = torch.Generator().manual_seed(self.seed * 7919 + epoch)
        order = torch.randperm(int(self.passage[-1]) + 1, generator=generator)
        rank = torch.empty_like(order)
        rank[order] = torch.arange(len(order))
        shuffled = torch.argsort(rank[self.passage], stable=True)  # tokens passage by passage, in the new order
        tokens, passage = self.tokens[shuffled], self.passage[shuffled]
        kept = torch.rand(len(tokens), generator=generator) < self.keep[tokens]
        raw = torch.cat([kept.nonzero().flatten(), torch.tensor([len(tokens)])])
        self._epoch = (epoch, tokens[kept], passage[kept], raw)
        return self._epoch[1:]

    def _batch_position(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        """The epoch stream and the centre positions of batch ``step`` (batches do not cross epochs)."""
        epoch, first = self.cursor.tolist()
        if step < first:  # not reached by training (a resume restores the cursor): start counting again
            epoch, first = 0, 0
        while True:
            stream, passage, raw = self.epoch_stream(epoch)
            steps = math.ceil(len(stream) / self.batch_size)
            if step < first + steps:
                break
            epoch, first = epoch + 1, first + steps
        self.cursor.copy_(torch.tensor([epoch, first]))
        start = (step - first) * self.batch_size
        return stream, passage, raw, start

    @torch.no_grad()
    def training_step(self, step: int, lr: float, rng: torch.Generator) -> TextStep:
        cfg = self.config
        stream, passage, raw, start = self._batch_position(step)
        centres = torch.arange(start, min(start + self.batch_size, len(stream)))
        end = start + len(centres)
        words = int(raw[end] - (raw[start] if start else 0))  # corpus words, subsampled ones included
        spans = torch.randint(1, cfg.window + 1, (len(centres),), generator=rng)
        if cfg.architecture == "cbow":
            contexts, inside = context_windows(stream, passage, centres, spans, cfg.window)
            used = inside.any(1)
            targets, contexts, inside = stream[centres][used], contexts[used], inside[used]
        else:
            centre_words, targets = skipgram_pairs(stream, passage, centres, spans, cfg.window)
        pairs = len(targets)
        if not pairs:  # passages of one word: nothing to predict
            return TextStep(torch.zeros(()), words, {})
        groups = math.ceil(pairs / cfg.negative_group)
        padded = groups * cfg.negative_group
        device = self.input_vectors.device  # the batch is drawn on the CPU, the step runs where the vectors are
        weight = torch.zeros(padded, device=device)
        weight[:pairs] = 1.0
        negatives = self.draw_noise(groups * cfg.negatives, rng).view(groups, cfg.negatives).to(device)

        def pad(ids: torch.Tensor) -> torch.Tensor:
            return torch.cat([ids, ids.new_zeros((padded - pairs, *ids.shape[1:]))]).to(device)

        if cfg.architecture == "cbow":
            loss, correct = cbow_step(self.input_vectors, self.output_vectors, pad(contexts), pad(inside),
                                      pad(targets), negatives, weight, lr, cfg.max_step)
        else:
            loss, correct = skipgram_step(self.input_vectors, self.output_vectors, pad(centre_words), pad(targets),
                                          negatives, weight, lr, cfg.max_step)
        return TextStep(loss / pairs, words, {"pretext_acc": float(correct) / (pairs * (cfg.negatives + 1))})

    def word_vectors(self) -> torch.Tensor:
        return self.input_vectors.detach().float().cpu().clone()

    @torch.no_grad()
    def preview(self, passages: list[list[int]], rng: torch.Generator) -> Tiles:
        """A centre word in each of a few passages, its window's context words and a few noise words, each with
        the model's probability that it is real context (sigma(u . v)): real ones should score high."""
        words = self.vocabulary.words
        rows = []
        for ids in [p for p in passages if len(p) > 1][:PREVIEW_PASSAGES]:
            ids = torch.tensor(ids)
            centre = int(torch.randint(len(ids), (1,), generator=rng))
            span = int(torch.randint(1, self.config.window + 1, (1,), generator=rng))
            low, high = max(0, centre - self.config.window), min(len(ids), centre + self.config.window + 1)
            noise = self.draw_noise(PREVIEW_NOISE, rng)
            context = [i for i in range(max(0, centre - span), min(len(ids), centre + span + 1)) if i != centre]
            hidden = (self.input_vectors[ids[context]].mean(0) if self.config.architecture == "cbow" and context
                      else self.input_vectors[ids[centre]])
            scored = lambda word, real, hidden=hidden: self._scored(word, hidden, real)
            if self.config.architecture == "cbow":  # the centre is the target, the context the input
                row = [("centre", scored(int(ids[i]), True)[1]) if i == centre else
                       ("context" if i in context else "word", words[ids[i]]) for i in range(low, high)]
            else:
                row = [("centre", words[ids[i]]) if i == centre else scored(int(ids[i]), True) if i in context
                       else ("word", words[ids[i]]) for i in range(low, high)]
            rows.append(row + [scored(int(n), False) for n in noise.tolist()])
        what = ("the mean of the green context predicts the orange centre word" if self.config.architecture == "cbow"
                else "the orange centre word predicts its green context")
        return token_tiles(f"{self.config.architecture}: {what}, told from grey noise words; sigma(u . v) "
                           "should be high for context, low for noise", rows)

    def _scored(self, word: int, hidden: torch.Tensor, real: bool) -> tuple[str, str]:
        """(role, caption) of a real or noise word: the model's sigma(u . h), marked right or wrong."""
        probability = float(torch.sigmoid(self.output_vectors[word] @ hidden))
        mark = "✓" if (probability > 0.5) == real else "✗"
        return ("context" if real else "noise", f"{self.vocabulary.words[word]} {probability:.2f} {mark}")
