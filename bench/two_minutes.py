"""The lecture moment: after 2 minutes of training on the defaults, do the classes separate in the UMAP?

Trains the window's defaults (``python main.py train --minutes 2``: SimCLR on ``shapes``) headless, then embeds
10 000 training images with the final encoder, lays them out with the explorer's UMAP and scores the layout by
its leave-one-out 2-D 10-NN label accuracy (as ``bench/umap_first_view.py``), beside the encoder's kNN and
linear probe and the raw-pixel and random-network baselines. Each ``--try`` is one more run with a few settings
changed, so that one command shows what each lever buys against today's defaults:

    .venv/bin/python bench/two_minutes.py [--minutes 2] [--try crop_size=24 --try lr=4e-3 batch_size=128 ...]

Settings are RunConfig fields with JSON values (``method_options={"temperature":0.1}`` works too). Run it on a
quiet machine: the budget is wall-clock training time.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.umap_first_view import layout_knn_accuracy  # noqa: E402
from engine import events  # noqa: E402
from engine.explore.embedding import EncoderSnapshot, embed_dataset  # noqa: E402
from engine.explore.layout import umap_2d  # noqa: E402
from engine.explore.umap_worker import UmapWorker  # noqa: E402
from engine.run import RunConfig, Session, load_run  # noqa: E402

POINTS = 10000


def train(settings: dict, minutes: float, folder: Path) -> dict:
    final = {}

    def on_event(event):
        if isinstance(event, events.Eval) and event.final:
            final.update(scores=event.scores, baselines=event.baselines)
        elif isinstance(event, events.Step):
            final.update(images_per_s=event.images_per_s, steps=event.step)

    Session(RunConfig.with_method_defaults({"minutes": minutes, **settings}), folder, on_event).run()
    return final


def layout_accuracy(worker: UmapWorker, folder: Path) -> float:
    run = load_run(folder)
    embedding = embed_dataset(EncoderSnapshot.of_run(run), run.dataset, "train", POINTS)
    return layout_knn_accuracy(umap_2d(worker, embedding.features).tolist(), embedding.labels)


def raw_layout_accuracy(worker: UmapWorker, folder: Path) -> float:
    run = load_run(folder)
    images = run.dataset.train
    rows = slice(0, POINTS)
    pixels = images.images[rows].flatten(1).float().div(255)
    return layout_knn_accuracy(umap_2d(worker, pixels).tolist(), images.labels[rows])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--try", dest="tries", nargs="+", action="append", default=[], metavar="KEY=VALUE",
                        help="one more run with these RunConfig settings (JSON values)")
    parser.add_argument("--no-defaults", action="store_true", help="skip the run on today's defaults")
    args = parser.parse_args()
    trials = ([] if args.no_defaults else [{}]) + [
        {key: json.loads(value) for key, value in (item.split("=", 1) for item in tried)} for tried in args.tries]
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), flush=True)
    out = Path(tempfile.mkdtemp(prefix="pretext-two-minutes-"))
    with UmapWorker() as worker:
        worker.wait_until_ready()  # its warm-up would take CPU from the first run's training
        for number, settings in enumerate(trials):
            folder = out / f"run{number}"
            r = train(settings, args.minutes, folder)
            s, b = r["scores"], r["baselines"]
            layout = layout_accuracy(worker, folder)
            print(f"{json.dumps(settings) if settings else 'defaults':<60} {r['steps']:5d} steps "
                  f"{r['images_per_s']:5.0f} img/s  kNN {s['knn']:.1%}  probe {s['probe']:.1%}  layout {layout:.1%}"
                  f"  | raw kNN {b['raw']['knn']:.1%}  random kNN {b['random']['knn']:.1%}", flush=True)
            if number == 0:
                print(f"{'raw pixels of the same images':<60} layout {raw_layout_accuracy(worker, folder):.1%}",
                      flush=True)
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
