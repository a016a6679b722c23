"""Quality per minute: kNN top-1 after 3 and after 10 minutes of SimCLR (separate runs, each with its own
schedule), beside the raw-pixel and random-init baselines, on fashion-mnist and shapes.

    .venv/bin/python bench/quality_per_minute.py [--minutes 3 10] [--datasets fashion-mnist shapes] [--method simclr]

Run it on a quiet machine: the budget is wall-clock training time, so a loaded CPU means fewer steps. On a shared
machine, give step budgets instead (``--steps``: what a quiet machine does in those minutes), which load cannot
change, and ``--set key=value`` to try a setting (e.g. ``--set crop_size=20``).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.config import from_dict  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402


def one_run(dataset: str, method: str, budget: dict, out: Path, extra: dict) -> dict:
    curve, final = [], {}

    def on_event(event):
        if isinstance(event, events.Eval):
            if event.final:
                final.update(scores=event.scores, baselines=event.baselines)
            else:
                curve.append((event.step, event.scores["knn"]))
        elif isinstance(event, events.Step):
            final["images_per_s"] = event.images_per_s
            final["steps"] = event.step

    config = from_dict(RunConfig, {"dataset": dataset, "method": method, **budget, "eval_every_s": 60.0, **extra})
    Session(config, out, on_event).run()
    return {**final, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0])
    parser.add_argument("--datasets", nargs="+", default=["fashion-mnist", "shapes"])
    parser.add_argument("--steps", type=int, nargs="+", help="step budgets instead of minutes")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="RunConfig settings (JSON values)")
    args = parser.parse_args()
    extra = {k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)}
    budgets = ([{"steps": n, "minutes": 0.0} for n in args.steps] if args.steps
               else [{"minutes": m} for m in args.minutes])
    out = Path(tempfile.mkdtemp(prefix="pretext-quality-"))
    for dataset in args.datasets:
        for budget in budgets:
            label = f"{budget['steps']} steps" if "steps" in budget else f"{budget['minutes']:g} min"
            r = one_run(dataset, args.method, budget, out / f"{dataset}-{label.replace(' ', '')}", extra)
            s, b = r["scores"], r["baselines"]
            print(f"{dataset:<14} {label:>10} {extra or ''}  {r['steps']:6d} steps  {r['images_per_s']:6.0f} img/s  "
                  f"kNN {s['knn']:.1%} (raw {b['raw']['knn']:.1%}, random {b['random']['knn']:.1%})  "
                  f"probe {s['probe']:.1%} (raw {b['raw']['probe']:.1%}, random {b['random']['probe']:.1%})",
                  flush=True)
            print("    online kNN curve (step, acc on the eval subset): "
                  + ", ".join(f"{step}:{acc:.1%}" for step, acc in r["curve"]), flush=True)


if __name__ == "__main__":
    main()
