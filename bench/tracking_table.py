"""Tracking emerges from video colorization (Vondrick et al. 2018): train ``video_colorization`` on ``shapes_video``
for a time or step budget, then propagate every held-out clip's first-frame masks and keypoints and print mean J
and the keypoint error beside the three baselines (the first frame copied, a random network, raw pixel colours),
with the training's steps/s and the machine's load. ``--strip`` also writes the frame strip of ``main.py track``.

    .venv/bin/python bench/tracking_table.py [--minutes 10] [--steps 0] [--train-clips 256] [--test-clips 32]
        [--seed 0] [--set method.NAME=VALUE ...] [--strip /tmp/strip.png] [--out /tmp/tracking.txt]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.cli import main as cli_main  # noqa: E402
from engine.cli import parse_settings  # noqa: E402
from engine.run import RunConfig, make_session  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=0, help="a step budget instead of --minutes")
    parser.add_argument("--train-clips", type=int, default=256)
    parser.add_argument("--test-clips", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--strip", type=Path, help="also write the frame strip here")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()

    settings = parse_settings(args.set)
    dataset = {"train_clips": args.train_clips, "test_clips": args.test_clips, **settings["dataset_options"]}
    config = RunConfig.with_method_defaults({
        "method": "video_colorization", "dataset": "shapes_video", "dataset_options": dataset,
        "method_options": settings["method_options"], "steps": args.steps,
        "minutes": 0.0 if args.steps else args.minutes, "seed": args.seed, "eval_every_s": 0.0,
        "preview_every_s": 0.0, "checkpoint_every_s": 0.0, "final_eval": True, "device": "cpu"})
    seen: list = []
    with tempfile.TemporaryDirectory() as tmp:
        session = make_session(config, Path(tmp) / "run", seen.append)
        started = time.perf_counter()
        finished = session.run()
        if finished.reason != "completed":
            raise SystemExit(f"training {finished.reason}: {[e.message for e in seen if isinstance(e, events.Error)]}")
        wall = time.perf_counter() - started
        final = next(e for e in seen if isinstance(e, events.Eval) and e.final)
        if args.strip:
            cli_main(["track", str(session.run_dir), "--out", str(args.strip), "--clips", "0"])
    load = os.getloadavg()
    budget = f"{args.steps} steps" if args.steps else f"{args.minutes:g} minutes"
    lines = [f"video_colorization on shapes_video ({args.train_clips} training clips, {args.test_clips} held out, "
             f"seed {args.seed}), {budget}: {finished.step} steps in {session.elapsed:.0f} s of training "
             f"({finished.step / max(session.elapsed, 1e-9):.2f} steps/s, {wall:.0f} s wall), load "
             f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
             f"command: {' '.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}",
             "", "| features | mean J | keypoint error (px) |", "| --- | ---: | ---: |"]
    rows = [("video colorization", final.scores), ("first frame copied", final.baselines["copy"]),
            ("random network", final.baselines["random"]), ("raw pixel colours", final.baselines["raw"]),
            ("raw lightness (the network's input)", final.baselines["gray"])]
    lines += [f"| {name} | {s['J']:.3f} | {s['keypoint_px']:.2f} |" for name, s in rows]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
