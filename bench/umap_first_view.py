"""First UMAP view of 10 000 points in a fresh session: before (plain umap-learn in a fresh process) and after
(Pretext's UmapWorker: exact kNN graph among 50 principal components in torch, numba code cached on disk, PCA
start, 200 epochs on one core, warm-up in its own process at app start), each scenario in a fresh process.

Scenarios (time from the request to the coordinates):
  before, first ever    import umap, UMAP().fit_transform(x) with defaults; empty numba cache
  before, second time   the same, with the cache umap-learn's own ``cache=True`` functions left behind
  after, first ever     UmapWorker started with an empty cache and asked at once (pays the compile)
  after, cached         UmapWorker started in a later session (cache filled) and asked at once
  after, warmed up      UmapWorker started, asked once its warm-up is done (the user was setting up)
Layout quality: leave-one-out 10-NN label accuracy in the 2-D layout (higher: classes kept apart).

Data: Fashion-MNIST test images as 784-d pixels (Debian's ``dataset-fashion-mnist``), else the shapes world's.

    .venv/bin/python bench/umap_first_view.py [--points 10000] [--after-only]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# In this order: each family's first scenario starts with an empty numba cache, the later ones reuse it.
SCENARIOS = {"before, first ever": "before", "before, second time": "before", "after, first ever": "after",
             "after, cached": "after", "after, warmed up": "warm"}


def child(mode: str, data: Path, cache: Path) -> dict:
    """One scenario, in this fresh process. Heavy imports happen inside, after the clock starts."""
    import os

    import numpy as np

    x = np.load(data)
    if mode == "before":
        os.environ["NUMBA_CACHE_DIR"] = str(cache)
        start = time.perf_counter()
        import umap

        imported = time.perf_counter()
        xy = umap.UMAP().fit_transform(x)
        return {"seconds": time.perf_counter() - start, "import_s": imported - start, "xy": xy.tolist()}
    sys.path.insert(0, str(ROOT))
    import torch

    from engine.explore.layout import umap_2d
    from engine.explore.umap_worker import UmapWorker

    features = torch.from_numpy(x)
    start = time.perf_counter()
    with UmapWorker(numba_cache=cache) as worker:
        warm_up = None
        if mode == "warm":
            worker.wait_until_ready()
            warm_up = time.perf_counter() - start
            start = time.perf_counter()
        xy = umap_2d(worker, features)
        return {"seconds": time.perf_counter() - start, "warm_up_s": warm_up, "xy": xy.tolist()}


def layout_knn_accuracy(xy, labels, k: int = 10) -> float:
    import torch

    points = torch.tensor(xy)
    distances = torch.cdist(points, points)
    distances.fill_diagonal_(float("inf"))
    neighbours = distances.topk(k, largest=False).indices
    votes = torch.nn.functional.one_hot(labels[neighbours], int(labels.max()) + 1).sum(1)
    return (votes.argmax(1) == labels).float().mean().item()


def dataset(points: int) -> tuple:
    sys.path.insert(0, str(ROOT))
    from engine.data import DatasetUnavailable, load_dataset

    try:
        data, name = load_dataset("fashion-mnist").test, "Fashion-MNIST test pixels"
    except DatasetUnavailable:
        data, name = load_dataset("shapes", {"test_size": points}).test, "shapes pixels"
    return name, data.images[:points].flatten(1).float().div(255), data.labels[:points]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=10000)
    parser.add_argument("--after-only", action="store_true", help="skip the slow 'before' scenarios")
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DATA", "CACHE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return
    import numpy as np

    name, x, labels = dataset(args.points)
    print(f"{name}: {tuple(x.shape)}; {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "x.npy"
        np.save(data, x.numpy())
        for title, mode in SCENARIOS.items():
            if args.after_only and mode == "before":
                continue
            folder = Path(scratch) / f"numba-{'before' if mode == 'before' else 'after'}"
            done = subprocess.run([sys.executable, __file__, "--child", mode, str(data), str(folder)],
                                  capture_output=True, text=True, check=True)
            result = json.loads(done.stdout.splitlines()[-1])
            quality = layout_knn_accuracy(result["xy"], labels)
            extra = (f"import {result['import_s']:.1f} s" if "import_s" in result else
                     f"warm-up {result['warm_up_s']:.1f} s before the request" if result["warm_up_s"] else "")
            print(f"  {title:<20} {result['seconds']:6.1f} s   2-D 10-NN accuracy {quality:6.1%}   {extra}", flush=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
