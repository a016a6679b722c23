"""Dense descriptors (Dense Object Nets) on shapes under one budget: the share of held-out correspondences whose best
match lies within 2 px of the truth, for the trained network, the same network untrained and raw pixels (each
pixel's colour as its descriptor), on every test image's warped pair (points on the main shape).

    .venv/bin/python bench/descriptor_table.py [--minutes 10 | --steps N] [--train-size 10000 --test-size 2000
        --image-size 32] [--set GROUP.NAME=VALUE ...] [--out /tmp/descriptor_table.md]

``--set`` changes a setting as the CLI's does (``--set method.descriptor_dim=3``); ``--every S`` also prints the online
evaluation (256 test pairs) every S seconds of training.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.cli import parse_settings  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402

ROWS = [("match_2px", "trained network"), ("match_2px_random", "random network (as initialised)"),
        ("match_2px_raw", "raw pixels")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=0, help="a step budget instead of minutes")
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=0, help="images per step (0: the method's default)")
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--every", type=float, default=0.0, help="seconds between online evaluations (0: none)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/descriptor_table.md"))
    args = parser.parse_args()
    settings = parse_settings(args.set)
    final: dict = {}
    started = time.perf_counter()

    def on_event(event) -> None:
        if isinstance(event, events.Eval):
            if event.final:
                final.update(event.scores)
            else:
                print(f"  step {event.step}: " + ", ".join(f"{key} {100 * event.scores[key]:.1f} %"
                                                          for key, _ in ROWS), file=sys.stderr, flush=True)
        elif isinstance(event, events.Finished):
            final["_steps"] = event.step
        elif isinstance(event, events.Error):
            print(f"error: {event.message}", file=sys.stderr)

    config = RunConfig.with_method_defaults({
        "dataset": "shapes", "method": "dense_descriptors", "method_options": settings["method_options"],
        "device": "cpu", "augment": settings["augment"],
        "dataset_options": {"train_size": args.train_size, "test_size": args.test_size, "image_size": args.image_size,
                            **settings["dataset_options"]},
        "steps": args.steps, "minutes": 0.0 if args.steps else args.minutes, "eval_every_s": args.every,
        "eval_queries": 256, "preview_every_s": 0.0, "checkpoint_every_s": 0.0,
        **({"batch_size": args.batch_size} if args.batch_size else {})})
    with tempfile.TemporaryDirectory(prefix="descriptor-table-") as folder:
        Session(config, Path(folder) / "run", on_event).run()
    steps = final.pop("_steps", 0)
    spent = f"{args.steps} steps" if args.steps else f"{args.minutes:g} min"
    lines = [f"Dense descriptors on shapes ({args.train_size} train / {args.test_size} test images, {args.image_size} "
             f"px; budget {spent}: {steps} steps of batch {config.batch_size}, {time.perf_counter() - started:.0f} s "
             f"in all; settings {' '.join(args.set) or 'default'})", "",
             "| descriptors | best match within 2 px |", "|---|---|"]
    lines += [f"| {label} | {100 * final[key]:.1f} % |" for key, label in ROWS if key in final]
    text = "\n".join(lines)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
