"""A word-level vocabulary fitted on a corpus: lower-cased words and punctuation marks, a minimum count, a size
cap, and an unknown-word token.

Built on Hugging Face ``tokenizers`` (a Rust implementation made for this: fast batch encoding, and a JSON form that
a run folder stores beside its safetensors checkpoint, so no pickle is involved).
"""
from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, CLS, MASK = "[PAD]", "[UNK]", "[CLS]", "[MASK]"
SPECIAL_TOKENS = (PAD, UNK, CLS, MASK)  # ids 0..3 in this order


class Vocabulary:
    """Words <-> ids. ``fit`` learns it from texts; ``to_json`` / ``from_json`` save and restore it exactly."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer
        missing = [token for token in SPECIAL_TOKENS if tokenizer.token_to_id(token) is None]
        if missing:
            raise ValueError(f"not a Pretext vocabulary: it lacks the special tokens {', '.join(missing)}")
        self.pad_id, self.unk_id, self.cls_id, self.mask_id = (tokenizer.token_to_id(t) for t in SPECIAL_TOKENS)

    @classmethod
    def fit(cls, texts: Iterable[str], min_count: int = 1, max_size: int = 30_000) -> Vocabulary:
        """The ``max_size`` most frequent words (special tokens included) seen at least ``min_count`` times."""
        if min_count < 1 or max_size <= len(SPECIAL_TOKENS):
            raise ValueError(f"a vocabulary needs min_count >= 1 and max_size > {len(SPECIAL_TOKENS)}")
        tokenizer = Tokenizer(models.WordLevel(unk_token=UNK))
        tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # runs of word characters, runs of punctuation
        tokenizer.decoder = decoders.WordPiece()  # joins words with spaces, punctuation without
        trainer = trainers.WordLevelTrainer(vocab_size=max_size, min_frequency=min_count,
                                            special_tokens=list(SPECIAL_TOKENS), show_progress=False)
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    @classmethod
    def from_json(cls, text: str) -> Vocabulary:
        return cls(Tokenizer.from_str(text))

    def to_json(self) -> str:
        return self.tokenizer.to_str()

    def __len__(self) -> int:
        return self.tokenizer.get_vocab_size()

    @property
    def words(self) -> list[str]:
        """The vocabulary in id order."""
        by_id = sorted(self.tokenizer.get_vocab().items(), key=lambda item: item[1])
        return [word for word, _ in by_id]

    def id_of(self, word: str) -> int:
        found = self.tokenizer.token_to_id(word.lower())
        return self.unk_id if found is None else found

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Each text as its ids, unknown words as ``unk_id``."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: list[int]) -> str:
        return self.tokenizer.decode(ids, skip_special_tokens=False)
