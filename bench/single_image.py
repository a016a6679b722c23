"""What a single image teaches (Asano, Rupprecht & Vedaldi 2020): one method for the same step budget on (1) random
crops of one shapes training image (the ``single_image`` source) and (2) the whole shapes training split, both
evaluated on shapes' test split (kNN and linear probe on the full splits), beside the random network and raw pixels.

    .venv/bin/python bench/single_image.py [--method simclr] [--steps 500] [--index 0] [--crops 10000]
        [--train-size 10000] [--test-size 2000] [--image-size 32] [--out /tmp/single_image.txt]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402


def final_scores(config: RunConfig, out: Path) -> events.Eval:
    """Train ``config`` to the end of its budget; its final evaluation (full splits)."""
    seen: list = []
    finished = Session(config, out, seen.append).run()
    errors = [e.message for e in seen if isinstance(e, events.Error)]
    if finished.reason != "completed":
        raise SystemExit(f"{config.dataset}: {finished.reason} {errors}")
    return next(e for e in seen if isinstance(e, events.Eval) and e.final)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--steps", type=int, default=500)
    parser.add_argument("--index", type=int, default=0, help="the shapes training image trained on")
    parser.add_argument("--crops", type=int, default=10000)
    parser.add_argument("--train-size", type=int, default=10000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()

    shapes = {"train_size": args.train_size, "test_size": args.test_size, "image_size": args.image_size}
    single = {"source_dataset": "shapes", "source_options": ", ".join(f"{k}={v}" for k, v in shapes.items()),
              "index": args.index, "crops": args.crops, "seed": args.seed}
    common = {"method": args.method, "steps": args.steps, "minutes": 0.0, "seed": args.seed, "eval_every_s": 0.0,
              "checkpoint_every_s": 0.0, "preview_every_s": 0.0, "final_eval": True}
    runs = {f"single image (#{args.index}, {args.crops} crops)": ("single_image", single),
            "all shapes": ("shapes", shapes)}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dataset, options) in runs.items():
            config = RunConfig.with_method_defaults({**common, "dataset": dataset, "dataset_options": options})
            results[name] = final_scores(config, Path(tmp) / dataset)
    baselines = next(iter(results.values())).baselines  # the same test split and random network for both runs
    rows = [(name, e.scores) for name, e in results.items()]
    rows += [("random network", baselines["random"]), ("raw pixels", baselines["raw"])]
    lines = [f"{args.method}, {args.steps} steps, shapes {args.image_size} px ({args.train_size} / {args.test_size})",
             f"{'trained on':<36} {'kNN':>7} {'probe':>7}"]
    lines += [f"{name:<36} {scores['knn']:>7.1%} {scores['probe']:>7.1%}" for name, scores in rows]
    print("\n".join(lines))
    if args.out:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
