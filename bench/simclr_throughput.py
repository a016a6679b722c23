"""SimCLR training throughput (pairs/s): Pretext's pipeline against the peer library lightly, in one run.

Both sides train the same backbone (Pretext's ConvNet) with the same projection head, image size, batch and
augmentation strengths. lightly's side is its documented recipe: ``SimCLRTransform`` (per-image PIL
augmentations) in a torch ``DataLoader`` and its ``NTXentLoss``. Pretext's side is a ``Session``-equivalent
step: batched tensor augmentations (``Augment.views``) and the ``SimCLR`` method.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/simclr_throughput.py --steps 30 --batch-size 256
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import load_dataset  # noqa: E402
from engine.data.augment import Augment, AugmentConfig  # noqa: E402
from engine.methods.simclr import SimCLR, SimCLRConfig  # noqa: E402
from engine.nets.convnet import ConvNet  # noqa: E402
from engine.nets.heads import MLPHead  # noqa: E402
from engine.run import channel_stats  # noqa: E402

AUG = dict(crop_scale_min=0.2, brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1, jitter_p=0.8, grayscale_p=0.2,
           blur_p=0.0, flip_p=0.5)


def timed(step, steps: int, warmup: int) -> float:
    """Seconds per step, measured after ``warmup`` steps."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def pretext(images: torch.Tensor, batch: int, steps: int, warmup: int, channels_last: bool) -> float:
    mean, std = channel_stats(images)
    augment = Augment(AugmentConfig(**AUG), images.shape[-1], mean, std)
    torch.manual_seed(0)
    method = SimCLR(ConvNet(images.shape[1]), SimCLRConfig(temperature=0.5), augment)
    if channels_last:
        method = method.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    state = {"step": 0}

    def step():
        i = state["step"]
        index = torch.randint(0, len(images), (batch,), generator=torch.Generator().manual_seed(i))
        out = method.training_step(images[index], torch.Generator().manual_seed(i))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        state["step"] += 1

    return batch / timed(step, steps, warmup)


def lightly_pipeline(images: torch.Tensor, batch: int, steps: int, warmup: int, workers: int) -> float:
    from lightly.loss import NTXentLoss
    from lightly.transforms import SimCLRTransform
    from PIL import Image

    mean, std = channel_stats(images)
    transform = SimCLRTransform(input_size=images.shape[-1], cj_prob=0.8, cj_strength=0.5, min_scale=0.2,
                                random_gray_scale=0.2, gaussian_blur=0.0, hf_prob=0.5,
                                normalize={"mean": mean.tolist(), "std": std.tolist()})
    pil = [Image.fromarray(img.permute(1, 2, 0).numpy()) for img in images]

    class Views(torch.utils.data.Dataset):
        def __len__(self):
            return len(pil)

        def __getitem__(self, i):
            return transform(pil[i])

    loader = torch.utils.data.DataLoader(Views(), batch_size=batch, shuffle=True, drop_last=True, num_workers=workers,
                                         persistent_workers=workers > 0)
    torch.manual_seed(0)
    backbone = ConvNet(images.shape[1])
    head = MLPHead([backbone.out_dim, 512, 128])
    criterion = NTXentLoss(temperature=0.5)
    params = list(backbone.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(params, lr=1e-3)
    batches = iter(loader)

    def step():
        nonlocal batches
        try:
            x1, x2 = next(batches)
        except StopIteration:
            batches = iter(loader)
            x1, x2 = next(batches)
        z1, z2 = head(backbone(x1)), head(backbone(x2))
        loss = criterion(z1, z2)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / timed(step, steps, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--images", type=int, default=10000)
    args = parser.parse_args()
    data = load_dataset("shapes", {"train_size": args.images, "test_size": 100, "image_size": 32}).train.images
    print(f"SimCLR, ConvNet, 32x32 RGB, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{args.steps} timed steps after {args.warmup} warm-up")
    results = {}
    for workers in (0, 2):
        results[f"lightly, {workers} loader workers"] = lightly_pipeline(data, args.batch_size, args.steps, args.warmup, workers)
    for cl in (False, True):
        results[f"pretext{', channels_last' if cl else ''}"] = pretext(data, args.batch_size, args.steps, args.warmup, cl)
    best_lightly = max(v for k, v in results.items() if k.startswith("lightly"))
    for name, pairs in results.items():
        print(f"  {name:<32} {pairs:7.1f} pairs/s  ({pairs / best_lightly:.2f}x lightly's best)")


if __name__ == "__main__":
    main()
