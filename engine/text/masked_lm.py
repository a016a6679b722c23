"""Masked language modelling (Devlin, Chang, Lee and Toutanova 2019, "BERT: Pre-training of Deep Bidirectional
Transformers for Language Understanding", section 3.1, task 1), and next-word prediction as a setting (a causal
mask, as GPT: Radford et al. 2018, "Improving Language Understanding by Generative Pre-Training").

A small transformer encoder reads [CLS] followed by a passage's tokens. 15 % of the tokens are selected; of those
80 % are replaced by [MASK], 10 % by a random word and 10 % left as they are, and the model predicts the original
token at each selected position (cross-entropy on those positions only), from both sides. The output layer shares
the token embedding matrix (as BERT). Masks are drawn afresh at every step (dynamic masking, as RoBERTa; BERT drew
them once per copy of its data). Next-word prediction instead predicts every token from those before it.
The token embeddings and the [CLS] or mean-pooled sentence vectors are what the explorer shows.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from engine.config import param
from engine.events import Tiles
from engine.methods.base import register_method
from engine.text.base import FIRST_WORD, TextMethod, TextStep
from engine.text.preview import token_tiles
from engine.text.tokenizer import Vocabulary

IGNORED = -100  # cross-entropy's ignore_index: positions that are not predicted
MASK, RANDOM = 0.8, 0.1  # of the selected tokens: replaced by [MASK], by a random word (the rest stay)
HELD_OUT_SEQUENCES = 512
EMBED_BATCH = 256
PREVIEW_PASSAGES, PREVIEW_TOKENS = 3, 12


@dataclass
class MaskedLMConfig:
    objective: str = param("masked", "masked: predict the selected tokens from both sides (BERT); next-word: "
                           "predict each token from those before it (a causal mask)", choices=("masked", "next-word"))
    dim: int = param(128, "Width of the transformer: the length of the token vectors", low=8, high=4096)
    layers: int = param(2, "Transformer encoder blocks", low=1, high=48)
    heads: int = param(4, "Attention heads per block (they must divide dim)", low=1, high=64)
    ff_dim: int = param(512, "Hidden width of each block's feed-forward network", low=8, high=16384)
    max_length: int = param(64, "Tokens per sequence, [CLS] included; longer passages are cut into pieces", low=4,
                            high=4096)
    mask_fraction: float = param(0.15, "Share of the tokens selected for prediction (of those, 80 % become "
                                       "[MASK], 10 % a random word, 10 % stay)", low=0.01, high=0.9)
    dropout: float = param(0.1, "Dropout inside the transformer", low=0.0, high=0.9)


def mask_tokens(ids: torch.Tensor, maskable: torch.Tensor, fraction: float, mask_id: int, vocabulary_size: int,
                rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's rule: (inputs, targets) for token ids (B, L). Each maskable token is selected with probability
    ``fraction`` (at least one is); a selected token becomes [MASK] (80 %), a random word (10 %) or stays (10 %).
    ``targets`` holds the original id at the selected positions and IGNORED elsewhere."""
    selected = (torch.rand(ids.shape, generator=rng) < fraction) & maskable
    if not selected.any():
        selected.view(-1)[maskable.view(-1).nonzero()[0]] = True
    action = torch.rand(ids.shape, generator=rng)
    random_words = torch.randint(FIRST_WORD, vocabulary_size, ids.shape, generator=rng)
    inputs = torch.where(selected & (action < MASK), mask_id, ids)
    inputs = torch.where(selected & (action >= MASK) & (action < MASK + RANDOM), random_words, inputs)
    return inputs, torch.where(selected, ids, IGNORED)


def sequences(passages: list[list[int]], max_length: int, cls_id: int, pad_id: int) -> torch.Tensor:
    """int64 (N, max_length): [CLS] and up to max_length - 1 tokens per row, long passages cut into several rows,
    padded with [PAD]."""
    pieces = [p[i:i + max_length - 1] for p in passages for i in range(0, len(p), max_length - 1)] or [[]]
    out = torch.full((len(pieces), max_length), pad_id, dtype=torch.long)
    for row, piece in enumerate(pieces):
        out[row, 0] = cls_id
        out[row, 1:1 + len(piece)] = torch.tensor(piece, dtype=torch.long)
    return out


@register_method
class MaskedLM(TextMethod):
    name = "masked_lm"
    paper = ("Devlin et al. 2019, BERT: Pre-training of Deep Bidirectional Transformers for Language Understanding "
             "(masked language modelling; next-word prediction as a setting)")
    Config = MaskedLMConfig
    sentence_poolings = ("cls", "mean")
    train_defaults = {"dataset": "captions", "lr": 1e-3, "batch_size": 64, "warmup_steps": 100, "optimizer": "adamw",
                      "weight_decay": 0.01, "eval_every_s": 15.0}

    def __init__(self, vocabulary: Vocabulary, counts: torch.Tensor, config: MaskedLMConfig):
        super().__init__(vocabulary, counts, config)
        if config.dim % config.heads:
            raise ValueError(f"masked_lm's heads ({config.heads}) must divide its dim ({config.dim}): e.g. heads "
                             f"{max(h for h in range(1, config.heads + 1) if config.dim % h == 0)}")
        self.token_embedding = nn.Embedding(len(vocabulary), config.dim, padding_idx=vocabulary.pad_id)
        self.position_embedding = nn.Embedding(config.max_length, config.dim)
        for embedding in (self.token_embedding, self.position_embedding):
            nn.init.normal_(embedding.weight, std=0.02)
        block = nn.TransformerEncoderLayer(config.dim, config.heads, config.ff_dim, config.dropout,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        self.head = nn.Sequential(nn.Linear(config.dim, config.dim), nn.GELU(), nn.LayerNorm(config.dim))
        self.output_bias = nn.Parameter(torch.zeros(len(vocabulary)))
        self._order = (-1, torch.empty(0, dtype=torch.long))

    @property
    def causal(self) -> bool:
        return self.config.objective == "next-word"

    def prepare_corpus(self, passages: list[list[int]], batch_size: int, seed: int) -> None:
        vocabulary = self.vocabulary
        self.rows = sequences(passages, self.config.max_length, vocabulary.cls_id, vocabulary.pad_id)
        self.batch_size, self.seed = batch_size, seed

    # the network
    def encode(self, ids: torch.Tensor) -> torch.Tensor:
        """Hidden states (B, L, D) of token ids (B, L); [PAD] is never attended to."""
        length = ids.shape[1]
        x = self.token_embedding(ids) + self.position_embedding.weight[:length]
        causal = (torch.ones(length, length, dtype=torch.bool, device=ids.device).triu(1)  # True: not attended
                  if self.causal else None)
        return self.norm(self.encoder(x, mask=causal, src_key_padding_mask=ids == self.vocabulary.pad_id,
                                      is_causal=self.causal))

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores over the vocabulary for hidden states (..., D), through the output layer tied to the tokens."""
        return self.head(hidden) @ self.token_embedding.weight.T + self.output_bias

    def task(self, rows: torch.Tensor, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of the pretext task for rows of token ids: BERT's masking, or the next tokens."""
        rows = rows[:, :max(2, int((rows != self.vocabulary.pad_id).sum(1).max()))]  # the batch's longest row
        if self.causal:
            targets = rows[:, 1:].masked_fill(rows[:, 1:] == self.vocabulary.pad_id, IGNORED)
            return rows[:, :-1], targets
        maskable = rows >= FIRST_WORD
        maskable |= rows == self.vocabulary.unk_id
        return mask_tokens(rows, maskable, self.config.mask_fraction, self.vocabulary.mask_id, len(self.vocabulary),
                           rng)

    def predict(self, inputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, targets) at the predicted positions only."""
        chosen = targets != IGNORED
        return self.logits(self.encode(inputs)[chosen]), targets[chosen]

    # training
    def _batch(self, step: int) -> torch.Tensor:
        """Rows of batch ``step``: consecutive slices of a fresh permutation per epoch of (seed, epoch)."""
        n, b = len(self.rows), self.batch_size
        positions = torch.arange(step * b, (step + 1) * b)
        epochs = positions // n
        index = torch.empty(b, dtype=torch.long)
        for epoch in epochs.unique().tolist():
            if self._order[0] != epoch:
                generator = torch.Generator().manual_seed(self.seed * 7919 + epoch)
                self._order = (epoch, torch.randperm(n, generator=generator))
            inside = epochs == epoch
            index[inside] = self._order[1][positions[inside] % n]
        return self.rows[index]

    def training_step(self, step: int, lr: float, rng: torch.Generator) -> TextStep:
        rows = self._batch(step)
        inputs, targets = self.task(rows, rng)
        device = self.output_bias.device
        logits, wanted = self.predict(inputs.to(device), targets.to(device))
        loss = F.cross_entropy(logits.float(), wanted)
        accuracy = (logits.argmax(1) == wanted).float().mean().item()
        return TextStep(loss, int((rows >= FIRST_WORD).sum() + (rows == self.vocabulary.unk_id).sum()),
                        {"pretext_acc": accuracy})

    # what is explored and evaluated
    def word_vectors(self) -> torch.Tensor:
        return self.token_embedding.weight.detach().float().cpu().clone()

    @torch.no_grad()
    def sentence_vectors(self, passages: list[list[int]], pooling: str) -> torch.Tensor:
        """[CLS]'s hidden state ("cls"; in next-word mode it has seen only itself) or the mean of the tokens'
        ("mean") for each passage's first max_length - 1 tokens."""
        if pooling not in self.sentence_poolings:
            raise ValueError(f"pooling must be one of {', '.join(self.sentence_poolings)}, not {pooling!r}")
        rows = sequences([p[:self.config.max_length - 1] for p in passages], self.config.max_length,
                         self.vocabulary.cls_id, self.vocabulary.pad_id)
        out = []
        device = self.output_bias.device
        for start in range(0, len(rows), EMBED_BATCH):
            batch = rows[start:start + EMBED_BATCH].to(device)
            batch = batch[:, :max(2, int((batch != self.vocabulary.pad_id).sum(1).max()))]
            hidden = self.encode(batch)
            if pooling == "cls":
                out.append(hidden[:, 0])
            else:
                tokens = (batch != self.vocabulary.pad_id) & (batch != self.vocabulary.cls_id)
                out.append((hidden * tokens[..., None]).sum(1) / tokens.sum(1, keepdim=True).clamp_min(1))
        return torch.cat(out).float().cpu()

    @torch.no_grad()
    def held_out_scores(self, passages: list[list[int]], seed: int) -> dict[str, float]:
        """The pretext task's accuracy on up to HELD_OUT_SEQUENCES held-out rows (the same masks at every
        evaluation): ``masked_acc``, or ``next_word_acc``."""
        rows = sequences(passages, self.config.max_length, self.vocabulary.cls_id, self.vocabulary.pad_id)
        rows = rows[:HELD_OUT_SEQUENCES]
        if not passages or not (rows >= FIRST_WORD).any():
            return {}
        training, device = self.training, self.output_bias.device
        self.eval()
        inputs, targets = self.task(rows, torch.Generator().manual_seed(seed))
        right = total = 0
        for start in range(0, len(rows), EMBED_BATCH):
            logits, wanted = self.predict(inputs[start:start + EMBED_BATCH].to(device),
                                          targets[start:start + EMBED_BATCH].to(device))
            right += int((logits.argmax(1) == wanted).sum())
            total += len(wanted)
        self.train(training)
        return {"next_word_acc" if self.causal else "masked_acc": right / max(total, 1)}

    @torch.no_grad()
    def preview(self, passages: list[list[int]], rng: torch.Generator) -> Tiles:
        """A few passages as the network sees them (masked or not) and, below, its prediction at each predicted
        position, marked right or wrong (with the right word after a wrong one)."""
        words = self.vocabulary.words
        rows = sequences([p[:PREVIEW_TOKENS] for p in passages if p][:PREVIEW_PASSAGES], PREVIEW_TOKENS + 1,
                         self.vocabulary.cls_id, self.vocabulary.pad_id)
        inputs, targets = self.task(rows, rng)
        training = self.training
        self.eval()
        predicted = self.logits(self.encode(inputs.to(self.output_bias.device))).argmax(-1).cpu()
        self.train(training)
        tiles = []
        for ids, given, wanted, guess in zip(rows, inputs, targets, predicted):
            seen, told = [], []
            for position in range(len(given)):
                if given[position] == self.vocabulary.pad_id:
                    break
                if wanted[position] == IGNORED:
                    seen.append(("word", words[given[position]]))
                    told.append(("blank", ""))
                    continue
                role = ("masked" if given[position] == self.vocabulary.mask_id else
                        "kept" if self.causal or given[position] == ids[position] else "random")
                seen.append((role, words[given[position]]))
                right = guess[position] == wanted[position]
                told.append(("right" if right else "wrong", f"{words[guess[position]]} " +
                             ("✓" if right else f"✗ {words[wanted[position]]}")))
            tiles += [seen, told]
        title = ("Next word: each token (top) and the predicted next word below it" if self.causal else
                 "Masked words: the input (orange [MASK], purple a random word, blue kept) and the prediction below")
        return token_tiles(title, tiles)
