"""Varied captions of the shapes world, and reading them back.

A scene's attributes (shape, colour, size, position, background) become one of several sentence templates with
synonyms, word orders and optional attributes left out: "a small red star on the left over stripes", "red star",
"a star, red, on a striped background". Every word that names an attribute value names only that value, so
:func:`read_caption` recovers exactly the attributes a caption states (the shape always, the others when they were
kept): retrieval counts an image as a match when it has them all, and :func:`swap_attribute` makes the hard negative
that differs from a caption in one attribute ("a blue star" for "a red star").

"""
from __future__ import annotations

import random
import re

from engine.data.shapes import BACKGROUNDS, COLORS, HPOS, SHAPES, SIZES, VPOS

STYLES = ("varied", "fixed")  # ShapesConfig.captions: these templates, or the one fixed template of shapes.caption

# The first word of each value is its name in ATTRIBUTE_NAMES (what prompts built from class names use).
SHAPE_WORDS = {"circle": ("circle", "disc", "disk"), "ring": ("ring", "donut", "hoop"), "square": ("square", "box"),
               "triangle": ("triangle",), "star": ("star",), "cross": ("cross", "plus"), "heart": ("heart",),
               "crescent": ("crescent", "moon"), "arrow": ("arrow",), "bar": ("bar", "stick", "rod")}
COLOR_WORDS = {"red": ("red",), "orange": ("orange",), "yellow": ("yellow",), "green": ("green",),
               "cyan": ("cyan", "turquoise"), "blue": ("blue",), "purple": ("purple", "violet"), "pink": ("pink",)}
SIZE_WORDS = {"small": ("small", "little", "tiny"), "large": ("large", "big")}
BACKGROUND_PHRASES = {"plain": ("a plain background", "a blank background", "an empty background"),
                      "stripes": ("stripes", "a striped background"),
                      "checker": ("a checkerboard", "a checkered background", "checks"),
                      "dots": ("dots", "a dotted background", "polka dots"),
                      "noise": ("noise", "a noisy background"),
                      "gradient": ("a gradient", "a gradient background")}
BACKGROUND_WORDS = {"plain": ("plain", "blank", "empty"), "stripes": ("stripes", "striped"),
                    "checker": ("checkerboard", "checkered", "checks"), "dots": ("dots", "dotted", "polka"),
                    "noise": ("noise", "noisy"), "gradient": ("gradient",)}
PREFIXES = ("a picture of ", "an image of ", "a drawing of ", "a photo of ")
BACKGROUND_LINKS = ("over", "on", "against", "in front of")
KEEP = {"color": 0.9, "size": 0.5, "position": 0.5, "background": 0.5}  # the shape is always named
HPOS_WORDS = {"left": 0, "right": 2}
VPOS_WORDS = {"top": 0, "bottom": 2}
CENTRE_WORDS = ("center", "centre", "middle")
OPPOSITE_SIDES = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
ATTRIBUTE_WORDS = {"shape": SHAPE_WORDS, "color": COLOR_WORDS, "size": SIZE_WORDS, "background": BACKGROUND_WORDS}
# word -> (attribute, value index), built from the tables above
_LEXICON = {word: (attribute, list(table).index(value))
            for attribute, table in ATTRIBUTE_WORDS.items() for value, words in table.items() for word in words}
assert list(SHAPE_WORDS) == list(SHAPES) and list(COLOR_WORDS) == list(COLORS) and list(SIZE_WORDS) == list(SIZES)
assert list(BACKGROUND_WORDS) == list(BACKGROUND_PHRASES) == list(BACKGROUNDS)


def with_article(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def place_phrase(hpos: int, vpos: int, rng: random.Random) -> str:
    """Where the shape is, always naming both axes' cells (nothing said about an axis means its middle)."""
    if hpos == 1 and vpos == 1:
        return rng.choice(("in the center", "in the middle", "in the centre"))
    if vpos == 1:
        return f"on the {HPOS[hpos]}"
    if hpos == 1:
        return f"at the {VPOS[vpos]}"
    return rng.choice((f"at the {VPOS[vpos]} {HPOS[hpos]}", f"in the {VPOS[vpos]} {HPOS[hpos]} corner"))


def describe(shape: int, color: int, size: int, hpos: int, vpos: int, background: int, rng: random.Random) -> str:
    """One varied caption of a scene with these attributes (indices into ATTRIBUTE_NAMES)."""
    keep = {name: rng.random() < p for name, p in KEEP.items()}
    noun = rng.choice(SHAPE_WORDS[SHAPES[shape]])
    colour = rng.choice(COLOR_WORDS[list(COLORS)[color]]) if keep["color"] else ""
    small_or_large = rng.choice(SIZE_WORDS[SIZES[size]]) if keep["size"] else ""
    place = place_phrase(hpos, vpos, rng) if keep["position"] else ""
    ground = rng.choice(BACKGROUND_PHRASES[BACKGROUNDS[background]]) if keep["background"] else ""
    adjectives = " ".join(word for word in (small_or_large, colour) if word)
    template = rng.randrange(5)
    if template == 1 and adjectives:  # "a star, small red, ..."
        phrase = f"{with_article(noun)}, {adjectives},"
    else:
        phrase = with_article(f"{adjectives} {noun}".strip())
    if template == 2 and rng.random() < 0.5:  # the bare noun phrase: "red star"
        phrase = phrase.split(" ", 1)[1]
    link = rng.choice(BACKGROUND_LINKS)
    if template == 3 and place:  # "on the left, a small red star over stripes"
        text = f"{place}, {phrase}" + (f" {link} {ground}" if ground else "")
    elif template == 4 and ground:  # "stripes behind a small red star on the left"
        text = f"{ground} behind {phrase}" + (f" {place}" if place else "")
    else:
        text = " ".join(part for part in (phrase, place, f"{link} {ground}" if ground else "") if part)
    if text.startswith(("a ", "an ")) and rng.random() < 0.2:
        text = rng.choice(PREFIXES) + text
    return text.rstrip(",")


def describe_all(attributes: dict, seed: int) -> list[str]:
    """A varied caption per image of ``attributes`` (name -> int64 (N,)), determined by ``seed``."""
    rng = random.Random(seed)
    columns = zip(*(attributes[name].tolist() for name in ("shape", "color", "size", "hpos", "vpos", "background")))
    return [describe(*row, rng) for row in columns]


def read_caption(text: str) -> dict[str, int]:
    """The attributes ``text`` states, as indices into ATTRIBUTE_NAMES (a position names both hpos and vpos)."""
    words = re.findall(r"[a-z]+", text.lower())
    stated = {}
    for word in words:
        if word in _LEXICON:
            attribute, value = _LEXICON[word]
            stated.setdefault(attribute, value)
    if any(w in HPOS_WORDS or w in VPOS_WORDS or w in CENTRE_WORDS for w in words):
        stated["hpos"] = next((HPOS_WORDS[w] for w in words if w in HPOS_WORDS), 1)
        stated["vpos"] = next((VPOS_WORDS[w] for w in words if w in VPOS_WORDS), 1)
    return stated


def fix_articles(text: str) -> str:
    """"a" before a consonant, "an" before a vowel."""
    return re.sub(r"\b(a|an) ([a-z])", lambda m: ("an " if m.group(2) in "aeiou" else "a ") + m.group(2), text)


def swap_attribute(text: str, rng: random.Random) -> str | None:
    """``text`` with one attribute word (its shape, colour, size, or a side: left/right, top/bottom) replaced by a
    word of another value of the same attribute: the hard negative that differs in exactly one attribute ("a blue
    star" for "a red star"). None when it names none of them."""
    tokens = re.split(r"([a-z]+)", text)
    slots = [i for i, token in enumerate(tokens)
             if token in OPPOSITE_SIDES or (token in _LEXICON and _LEXICON[token][0] != "background")]
    if not slots:
        return None
    i = rng.choice(slots)
    if tokens[i] in OPPOSITE_SIDES:
        tokens[i] = OPPOSITE_SIDES[tokens[i]]
    else:
        attribute, value = _LEXICON[tokens[i]]
        table = list(ATTRIBUTE_WORDS[attribute].values())
        tokens[i] = rng.choice([words[0] for k, words in enumerate(table) if k != value])
    return fix_articles("".join(tokens))
