"""Drop-to-zero-shot latency, the engine's half of "drop an image, see its prompt probabilities": decode the file,
embed it with the image tower, compare it with 100 prompts (their text embeddings cached, as the window keeps them
per model; and once uncached, as after editing the prompts) and find its nearest images among 2 000 test images.
Median and 95th percentile per image on one CPU thread, as the window's background jobs run.

The model is a CLIP run's (``--run RUN_DIR``) or, by default, an untrained CLIP on a small convnet at 32 x 32 whose
text tower's vocabulary is fitted on shapes captions (the same cost as a trained one).

    .venv/bin/python bench/clip_latency.py [--run RUN_DIR] [--prompts 100] [--repeats 30]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.augment import Augment, AugmentConfig  # noqa: E402
from engine.data.shapes import COLORS, SHAPES, generate  # noqa: E402
from engine.eval.pretrained_clip import MethodModel, load_zero_shot_model  # noqa: E402
from engine.explore.clip_queries import Bank, PromptCache, zero_shot_queries  # noqa: E402
from engine.methods import METHODS  # noqa: E402
from engine.nets import build_backbone  # noqa: E402

TARGET_MS = 200


def default_model() -> MethodModel:
    augment = Augment(AugmentConfig(), 32, torch.full((3,), 0.5), torch.full((3,), 0.25))
    clip = METHODS["clip"]
    method = clip(build_backbone("convnet", 3, 32), clip.Config(), augment)
    method.prepare_data(generate(2000, seed=1, image_size=32))
    return MethodModel(method.eval(), 3)


def milliseconds(call, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        out.append(1000 * (time.perf_counter() - start))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a clip run folder (or a Hugging Face CLIP folder) whose model to use")
    parser.add_argument("--prompts", type=int, default=100)
    parser.add_argument("--bank", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_zero_shot_model(Path(args.run)) if args.run else default_model()
    compositions = [f"a {size} {c} {s}" for size in ("small", "large") for c in COLORS for s in SHAPES]
    prompts = (compositions * (args.prompts // len(compositions) + 1))[: args.prompts]
    prompts = [f"{p} number {i}" if i >= len(compositions) else p for i, p in enumerate(prompts)]
    scenes = generate(args.bank, seed=2, image_size=model.image_size)
    bank = Bank(scenes.images, model.embed_images(scenes.images), scenes.captions)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "dropped.png"
        Image.fromarray(generate(1, seed=3, image_size=256).images[0].permute(1, 2, 0).numpy()).save(path)
        cache = PromptCache(model)
        first = milliseconds(lambda: zero_shot_queries(model, cache, prompts, [path], bank), 1)[0]
        cached = milliseconds(lambda: zero_shot_queries(model, cache, prompts, [path], bank), args.repeats)
        fresh = milliseconds(lambda: zero_shot_queries(model, PromptCache(model), prompts, [path], bank),
                             max(3, args.repeats // 5))
    median, p95 = statistics.median(cached), sorted(cached)[int(0.95 * (len(cached) - 1))]
    print(f"model: {'run ' + args.run if args.run else 'untrained clip, convnet, 32 px'}; {len(prompts)} prompts; "
          f"{args.bank} bank images; 1 thread")
    print(f"first drop (prompts embedded, lazy set-up): {first:7.1f} ms")
    print(f"a drop, prompts cached:   median {median:6.1f} ms   p95 {p95:6.1f} ms")
    print(f"a drop, prompts re-embedded: median {statistics.median(fresh):6.1f} ms")
    print(f"target < {TARGET_MS} ms per image: {'met' if max(p95, statistics.median(fresh)) < TARGET_MS else 'MISSED'}")


if __name__ == "__main__":
    main()
