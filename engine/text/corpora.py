"""Text sources for the text methods (``word2vec``, ``masked_lm``), registered beside the image datasets with
``modality="text"``: ``captions`` (the shapes world's captions, whose attribute words give a checkable lesson) and
``text`` (a user's ``.txt`` file or folder of them; with no path, Debian's ``fortunes`` files when installed).

Each loads as a :class:`Corpus` of passages: the units a context window or a sequence never crosses (a caption, a
paragraph, a fortune). Files that cannot be used (not UTF-8, empty, binary) are listed in ``Corpus.skipped`` with a
reason a person can read, and the rest loads.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from engine.config import param
from engine.data.registry import register_dataset
from engine.errors import DatasetUnavailable
from engine.text.tokenizer import Vocabulary

FORTUNES = Path("/usr/share/games/fortunes")
FORTUNES_HINT = ("install Debian's fortunes files (as root: apt-get install fortunes) or set dataset.path to a "
                 ".txt file or a folder of them")
ANALOGIES = Path(__file__).with_name("analogies.txt")
PASSAGE_BREAK = re.compile(r"\n[ \t]*%?[ \t]*\n")  # a blank line, or a fortune file's "%" line between entries
SNIFF_BYTES = 8192
# the captions' attribute words grouped for the attribute-neighbour score (position joins hpos and vpos)
CAPTION_ATTRIBUTES = ("shape", "color", "size", "position")


class TextRejected(ValueError):
    """A file that cannot be read as text; the message is the reason, for a person."""


@dataclass
class VocabularySettings:
    min_count: int = param(5, "Words seen fewer times than this become the unknown word [UNK]", low=1,
                           high=1_000_000)
    vocabulary_size: int = param(30000, "Largest vocabulary: the most frequent words (special tokens included)",
                                 low=16, high=1_000_000)


@dataclass
class CaptionsConfig(VocabularySettings):
    train_size: int = param(20000, "Number of captions to train on (one per generated shapes image)", low=1,
                            high=1_000_000)
    test_size: int = param(1000, "Number of held-out captions (masked-word accuracy)", low=1, high=100_000)
    seed: int = param(0, "Random seed of the shapes world the captions describe")
    style: str = param("fixed", "The captions' form: fixed (one template, \"a small red star on the left over "
                       "stripes\": each attribute's words share their contexts exactly) or varied (CLIP's "
                       "templates with synonyms and left-out attributes)", choices=("fixed", "varied"))


@dataclass
class TextConfig(VocabularySettings):
    path: str = param("", "A UTF-8 .txt file or a folder of them (searched recursively); empty: Debian's fortunes "
                          "files, when installed")
    test_fraction: float = param(0.02, "Fraction of the passages held out (masked-word accuracy)", low=0.0,
                                 high=0.5)
    seed: int = param(0, "Seed of the held-out split")
    analogies: str = param("", "File of analogy questions, one 'a b c d' per line (a is to b as c is to d); "
                               "empty: the list shipped in engine/text/analogies.txt")


@dataclass
class Corpus:
    """Passages of text, split into a training and a held-out part, with what the evaluation needs."""

    name: str
    train: list[str]
    test: list[str]
    min_count: int
    vocabulary_size: int
    description: str  # e.g. "43 files from /usr/share/games/fortunes"
    attribute_words: dict[str, list[str]] = field(default_factory=dict)  # attribute -> its words (captions)
    passage_attributes: dict[str, list[str]] = field(default_factory=dict)  # attribute -> value per train passage
    analogies: list[tuple[str, str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason) of files not loaded

    def fit_vocabulary(self) -> Vocabulary:
        return Vocabulary.fit(self.train, self.min_count, self.vocabulary_size)


# captions
@register_dataset("captions", CaptionsConfig, "The shapes world's captions (\"a small red star on the left over "
                  "stripes\"): colour words should end up near colour words", modality="text")
def load_captions(config: CaptionsConfig) -> Corpus:
    """The captions of shapes images (read through the shapes source, so its caption templates flow in); the
    attribute words are the words its captions use for shapes, colours, sizes and positions, synonyms included."""
    from engine.data import shape_captions, shapes

    train_seed, test_seed = torch.randint(2**62, (2,), generator=torch.Generator().manual_seed(config.seed)).tolist()
    # the smallest images: only the text is used
    train = shapes.generate(config.train_size, train_seed, image_size=16, captions=config.style)
    test = shapes.generate(config.test_size, test_seed, image_size=16, captions=config.style)
    names = shapes.ATTRIBUTE_NAMES
    def words(table: dict[str, tuple[str, ...]]) -> list[str]:
        return [word for synonyms in table.values() for word in synonyms]

    groups = {"shape": words(shape_captions.SHAPE_WORDS), "color": words(shape_captions.COLOR_WORDS),
              "size": words(shape_captions.SIZE_WORDS),
              "position": list(dict.fromkeys(names["hpos"] + names["vpos"] + list(shape_captions.CENTRE_WORDS)))}
    passage_attributes = {name: [names[name][v] for v in train.attributes[name].tolist()]
                          for name in ("shape", "color", "size")}
    return Corpus("captions", list(train.captions), list(test.captions), config.min_count, config.vocabulary_size,
                  f"{config.train_size:,} captions of the shapes world", groups, passage_attributes)


# a user's text
def read_text_file(path: Path) -> str:
    """The file's text; TextRejected with the reason when it is empty, binary or not UTF-8."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TextRejected(f"cannot read file ({e.strerror or type(e).__name__})") from None
    if not data.strip():
        raise TextRejected("empty file")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise TextRejected("UTF-16 text: save it as UTF-8")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise TextRejected("a binary file, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise TextRejected(f"not UTF-8 text (byte 0x{data[e.start]:02x} at offset {e.start}): save it as "
                           "UTF-8") from None


def passages(text: str) -> list[str]:
    """Paragraphs (split at blank lines and at fortune files' "%" lines), whitespace-normalised, empty ones
    dropped."""
    pieces = PASSAGE_BREAK.split(text.replace("\r\n", "\n").replace("\r", "\n"))
    return [" ".join(piece.split()) for piece in pieces if piece.strip() and piece.strip() != "%"]


def text_files(root: Path) -> tuple[list[Path], list[Path]]:
    """(files to read, other files) under ``root``: those named ``*.txt`` (any case), sorted; hidden files and
    folders are ignored, and a link to a file already listed is read once."""
    chosen, others, seen = [], [], set()
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        for name in sorted(files):
            path = Path(folder, name)
            if name.startswith(".") or path.resolve() in seen:
                continue
            seen.add(path.resolve())
            (chosen if path.suffix.lower() == ".txt" else others).append(path)
    return chosen, others


def fortune_files() -> list[Path]:
    """Debian's fortune files: the files without a suffix (``.dat`` are their binary indices, ``.u8`` links)."""
    return sorted(p for p in FORTUNES.iterdir() if p.is_file() and not p.is_symlink() and not p.suffix)


@register_dataset("text", TextConfig, "Your own UTF-8 .txt file or folder of them (with no path: Debian's fortunes "
                  "files, when installed)", modality="text")
def load_text(config: TextConfig) -> Corpus:
    if config.path:
        root = Path(config.path).expanduser()
        if root.is_file():
            files, others = [root], []
        elif root.is_dir():
            files, others = text_files(root)
            if not files:
                raise DatasetUnavailable(f"{root} contains no .txt files: choose a .txt file or a folder of them.")
        else:
            raise DatasetUnavailable(f"{root} does not exist: choose a .txt file or a folder of them.")
        where = str(root)
    elif FORTUNES.is_dir() and (files := fortune_files()):
        others, where = [], str(FORTUNES)
    else:
        raise DatasetUnavailable(f"No text is set and {FORTUNES} is not installed: {FORTUNES_HINT}.")
    texts, skipped = [], []
    for path in files:
        try:
            texts += passages(read_text_file(path))
        except TextRejected as e:
            skipped.append((str(path), str(e)))
    read = len(files) - len(skipped)
    if others:
        listed = ", ".join(p.name for p in others[:5]) + (", ..." if len(others) > 5 else "")
        skipped.append((where, f"{len(others)} file(s) not named .txt were not read ({listed})"))
    if not texts:
        reasons = "; ".join(f"{Path(p).name}: {r}" for p, r in skipped[:3])
        raise DatasetUnavailable(f"No readable text in {where} ({reasons}).")
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(config.seed)).tolist()
    held_out = round(config.test_fraction * len(texts)) if len(texts) > 1 else 0
    test = [texts[i] for i in sorted(order[:held_out])]
    train = [texts[i] for i in sorted(order[held_out:])]
    return Corpus("text", train, test, config.min_count, config.vocabulary_size, f"{read} file(s) from {where}",
                  analogies=read_analogies(Path(config.analogies).expanduser() if config.analogies else ANALOGIES),
                  skipped=skipped)


def read_analogies(path: Path) -> list[tuple[str, str, str, str]]:
    """Questions "a b c d" (a is to b as c is to d), one per line, lower-cased; lines starting with # or : (the
    sections of Mikolov et al.'s question file) and blank lines are skipped. ValueError names a bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ValueError(f"cannot read the analogy file {path} ({e})") from None
    questions = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip()[0] in "#:":
            continue
        words = line.lower().split()
        if len(words) != 4:
            raise ValueError(f"{path}, line {number}: an analogy is four words 'a b c d', not {line.strip()!r}")
        questions.append(tuple(words))
    return questions
