"""Zero-shot evaluation of an image-text model (CLIP, Radford et al. 2021, section 3.1): class names become prompts
through templates ("a {}.", "a drawing of a {}.", ...), each class's text embedding is the normalised mean of its
prompts' (prompt ensembling, section 3.1.4), and an image takes the class of its most similar embedding.

Scores on a dataset's test split (fractions; ``*_chance`` keys give the accuracy of guessing):

- ``zero_shot``: the standard labels (the dataset's class names) as prompts;
- ``zero_shot_unseen``: on the shapes world, test images whose colour-shape composition never appears in the training
  split ("red star" when every red star was held out), classified among all colour-shape compositions, so a model
  is right only if it composes the colour and shape words it learnt apart; ``zero_shot_seen`` on the others;
- ``binding``: how often an image's own composition ("a red star") outscores each composition that differs in one
  attribute ("a blue star", "a red ring"): 0.5 for a model that ignores one of the two words;
- ``t2i_r1``, ``t2i_r5`` (final evaluations): text-to-image retrieval with the test captions as queries, a hit when
  one of the top 1 / 5 test images has every attribute the caption states (its own image, elsewhere).

A model is anything with ``embed_images(uint8 images)``, ``embed_texts(list of str)`` (L2-normalised rows) and a
``logit_scale``: a CLIP run's method, or a pretrained CLIP loaded from disk (engine.eval.pretrained_clip).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from engine.data.base import Dataset, ImageSet
from engine.data.shape_captions import fix_articles, read_caption

TEMPLATES = ("a {}.", "a picture of a {}.", "a drawing of a {}.", "an image of a {}.", "a photo of a {}.", "{}")
MAX_PROMPTS = 1000
MAX_PROMPT_CHARS = 300


def check_prompts(prompts: list[str]) -> list[str]:
    """The prompts stripped, blank ones dropped; ValueError in one sentence for an empty or too long list."""
    kept = [" ".join(p.split()) for p in prompts if p and p.strip()]
    if not kept:
        raise ValueError("no prompts: give at least one, e.g. 'a red star'")
    if len(kept) > MAX_PROMPTS:
        raise ValueError(f"{len(kept):,} prompts is more than the {MAX_PROMPTS:,} zero-shot compares at once: "
                         "keep the ones you mean to compare")
    if long := next((p for p in kept if len(p) > MAX_PROMPT_CHARS), None):
        raise ValueError(f"a prompt of {len(long)} characters is longer than {MAX_PROMPT_CHARS}: "
                         f"{long[:40]!r}... (one prompt per line)")
    return kept


def read_prompts_file(path: Path) -> list[str]:
    """One prompt per line of a UTF-8 text file; ValueError in one sentence for an unreadable or non-UTF-8 file."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read the prompts file {path}: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"the prompts file {path} is not UTF-8 text (byte {e.start}): save it as UTF-8") from None
    return check_prompts(text.splitlines())


def class_prompts(names: list[str], template: str) -> list[str]:
    """``template`` (with one "{}") filled with each class name, articles fixed ("an orange star")."""
    if template.count("{}") != 1:
        raise ValueError(f"the template {template!r} needs exactly one {{}} where the class name goes")
    return [fix_articles(template.format(name)) for name in names]


def readable_name(name: str) -> str:
    """A class name as words: "ankle_boot" -> "ankle boot"."""
    return " ".join(name.replace("_", " ").replace("-", " ").replace("/", " or ").split()).lower()


def class_embeddings(model: Any, names: list[str], templates: tuple[str, ...] = TEMPLATES) -> torch.Tensor:
    """float32 (K, E): per class, the L2-normalised mean of its prompts' normalised embeddings."""
    prompts = [p for template in templates for p in class_prompts(names, template)]
    embeddings = model.embed_texts(prompts).view(len(templates), len(names), -1).mean(0)
    return torch.nn.functional.normalize(embeddings, dim=1)


def probabilities(model: Any, image_embeddings: torch.Tensor, text_embeddings: torch.Tensor) -> torch.Tensor:
    """(N, T) softmax over the prompts of the scaled cosine similarities, as CLIP predicts."""
    return (float(model.logit_scale) * image_embeddings @ text_embeddings.T).softmax(dim=1)


def accuracy(image_embeddings: torch.Tensor, class_embeddings_: torch.Tensor, labels: torch.Tensor) -> float:
    if not len(labels):
        return float("nan")
    return ((image_embeddings @ class_embeddings_.T).argmax(1) == labels).float().mean().item()


def compositions(split: ImageSet) -> torch.Tensor:
    """int64 (N,): a key per colour-shape composition, for each image."""
    return split.attributes["shape"] * 1_000_000 + split.attributes["color"]


def unseen_compositions(dataset: Dataset) -> torch.Tensor:
    """bool (N_test,): test images whose colour-shape composition no training image has."""
    seen = set(compositions(dataset.train).tolist())
    return torch.tensor([c not in seen for c in compositions(dataset.test).tolist()], dtype=torch.bool)


def zero_shot_scores(model: Any, dataset: Dataset, limit: int = 0, final: bool = False) -> dict[str, float]:
    """The scores of the module docstring on (the first ``limit``, 0: all) test images of ``dataset``."""
    test = dataset.test if not limit or limit >= len(dataset.test) else dataset.test.subset(torch.arange(limit))
    images = model.embed_images(test.images)
    scores: dict[str, float] = {}
    if test.labels is not None and dataset.class_names:
        names = [readable_name(n) for n in dataset.class_names]
        scores["zero_shot"] = accuracy(images, class_embeddings(model, names), test.labels)
        scores["zero_shot_chance"] = 1 / len(names)
    attributes = dataset.attribute_names
    if {"shape", "color"} <= set(test.attributes) and {"shape", "color"} <= set(attributes):
        scores.update(composition_scores(model, dataset, test, images))
    if final and test.captions and all(test.captions):
        scores.update(text_to_image_recall(model, test, images))
    return scores


def composition_scores(model: Any, dataset: Dataset, test: ImageSet, images: torch.Tensor) -> dict[str, float]:
    """Zero-shot among all colour-shape compositions (unseen and seen ones) and the one-attribute binding score."""
    shapes, colours = dataset.attribute_names["shape"], dataset.attribute_names["color"]
    names = [f"{colour} {shape}" for shape in shapes for colour in colours]  # index shape * C + colour
    table = class_embeddings(model, names)
    truth = test.attributes["shape"] * len(colours) + test.attributes["color"]
    unseen = unseen_compositions(dataset)[: len(test)]
    scores = {"zero_shot_unseen": accuracy(images[unseen], table, truth[unseen]),
              "zero_shot_seen": accuracy(images[~unseen], table, truth[~unseen]),
              "zero_shot_unseen_chance": 1 / len(names)}
    if not unseen.any():
        del scores["zero_shot_unseen"]
    similarity = (images @ table.T).view(len(test), len(shapes), len(colours))
    rows = torch.arange(len(test))
    shape, colour = test.attributes["shape"], test.attributes["color"]
    own = similarity[rows, shape, colour]
    colour_swaps = similarity[rows, shape, :]  # (N, C): same shape, every colour
    shape_swaps = similarity[rows, :, colour]  # (N, S): same colour, every shape
    wins = (own[:, None] > colour_swaps).sum(1) + (own[:, None] > shape_swaps).sum(1)
    scores["binding"] = (wins.float() / (len(colours) - 1 + len(shapes) - 1)).mean().item()
    scores["binding_chance"] = 0.5
    return scores


def relevant_images(captions: list[str], split: ImageSet) -> torch.Tensor:
    """bool (Q, N): image j matches caption i when it has every attribute the caption states (shapes captions), or
    when it is the caption's own image or has the same caption (any other data)."""
    n = len(split)
    stated = [read_caption(text) for text in captions]
    if split.attributes and all(s and set(s) <= set(split.attributes) for s in stated):
        out = torch.ones(len(captions), n, dtype=torch.bool)
        for i, attributes in enumerate(stated):
            for name, value in attributes.items():
                out[i] &= split.attributes[name] == value
        return out
    ids: dict[str, int] = {}
    query_ids = torch.tensor([ids.setdefault(text, len(ids)) for text in captions])
    image_ids = torch.tensor([ids.get(text, -1) for text in split.captions])
    return (query_ids[:, None] == image_ids[None, :]) | torch.eye(len(captions), n, dtype=torch.bool)


def text_to_image_recall(model: Any, test: ImageSet, images: torch.Tensor, ks: tuple[int, ...] = (1, 5)
                         ) -> dict[str, float]:
    """Recall@k of retrieving, for each test caption, a matching test image among all of them."""
    texts = model.embed_texts(test.captions)
    relevant = relevant_images(test.captions, test)
    ranked = (texts @ images.T).topk(min(max(ks), len(images)), dim=1).indices  # all of them, when fewer
    hits = relevant.gather(1, ranked)
    return {f"t2i_r{k}": hits[:, :k].any(1).float().mean().item() for k in ks}
