"""``main.py zero-shot MODEL --image FILE ... --prompts "a red star" "a blue ring" ...``: each image's probability
for each prompt; ``main.py search MODEL --images FILE_OR_FOLDER ... --text "a dog"``: the images that match a text
best. MODEL is a CLIP run folder of this app or a Hugging Face CLIP folder the user downloaded."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.errors import CheckpointError, DatasetUnavailable

BAR = 24  # characters of a 100 % bar
EXPECTED = (ValueError, CheckpointError, DatasetUnavailable)  # one sentence each, exit status 2


def add_zero_shot_parser(sub: argparse._SubParsersAction) -> None:
    z = sub.add_parser("zero-shot", help="zero-shot classification of image files with text prompts (a CLIP run "
                       "folder, or a Hugging Face CLIP folder)")
    z.add_argument("model", metavar="RUN_DIR", help="a clip run folder, or a Hugging Face CLIP model folder")
    z.add_argument("--image", nargs="+", action="extend", default=[], metavar="FILE", required=True,
                   help="image files to classify")
    z.add_argument("--prompts", nargs="+", action="extend", default=[], metavar="TEXT",
                   help="the prompts (or class names with --template)")
    z.add_argument("--prompts-file", metavar="FILE", help="a UTF-8 text file with one prompt per line")
    z.add_argument("--template", metavar="TEXT", help="turn each prompt into this sentence, e.g. 'a drawing of a {}.'")
    z.add_argument("--top", type=int, default=10, help="most prompts listed per image (default 10)")
    z.set_defaults(func=zero_shot)
    s = sub.add_parser("search", help="text-to-image search over image files or folders (a CLIP run folder, or a "
                       "Hugging Face CLIP folder)")
    s.add_argument("model", metavar="RUN_DIR", help="a clip run folder, or a Hugging Face CLIP model folder")
    s.add_argument("--images", nargs="+", action="extend", default=[], metavar="PATH", required=True,
                   help="image files or folders (searched recursively)")
    s.add_argument("--text", nargs="+", action="extend", default=[], required=True, help="what to look for")
    s.add_argument("--top", type=int, default=5, help="images listed per text (default 5)")
    s.set_defaults(func=search)


def gather_prompts(args: argparse.Namespace) -> list[str]:
    from engine.eval.zero_shot import check_prompts, class_prompts, read_prompts_file

    prompts = list(args.prompts)
    if args.prompts_file:
        prompts += read_prompts_file(Path(args.prompts_file))
    prompts = check_prompts(prompts)
    return class_prompts(prompts, args.template) if args.template else prompts


def read_images(files: list, model) -> tuple[torch.Tensor, list[str]]:
    """The files that decode, at the model's size and channels, and their names; the others are reported."""
    from engine.data.images import ImageRejected, decode_image

    images, names = [], []
    for file in files:
        try:
            images.append(decode_image(Path(file), model.image_size, model.channels))
            names.append(str(file))
        except ImageRejected as e:
            print(f"skipped {file}: {e.reason}", file=sys.stderr)
    if not images:
        raise ValueError("none of the images could be read")
    return torch.stack(images), names


def zero_shot(args: argparse.Namespace) -> int:
    from engine.eval.pretrained_clip import load_zero_shot_model
    from engine.eval.zero_shot import probabilities

    try:
        prompts = gather_prompts(args)
        model = load_zero_shot_model(Path(args.model))
        images, names = read_images(args.image, model)
    except EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    probs = probabilities(model, model.embed_images(images), model.embed_texts(prompts))
    width = min(max(len(p) for p in prompts), 60)
    for name, row in zip(names, probs):
        print(name)
        values, order = row.sort(descending=True)
        for value, k in zip(values[: args.top].tolist(), order[: args.top].tolist()):
            print(f"  {prompts[k][:width]:<{width}}  {value:6.1%}  {'#' * round(BAR * value)}")
    return 0


def search(args: argparse.Namespace) -> int:
    from engine.eval.pretrained_clip import load_zero_shot_model
    from engine.eval.zero_shot import check_prompts
    from engine.explore.query import image_sources

    try:
        texts = check_prompts(args.text)
        model = load_zero_shot_model(Path(args.model))
        images, names = read_images(image_sources(args.images), model)
    except EXPECTED as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    similarity = model.embed_texts(texts) @ model.embed_images(images).T
    for text, row in zip(texts, similarity):
        print(text)
        values, order = row.topk(min(args.top, len(names)))
        for value, k in zip(values.tolist(), order.tolist()):
            print(f"  {value:+.3f}  {names[k]}")
    return 0
