"""CLIP on shapes under one budget each: zero-shot accuracy on the held-out colour-shape compositions (every red star
and every blue ring kept out of training) and on the shape labels, beside the linear probe and kNN of the same image
tower and beside chance; text-to-image recall@1/@5 with the test captions; the binding score (an image's own
composition against each one-attribute swap) with and without hard negatives. The text towers side by side: from
scratch, frozen MiniLM, and LiT (the encoder of a SimCLR run trained first on the same data, for the same budget,
locked).

    .venv/bin/python bench/clip_table.py [--minutes 10 | --steps N] [--runs scratch frozen-minilm lit hard-negatives]
        [--train-size 10000 --test-size 2000 --image-size 32] [--out /tmp/clip_table.md]

A full table at the default 10 minutes per run takes about 50 minutes of CPU (LiT's SimCLR run included).
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402

HELD_OUT = "red star, blue ring"
RUNS = {"scratch": {"towers": "scratch"}, "frozen-minilm": {"towers": "frozen-minilm"}, "lit": {"towers": "lit"},
        "hard-negatives": {"towers": "scratch", "hard_negatives": True}, "sigmoid": {"towers": "scratch",
                                                                                     "loss": "sigmoid"}}
COLUMNS = [("zero_shot_unseen", "zero-shot unseen"), ("zero_shot_unseen_chance", "chance"),
           ("zero_shot", "zero-shot shape"), ("zero_shot_chance", "chance"), ("probe", "linear probe"),
           ("knn", "kNN"), ("t2i_r1", "t2i R@1"), ("t2i_r5", "t2i R@5"), ("binding", "binding")]


def train(method: str, options: dict, data: dict, budget: dict, run_dir: Path) -> tuple[dict, int]:
    """The final scores and the steps trained of one run."""
    found: dict = {}

    def on_event(event) -> None:
        if isinstance(event, events.Eval) and event.final:
            found.update(event.scores)
        elif isinstance(event, events.Finished):
            found["_steps"] = event.step
        elif isinstance(event, events.Error):
            print(f"  {method}: {event.message}", file=sys.stderr)

    config = RunConfig.with_method_defaults({"dataset": "shapes", "dataset_options": data, "method": method,
                                             "method_options": options, **budget, "eval_every_s": 0.0,
                                             "preview_every_s": 0.0, "checkpoint_every_s": 0.0})
    Session(config, run_dir, on_event).run()
    return found, found.pop("_steps", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=0, help="a step budget instead of minutes")
    parser.add_argument("--runs", nargs="+", choices=list(RUNS), default=["scratch", "frozen-minilm", "lit",
                                                                           "hard-negatives"])
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--out", type=Path, default=Path("/tmp/clip_table.md"))
    args = parser.parse_args()
    budget = {"steps": args.steps, "minutes": 0.0 if args.steps else args.minutes, "batch_size": args.batch_size,
              "device": "cpu"}
    data = {"train_size": args.train_size, "test_size": args.test_size, "image_size": args.image_size,
            "held_out": HELD_OUT}
    rows = []
    with tempfile.TemporaryDirectory(prefix="clip-table-") as folder:
        for name in args.runs:
            options = dict(RUNS[name])
            label = name
            if name == "lit":
                print("lit: training the SimCLR encoder it locks", file=sys.stderr, flush=True)
                simclr, steps = train("simclr", {}, data, budget, Path(folder) / "simclr")
                options["lit_run"] = str(Path(folder) / "simclr")
                label = f"lit (SimCLR {steps} steps, its kNN {simclr.get('knn', float('nan')):.1%})"
            print(f"{name}: training", file=sys.stderr, flush=True)
            scores, steps = train("clip", options, data, budget, Path(folder) / name)
            rows.append((label, steps, scores))
    header = "| run | steps | " + " | ".join(text for _, text in COLUMNS) + " |"
    spent = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    lines = [f"CLIP on shapes ({args.train_size} train / {args.test_size} test images, {args.image_size} px, "
             f"held out: {HELD_OUT}; budget {spent} "
             f"per run, batch {args.batch_size}; binding chance 50 %)", "", header,
             "|" + "---|" * (len(COLUMNS) + 2)]
    for label, steps, scores in rows:
        cells = [f"{100 * scores[key]:.1f} %" if key in scores else "-" for key, _ in COLUMNS]
        lines.append(f"| {label} | {steps} | " + " | ".join(cells) + " |")
    text = "\n".join(lines)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
