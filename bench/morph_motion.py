"""Does the Snapshot morph read as motion? Two snapshots of one run on the defaults (after 1 and 2 minutes of
training), each laid out as the explorer does, and how far the 10 000 points move from the first layout to the
second: when the second starts from the first (UMAP initialised with the previous coordinates) and is then fitted
onto them by Procrustes (the explorer) or onto the new snapshot's PCA view (the explorer before 2026-12-04), when it
starts afresh but is fitted, and afresh as it comes.

    .venv/bin/python bench/morph_motion.py [--minutes 1] [--points 10000]

Motion: each point's displacement divided by the first layout's RMS radius (0.1 = a tenth of the scatter's size);
median and 90th percentile. The 2-D 10-NN label accuracy of each second layout shows what the motion costs.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.umap_first_view import layout_knn_accuracy  # noqa: E402
from engine.explore.embedding import EncoderSnapshot, embed_dataset  # noqa: E402
from engine.explore.layout import align_2d, pca_2d, umap_2d  # noqa: E402
from engine.explore.umap_worker import UmapWorker  # noqa: E402
from engine.run import RunConfig, Session, load_run, resume_session  # noqa: E402


def features(folder: Path, points: int):
    run = load_run(folder)
    return embed_dataset(EncoderSnapshot.of_run(run), run.dataset, "train", points)


def motion(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    radius = float(np.sqrt(((before - before.mean(0)) ** 2).sum(1).mean()))
    moved = np.linalg.norm(after - before, axis=1) / radius
    return float(np.median(moved)), float(np.percentile(moved, 90))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=1.0, help="training between the two snapshots")
    parser.add_argument("--points", type=int, default=10000)
    args = parser.parse_args()
    worker = UmapWorker()
    folder = Path(tempfile.mkdtemp(prefix="pretext-morph-")) / "run"
    Session(RunConfig.with_method_defaults({"minutes": args.minutes}), folder).run()
    first = features(folder, args.points)
    resume_session(folder, minutes=2 * args.minutes).run()
    second = features(folder, args.points)
    labels = second.labels

    earlier = umap_2d(worker, first.features)
    followed = umap_2d(worker, second.features, init=earlier)
    afresh = umap_2d(worker, second.features)
    layouts = {
        "from the previous layout, fitted onto it (the explorer)": align_2d(followed, earlier),
        "from the previous layout, fitted onto the new PCA view": align_2d(followed, align_2d(
            pca_2d(second.features), earlier)),  # the explorer until 2026-12-04 (it showed that PCA view between)
        "afresh, fitted onto the previous layout": align_2d(afresh, earlier),
        "afresh, as it comes": afresh,
    }
    print(f"{args.points} training images, snapshots after {args.minutes:g} and {2 * args.minutes:g} min; first "
          f"layout 10-NN {100 * layout_knn_accuracy(earlier.tolist(), first.labels):.1f} %")
    for name, layout in layouts.items():
        median, p90 = motion(earlier, layout)
        print(f"  second layout {name:56s} motion median {median:.3f}  p90 {p90:.3f}  "
              f"10-NN {100 * layout_knn_accuracy(layout.tolist(), labels):.1f} %", flush=True)
    worker.close()


if __name__ == "__main__":
    main()
