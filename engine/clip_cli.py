"""``main.py zero-shot MODEL --image FILE ... --prompts "a red star" "a blue ring" ...``: each image's probability
for each prompt, from a CLIP run folder of this app or a Hugging Face CLIP folder the user downloaded."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from engine.errors import CheckpointError, DatasetUnavailable

BAR = 24  # characters of a 100 % bar


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


def gather_prompts(args: argparse.Namespace) -> list[str]:
    from engine.eval.zero_shot import check_prompts, class_prompts, read_prompts_file

    prompts = list(args.prompts)
    if args.prompts_file:
        prompts += read_prompts_file(Path(args.prompts_file))
    prompts = check_prompts(prompts)
    return class_prompts(prompts, args.template) if args.template else prompts


def zero_shot(args: argparse.Namespace) -> int:
    from engine.data.images import ImageRejected, decode_image
    from engine.eval.pretrained_clip import load_zero_shot_model
    from engine.eval.zero_shot import probabilities

    try:
        prompts = gather_prompts(args)
        model = load_zero_shot_model(Path(args.model))
        images, names = [], []
        for file in args.image:
            try:
                images.append(decode_image(Path(file), model.image_size, model.channels))
                names.append(file)
            except ImageRejected as e:
                print(f"skipped {file}: {e.reason}", file=sys.stderr)
        if not images:
            raise ValueError("none of the images could be read")
    except (ValueError, CheckpointError, DatasetUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    probs = probabilities(model, model.embed_images(torch.stack(images)), model.embed_texts(prompts))
    width = min(max(len(p) for p in prompts), 60)
    for name, row in zip(names, probs):
        print(name)
        values, order = row.sort(descending=True)
        for value, k in zip(values[: args.top].tolist(), order[: args.top].tolist()):
            print(f"  {prompts[k][:width]:<{width}}  {value:6.1%}  {'#' * round(BAR * value)}")
    return 0
