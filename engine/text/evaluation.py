"""Evaluation that fits word vectors: nearest words by cosine, analogies (b - a + c, Mikolov et al. 2013's 3CosAdd)
and, for the captions, the attribute-neighbour score: the share of each attribute word's 5 nearest words that name
the same attribute (a colour's neighbours should be colours), beside the same score of random vectors."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from engine.text.base import FIRST_WORD

NEIGHBOURS = 5  # the attribute-neighbour score's k
RANDOM_DRAWS = 10  # random vector sets averaged for the score's baseline
PROBE_WORDS = ("love", "money", "computer", "war", "day", "god", "life", "time", "man", "good", "woman", "king")
REPORTED_ANALOGIES = 10
TERM = re.compile(r"\s*([+-]?)\s*([^\s+-]+)")


@dataclass
class WordVectors:
    """A vocabulary's vectors (V, D) with the words in id order and their counts; queries leave out the special
    tokens ([PAD], [UNK], [CLS], [MASK])."""

    words: list[str]
    vectors: torch.Tensor
    counts: torch.Tensor | None = None
    unit: torch.Tensor = field(init=False, repr=False)
    index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.unit = F.normalize(self.vectors.float(), dim=1)
        self.index = {word: i for i, word in enumerate(self.words)}

    def row(self, word: str) -> int:
        row = self.index.get(word.lower())
        if row is None or row < FIRST_WORD:
            raise ValueError(f"{word!r} is not in the vocabulary")
        return row

    def nearest(self, query: torch.Tensor, k: int, exclude: tuple[int, ...] = ()) -> list[tuple[str, float]]:
        """The k words most cosine-similar to ``query`` (D,), leaving out ``exclude`` rows."""
        similarity = self.unit @ F.normalize(query.float(), dim=0)
        similarity[:FIRST_WORD] = -2.0
        similarity[list(exclude)] = -2.0
        values, rows = similarity.topk(min(k, max(len(self.words) - FIRST_WORD - len(exclude), 0)))
        return [(self.words[r], float(v)) for r, v in zip(rows.tolist(), values.tolist())]

    def neighbours(self, text: str, k: int = 10) -> list[tuple[str, float]]:
        """The nearest words to a word ("red") or a sum of words ("king - man + woman"), the asked words left out.
        ValueError with a sentence for an empty query or an unknown word."""
        terms = parse_query(text)
        rows = [(sign, self.row(word)) for sign, word in terms]
        query = sum(sign * self.unit[row] for sign, row in rows)
        return self.nearest(query, k, tuple(row for _, row in rows))

    def analogy(self, a: str, b: str, c: str, k: int = 1) -> list[tuple[str, float]]:
        """a is to b as c is to ?: the words nearest b - a + c."""
        return self.neighbours(f"{b} - {a} + {c}", k)


def parse_query(text: str) -> list[tuple[int, str]]:
    """"king - man + woman" -> [(1, "king"), (-1, "man"), (1, "woman")]; ValueError when there is no word."""
    terms, position = [], 0
    text = text.strip()
    while position < len(text):
        match = TERM.match(text, position)
        if match is None:
            raise ValueError(f"cannot read {text!r}: type a word, or words joined by + and -")
        terms.append((-1 if match.group(1) == "-" else 1, match.group(2).lower()))
        position = match.end()
    if not terms:
        raise ValueError("type a word, or an analogy such as king - man + woman")
    return terms


def attribute_neighbour_score(vectors: WordVectors, groups: dict[str, list[str]], k: int = NEIGHBOURS) -> float:
    """The mean, over the attribute words in the vocabulary, of the share of each one's k nearest words (among all
    words) that belong to its own attribute group. NaN when no attribute word is in the vocabulary."""
    group_of = {word: name for name, words in groups.items() for word in words if word in vectors.index}
    shares = []
    for word, name in group_of.items():
        found = vectors.nearest(vectors.unit[vectors.index[word]], k, (vectors.index[word],))
        shares.append(sum(group_of.get(other) == name for other, _ in found) / k)
    return sum(shares) / len(shares) if shares else float("nan")


def random_attribute_score(words: list[str], groups: dict[str, list[str]], dim: int, seed: int,
                           k: int = NEIGHBOURS, draws: int = RANDOM_DRAWS) -> float:
    """The attribute-neighbour score of random Gaussian vectors for the same words, averaged over ``draws``."""
    generator = torch.Generator().manual_seed(seed)
    return sum(attribute_neighbour_score(WordVectors(words, torch.randn(len(words), dim, generator=generator)),
                                         groups, k) for _ in range(draws)) / draws


def attribute_ceiling(vectors: WordVectors, groups: dict[str, list[str]], k: int = NEIGHBOURS) -> float:
    """The best score possible: a group of n words can fill at most n - 1 of a word's k neighbours."""
    sizes = {name: sum(word in vectors.index for word in words) for name, words in groups.items()}
    shares = [min(k, size - 1) / k for size in sizes.values() for _ in range(size)]
    return sum(shares) / len(shares) if shares else float("nan")


def analogy_results(vectors: WordVectors, questions: list[tuple[str, str, str, str]]
                    ) -> list[tuple[tuple[str, str, str, str], list[tuple[str, float]]]]:
    """Each question whose four words are in the vocabulary with its five best answers."""
    covered = [q for q in questions if all(w in vectors.index and vectors.index[w] >= FIRST_WORD for w in q)]
    return [(q, vectors.analogy(*q[:3], k=5)) for q in covered]


def analogy_accuracy(results: list[tuple[tuple[str, str, str, str], list[tuple[str, float]]]]) -> float:
    """The share of covered questions whose best answer is the expected word (NaN when none is covered)."""
    return sum(answers[0][0] == q[3] for q, answers in results) / len(results) if results else float("nan")


def probe_words(vectors: WordVectors, groups: dict[str, list[str]], n: int = 6) -> list[str]:
    """Words whose neighbours a report lists: one per attribute group (captions), else common content words that
    are in the vocabulary (or, failing those, mid-frequency words)."""
    if groups:
        picks = [words[i] for i in range(2) for words in groups.values() if len(words) > i]
        return [w for w in picks if w in vectors.index][:n]
    found = [w for w in PROBE_WORDS if w in vectors.index]
    if len(found) >= 3:
        return found[:n]
    middle = list(range(FIRST_WORD + 50, min(len(vectors.words), FIRST_WORD + 50 + n)))
    return found + [vectors.words[r] for r in middle][:n - len(found)]


def report_lines(vectors: WordVectors, groups: dict[str, list[str]], questions: list[tuple[str, str, str, str]],
                 k: int = 8) -> list[str]:
    """Nearest-word lists of a few probe words and the first analogies answered, as lines to read."""
    lines = []
    if groups:
        lines.append(f"attribute-neighbour score {attribute_neighbour_score(vectors, groups):.3f} (best possible "
                     f"{attribute_ceiling(vectors, groups):.3f}: a group of n words fills at most n - 1 of "
                     f"{NEIGHBOURS} neighbours)")
    for word in probe_words(vectors, groups):
        found = vectors.neighbours(word, k)
        lines.append(f"{word}: " + ", ".join(f"{w} {s:.2f}" for w, s in found))
    results = analogy_results(vectors, questions)
    if questions:
        lines.append(f"analogies: {len(results)} of {len(questions)} questions have all their words in the "
                     f"vocabulary; best answer right for {analogy_accuracy(results):.0%}" if results else
                     f"analogies: none of the {len(questions)} questions has all its words in the vocabulary")
    for (a, b, c, d), answers in results[:REPORTED_ANALOGIES]:
        mark = "✓" if answers[0][0] == d else f"✗ (expected {d})"
        lines.append(f"{b} - {a} + {c} = {answers[0][0]} {mark}; then " + ", ".join(w for w, _ in answers[1:]))
    return lines
