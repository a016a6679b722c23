"""Query latency, the engine's half of "drop an image, see its neighbours": decode the file, embed it with the
encoder, cosine top-k against 20 000 embeddings, and place it on the scatter. Median and 95th percentile
over repeated queries, per kind of file, plus the very first query (lazy initialisations included).

The encoder is a run's (``--run RUN_DIR``) or, by default, an untrained small convnet at 32 x 32 (the same
cost as a trained one); the bank is 20 000 x D features (random: the top-k cost depends only on the sizes).

    .venv/bin/python bench/query_latency.py [--run RUN_DIR] [--bank 20000]
"""
from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.augment import Augment, AugmentConfig  # noqa: E402
from engine.data.shapes import generate  # noqa: E402
from engine.explore.embedding import Embedding, EncoderSnapshot  # noqa: E402
from engine.explore.query import query  # noqa: E402
from engine.methods import METHODS  # noqa: E402
from engine.nets import build_backbone  # noqa: E402
from engine.run import load_run  # noqa: E402


def default_snapshot() -> EncoderSnapshot:
    augment = Augment(AugmentConfig(), 32, torch.full((3,), 0.5), torch.full((3,), 0.25))
    method = METHODS["simclr"](build_backbone("convnet", 3, 32), METHODS["simclr"].Config(), augment)
    return EncoderSnapshot(method.eval(), "convnet", torch.device("cpu"), 3, 0)


def files(folder: Path) -> dict[str, Path]:
    """A dataset-sized PNG, a 12-megapixel camera JPEG and a 3-megapixel PNG screenshot."""
    scene = Image.fromarray(generate(1, seed=3, image_size=512).images[0].permute(1, 2, 0).numpy())
    out = {"32 x 32 PNG": (scene.resize((32, 32)), "PNG"), "4000 x 3000 JPEG": (scene.resize((4000, 3000)), "JPEG"),
           "2000 x 1500 PNG": (scene.resize((2000, 1500)), "PNG")}
    paths = {}
    for name, (image, fmt) in out.items():
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        paths[name] = folder / f"{name.replace(' ', '')}.{fmt.lower()}"
        paths[name].write_bytes(buffer.getvalue())
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder whose encoder to use")
    parser.add_argument("--bank", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    snapshot = EncoderSnapshot.of_run(load_run(Path(args.run))) if args.run else default_snapshot()
    dim = snapshot.method.encoder.out_dim
    g = torch.Generator().manual_seed(0)
    bank = Embedding(torch.randn(args.bank, dim, generator=g), torch.arange(args.bank), "train", None, {}, [], {}, 0)
    coordinates = np.random.default_rng(0).normal(size=(args.bank, 2)).astype(np.float32)
    print(f"encoder {type(snapshot.method.encoder).__name__} at {snapshot.image_size} px, bank {args.bank} x {dim}, "
          f"torch threads {torch.get_num_threads()}")
    with tempfile.TemporaryDirectory() as scratch:
        for i, (name, path) in enumerate(files(Path(scratch)).items()):
            times = []
            for _ in range(args.repeats + 1):
                start = time.perf_counter()
                [result] = query(snapshot, bank, [path], coordinates, k=10)
                times.append(1000 * (time.perf_counter() - start))
            assert result.neighbours.shape == (10,)
            first = f"first query {times[0]:5.0f} ms, " if i == 0 else ""
            steady = sorted(times[1:])
            print(f"  {name:<17} {first}median {statistics.median(steady):5.1f} ms, "
                  f"95th percentile {steady[int(0.95 * (len(steady) - 1))]:5.1f} ms")
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
