"""Train the demo runs a lecturer opens from File > Open Demo Run: the project's own Session on each recipe below,
for a longer budget than a lecture can wait for, on the fastest device present (a GPU when there is one).

    .venv/bin/python bench/demo_runs.py [--minutes-scale 1.0] [--only simclr-shapes ...] [--device auto] [--force]

Each run goes to ``engine.demo.demo_root()/<name>`` (``PRETEXT_DEMO_RUNS``, else ``demo`` in the runs folder) with a
``demo.json`` naming how it was made. A recipe whose folder already holds a finished demo is skipped (``--force``
trains it again); one whose data is not on this machine is skipped with that sentence.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass(frozen=True)
class Recipe:
    name: str
    title: str
    minutes: float
    settings: dict = field(default_factory=dict)


RECIPES = (
    Recipe("simclr-shapes", "SimCLR on shapes: the class clusters", 30, {"method": "simclr", "dataset": "shapes"}),
    Recipe("dino-shapes-vit", "DINO on shapes, ViT: attention on the object", 30,
           {"method": "dino", "dataset": "shapes", "backbone": "vit-tiny"}),
    Recipe("mae-shapes", "MAE on shapes: masked patches filled in", 30, {"method": "mae", "dataset": "shapes"}),
    Recipe("simclr-fashion-mnist", "SimCLR on Fashion-MNIST", 20, {"method": "simclr", "dataset": "fashion-mnist"}),
)


def train(recipe: Recipe, root: Path, minutes: float, device: str) -> str:
    """Train ``recipe`` into ``root/<name>``; returns a line saying what was made."""
    import torch

    from engine.demo import write_demo_json
    from engine.errors import describe
    from engine.run import RunConfig, make_session

    run_dir = root / recipe.name
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        config = RunConfig.with_method_defaults({**recipe.settings, "device": device, "minutes": minutes,
                                                 "steps": 0})
        session = make_session(config, run_dir)
        finished = session.run()
    except (ValueError, OSError) as e:
        shutil.rmtree(run_dir, ignore_errors=True)
        return f"{recipe.name}: skipped ({describe(e)})"
    if finished.reason != "completed":
        return f"{recipe.name}: {finished.reason} at step {finished.step}, no demo written"
    made = (f"{finished.step:,} steps in {minutes:g} min on {session.device.type}, {time.strftime('%Y-%m-%d')}, "
            f"bench/demo_runs.py with torch {torch.__version__}")
    write_demo_json(run_dir, recipe.title, made)
    scores = ", ".join(f"{name} {100 * value:.1f} %" for name, value in finished.scores.items())
    return f"{recipe.name}: {made}; final {scores or 'evaluation: none'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes-scale", type=float, default=1.0, help="each recipe's budget times this")
    parser.add_argument("--only", nargs="+", choices=[r.name for r in RECIPES], help="these recipes only")
    parser.add_argument("--device", default="auto", help="auto (the fastest present), cpu, cuda or mps")
    parser.add_argument("--force", action="store_true", help="train again a demo that is already there")
    parser.add_argument("--root", type=Path, help="where the demo runs go (default: engine.demo.demo_root())")
    args = parser.parse_args()

    from engine.demo import demo_root, demo_runs

    root = args.root or demo_root()
    done = {demo.path.name for demo in demo_runs(root)}
    for recipe in RECIPES:
        if args.only and recipe.name not in args.only:
            continue
        if recipe.name in done and not args.force:
            print(f"{recipe.name}: already there ({root / recipe.name}); --force trains it again", flush=True)
            continue
        print(train(recipe, root, recipe.minutes * args.minutes_scale, args.device), flush=True)


if __name__ == "__main__":
    main()
