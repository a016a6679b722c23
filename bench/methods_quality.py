"""Every contrastive / self-distillation method under the same time budget: kNN top-1 and linear probe after
``--minutes`` of training (default 10) on shapes and fashion-mnist, beside the raw-pixel and random-init
baselines, with training throughput in pairs/s (images per second, each giving one pair of views) and the
collapse monitor's last reading, for a pretext task its own accuracy on its last training batches, and for a
pseudo-label method (DeepCluster, SeLa) the NMI of its last labels to the classes and to the labels before them,
and the seconds it spent clustering. Each method
runs with its own augment and train defaults; ``--grid weight_decay=1e-4,0.05`` runs each method once per value of
a run setting (an A/B in one command), the value in the row's name.

    .venv/bin/python bench/methods_quality.py [--minutes 10 | --steps N | --cpu-minutes M]
        [--rates FILE] [--datasets shapes fashion-mnist] [--methods ...] [--grid KEY=V1,V2 ...]
        [--out /tmp/methods_quality.txt]

A full 10-minute run takes ~2.5 hours of CPU. ``--minutes`` is wall-clock, so the machine's load (printed per row)
matters. ``--cpu-minutes M`` first times every method for a few steps (keep the machine quiet for those ~3
minutes), then gives each the step budget it makes in M quiet minutes: the results no longer depend on what else
runs while they train.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine import events  # noqa: E402
from engine.run import RunConfig, Session  # noqa: E402

METHODS = ["simclr", "moco", "byol", "simsiam", "barlow_twins", "swav", "dino", "rotnet"]


def one_run(dataset: str, method: str, budget: dict, out: Path, settings: dict | None = None) -> dict:
    result: dict = {"warnings": []}

    def on_event(event):
        if isinstance(event, events.Eval):
            if event.final:
                result.update(scores=event.scores, baselines=event.baselines)
            else:
                result["health"] = {k: v for k, v in event.scores.items() if k != "knn"}
        elif isinstance(event, events.Step):
            result.setdefault("rates", []).append(event.images_per_s)
            result["steps"] = event.step
            if "pretext_acc" in event.logs:  # the last quarter-second's batches: averaged over the run's end below
                result.setdefault("pretext", []).append(event.logs["pretext_acc"])
            if "cluster_s" in event.logs:  # a pseudo-label method relabelled its training split
                result["cluster_s"] = result.get("cluster_s", 0.0) + event.logs["cluster_s"]
                result.update({k: event.logs[k] for k in ("nmi_labels", "nmi_previous") if k in event.logs})
        elif isinstance(event, (events.Warning, events.Error)):
            result["warnings"].append(event.message)

    config = RunConfig.with_method_defaults({"dataset": dataset, "method": method, **budget,
                                             "eval_every_s": 60.0, "checkpoint_every_s": 0.0, "preview_every_s": 0.0,
                                             **(settings or {})})
    load_before = os.getloadavg()[0]
    Session(config, out, on_event).run()
    rates = sorted(result.get("rates", [0.0]))
    result["pairs_per_s"] = rates[len(rates) // 2]  # median over the Step events
    result["load"] = (load_before, os.getloadavg()[0])
    tail = result.get("pretext", [])[-20:]
    result["pretext_acc"] = sum(tail) / len(tail) if tail else float("nan")
    return result


def clustering(result: dict) -> str:
    """The NMI columns (to the classes, to the previous labels) and clustering seconds of a pseudo-label method."""
    if "cluster_s" not in result:
        return f"{'-':>8}{'-':>8}{'-':>8}"
    nmi = [f"{result[k]:>8.3f}" if k in result else f"{'-':>8}" for k in ("nmi_labels", "nmi_previous")]
    return f"{nmi[0]}{nmi[1]}{result['cluster_s']:>8.0f}"


def quiet_rate(dataset: str, method: str, out: Path, steps: int = 24) -> float:
    """Training images per second of ``method`` on ``dataset``: median over the last half of ``steps`` steps."""
    rates: list[float] = []
    config = RunConfig.with_method_defaults({"dataset": dataset, "method": method, "steps": steps, "minutes": 0.0,
                                             "eval_every_s": 0.0, "checkpoint_every_s": 0.0, "preview_every_s": 0.0,
                                             "final_eval": False})
    Session(config, out, lambda e: rates.append(e.images_per_s) if isinstance(e, events.Step) else None).run()
    tail = sorted(rates[len(rates) // 2:])
    return tail[len(tail) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--steps", type=int, default=0, help="a step budget instead (load cannot change it)")
    parser.add_argument("--cpu-minutes", type=float, default=0.0,
                        help="step budgets worth this many quiet minutes per method (timed first)")
    parser.add_argument("--rates", help="JSON file of quiet rates: read if it exists (no timing), else written")
    parser.add_argument("--datasets", nargs="+", default=["shapes", "fashion-mnist"])
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--grid", metavar="KEY=V1,V2",
                        help="run each method once per value of this run setting (values as JSON, e.g. 1e-4)")
    parser.add_argument("--out", default="/tmp/methods_quality.txt")
    args = parser.parse_args()
    key, _, values = (args.grid or "").partition("=")
    variants = [{key: json.loads(v)} for v in values.split(",")] if args.grid else [{}]
    runs = Path(tempfile.mkdtemp(prefix="pretext-methods-"))
    header = (f"{'dataset':<14}{'method':<14}{'steps':>7}{'pairs/s':>9}{'kNN':>8}{'probe':>8}{'raw kNN':>9}"
              f"{'rand kNN':>9}{'raw prb':>9}{'rand prb':>9}{'pretext':>9}  {'std':>7}{'rank':>7}"
              f"{'NMI cls':>8}{'NMI prv':>8}{'clust s':>8}  load(before/after)")
    with open(args.out, "a", encoding="utf-8") as table:
        def emit(line: str) -> None:
            print(line, flush=True)
            table.write(line + "\n")
            table.flush()

        budgets = {(d, m): {"steps": args.steps, "minutes": 0.0} if args.steps else {"minutes": args.minutes}
                   for d in args.datasets for m in args.methods}
        what = f"{args.steps} steps" if args.steps else f"{args.minutes:g} minutes"
        if args.cpu_minutes:
            what = f"the steps each method makes in {args.cpu_minutes:g} quiet minutes"
            rates = json.loads(Path(args.rates).read_text()) if args.rates and Path(args.rates).exists() else {}
            for key in budgets:
                rate = rates.get("-".join(key)) or quiet_rate(*key, runs / "timing" / "-".join(key))
                rates["-".join(key)] = rate
                if args.rates:
                    Path(args.rates).write_text(json.dumps(rates, indent=1))
                budgets[key] = {"steps": round(args.cpu_minutes * 60 * rate / 256), "minutes": 0.0, "rate": rate}
                emit(f"# quiet rate {key[0]} {key[1]}: {rate:.0f} images/s -> {budgets[key]['steps']} steps")
        emit(f"# {what} per run; run folders in {runs}")
        emit(header)
        for dataset, method, settings in ((d, m, v) for d in args.datasets for m in args.methods for v in variants):
            name = method + "".join(f" {k}={v}" for k, v in settings.items())
            budget = dict(budgets[dataset, method])
            quiet = budget.pop("rate", None)
            r = one_run(dataset, method, budget, runs / f"{dataset}-{name.replace(' ', '-')}", settings)
            if quiet is not None:
                r["pairs_per_s"] = quiet
            if "scores" not in r:
                emit(f"{dataset:<14}{name:<14} failed: {r['warnings'][-1:]}")
                continue
            s, b, h = r["scores"], r["baselines"], r.get("health", {})
            emit(f"{dataset:<14}{name:<14}{r['steps']:>7}{r['pairs_per_s']:>9.0f}{s['knn']:>8.1%}{s['probe']:>8.1%}"
                 f"{b['raw']['knn']:>9.1%}{b['random']['knn']:>9.1%}{b['raw']['probe']:>9.1%}"
                 f"{b['random']['probe']:>9.1%}{r['pretext_acc']:>9.1%}  "
                 f"{h.get('std', float('nan')):>7.4f}{h.get('rank', float('nan')):>7.1f}"
                 f"{clustering(r)}  {r['load'][0]:.1f}/{r['load'][1]:.1f}")
            for w in r["warnings"][:3]:
                emit(f"    warning: {w}")


if __name__ == "__main__":
    main()
