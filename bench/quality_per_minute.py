"""Quality per minute: kNN top-1 after 3 and after 10 minutes of SimCLR (separate runs, each with its own
schedule), beside the raw-pixel and random-init baselines, on fashion-mnist and shapes.

    .venv/bin/python bench/quality_per_minute.py [--minutes 3 10] [--datasets fashion-mnist shapes] [--method simclr]

Run it on a quiet machine: the budget is wall-clock training time, so a loaded CPU means fewer steps.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.config import from_dict  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402


def one_run(dataset: str, method: str, minutes: float, out: Path, extra: dict) -> dict:
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

    config = from_dict(RunConfig, {"dataset": dataset, "method": method, "minutes": minutes, "eval_every_s": 60.0,
                                   **extra})
    Session(config, out, on_event).run()
    return {**final, "curve": curve}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, nargs="+", default=[3.0, 10.0])
    parser.add_argument("--datasets", nargs="+", default=["fashion-mnist", "shapes"])
    parser.add_argument("--method", default="simclr")
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="pretext-quality-"))
    rows = []
    for dataset in args.datasets:
        for minutes in args.minutes:
            r = one_run(dataset, args.method, minutes, out / f"{dataset}-{minutes:g}", {})
            rows.append((dataset, minutes, r))
            s, b = r["scores"], r["baselines"]
            print(f"{dataset:<14} {minutes:4g} min  {r['steps']:6d} steps  {r['images_per_s']:6.0f} img/s  "
                  f"kNN {s['knn']:.1%} (raw {b['raw']['knn']:.1%}, random {b['random']['knn']:.1%})  "
                  f"probe {s['probe']:.1%} (raw {b['raw']['probe']:.1%}, random {b['random']['probe']:.1%})", flush=True)
            print("    online kNN curve (step, acc on the eval subset): "
                  + ", ".join(f"{step}:{acc:.1%}" for step, acc in r["curve"]), flush=True)


if __name__ == "__main__":
    main()
