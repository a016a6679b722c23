"""kNN and linear probe of trained runs read at each backbone stage (``eval_layer`` 0, -1, -2), beside a random
network read at the same stage: which layer a pretext task's features transfer from.

    .venv/bin/python bench/eval_layers.py RUN_DIR [RUN_DIR ...] [--layers 0 -1 -2]

Full splits (kNN k=20 cosine, L-BFGS probe), as the runs' final evaluation; nothing is trained.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.eval.layers import at_layer  # noqa: E402
from engine.eval.protocol import EvalSplit  # noqa: E402
from engine.nets import untrained_backbone  # noqa: E402
from engine.run import load_run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--layers", nargs="+", type=int, default=[0, -1, -2])
    args = parser.parse_args()
    print(f"{'run':<36}{'layer':>6}{'kNN':>8}{'probe':>8}{'rand kNN':>9}{'rand prb':>9}  load", flush=True)
    for run_dir in args.runs:
        run = load_run(run_dir, device="cpu")
        split = EvalSplit.from_dataset(run.dataset)
        random = untrained_backbone(run.config.backbone, run.dataset.channels, run.augment.image_size,
                                    run.config.seed + 1)
        for layer in args.layers:
            try:
                trained = split.evaluate(at_layer(run.method.encoder, layer), run.augment.prepare, run.device)
                untrained = split.evaluate(at_layer(random, layer), run.augment.prepare, run.device)
            except ValueError as e:
                print(f"{run_dir.name:<36}{layer:>6}  {e}")
                continue
            print(f"{run_dir.name:<36}{layer:>6}{trained['knn']:>8.1%}{trained['probe']:>8.1%}"
                  f"{untrained['knn']:>9.1%}{untrained['probe']:>9.1%}  {os.getloadavg()[0]:.1f}", flush=True)


if __name__ == "__main__":
    main()
