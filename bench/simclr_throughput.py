"""SimCLR training throughput (pairs/s): Pretext's pipeline against the peer library lightly, in one run.

Both sides train the same backbone (Pretext's ConvNet) with the same projection head, image size, batch and
augmentation strengths. lightly's side is its documented recipe: ``SimCLRTransform`` (per-image PIL
augmentations) in a torch ``DataLoader`` and its ``NTXentLoss``. Pretext's side is a ``Session``-equivalent
step: batched tensor augmentations (``Augment.views``) and the ``SimCLR`` method. Both are measured in float32
and in bfloat16 autocast (the Session's default where the CPU computes bfloat16 natively, e.g. AMX), losses in
float32 on both sides.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python bench/simclr_throughput.py --steps 30 --batch-size 256
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.build import channel_stats  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.data.augment import Augment, AugmentConfig  # noqa: E402
from engine.methods.simclr import SimCLR, SimCLRConfig  # noqa: E402
from engine.nets.convnet import ConvNet  # noqa: E402
from engine.nets.heads import MLPHead  # noqa: E402

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


def mixed(dtype: torch.dtype | None):
    """The Session's autocast region: bfloat16 mixed precision, or plain float32 for None."""
    return torch.autocast("cpu", dtype or torch.float32, enabled=dtype is not None)


def pretext(images: torch.Tensor, batch: int, steps: int, warmup: int, dtype: torch.dtype | None) -> float:
    mean, std = channel_stats(images)
    augment = Augment(AugmentConfig(**AUG), images.shape[-1], mean, std)
    torch.manual_seed(0)
    method = SimCLR(ConvNet(images.shape[1]), SimCLRConfig(temperature=0.5), augment)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3)
    state = {"step": 0}

    def step():
        i = state["step"]
        index = torch.randint(0, len(images), (batch,), generator=torch.Generator().manual_seed(i))
        with mixed(dtype):
            out = method.training_step(images[index], torch.Generator().manual_seed(i))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
        state["step"] += 1

    return batch / timed(step, steps, warmup)


def lightly_pipeline(images: torch.Tensor, batch: int, steps: int, warmup: int, workers: int,
                     dtype: torch.dtype | None) -> float:
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

    loader = torch.utils.data.DataLoader(Views(), batch_size=batch, shuffle=True, drop_last=True, num_workers=workers)
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
        with mixed(dtype):
            z1, z2 = head(backbone(x1)), head(backbone(x2))
        loss = criterion(z1.float(), z2.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return batch / timed(step, steps, warmup)


VARIANTS = {f"{side}{f', {workers} workers' if side == 'lightly' else ''}, {name}": (side, workers, dtype)
            for dtype, name in ((None, "fp32"), (torch.bfloat16, "bf16 autocast"))
            for side, workers in (("lightly", 0), ("lightly", 2), ("pretext", 0))}


def measure(variant: str, args) -> float:
    side, workers, dtype = VARIANTS[variant]
    data = load_dataset("shapes", {"train_size": args.images, "test_size": 100, "image_size": 32}).train.images
    if side == "pretext":
        return pretext(data, args.batch_size, args.steps, args.warmup, dtype)
    return lightly_pipeline(data, args.batch_size, args.steps, args.warmup, workers, dtype)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--images", type=int, default=10000)
    # one measurement, in this process
    parser.add_argument("--variant", choices=tuple(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        print(measure(args.variant, args))
        return
    print(f"SimCLR, ConvNet, 32x32 RGB, batch {args.batch_size}, {torch.get_num_threads()} threads, "
          f"{args.steps} timed steps after {args.warmup} warm-up; each variant in a fresh process")
    results = {}
    for variant in VARIANTS:  # a fresh process each: loader workers and allocator state don't carry over
        out = subprocess.run([sys.executable, __file__, "--variant", variant, "--steps", str(args.steps),
                              "--warmup", str(args.warmup), "--batch-size", str(args.batch_size),
                              "--images", str(args.images)], capture_output=True, text=True, check=True)
        results[variant] = float(out.stdout.split()[-1])
    for dtype_name in ("fp32", "bf16 autocast"):
        lightly_best = max(v for k, v in results.items() if k.startswith("lightly") and k.endswith(dtype_name))
        for name, pairs in results.items():
            if name.endswith(dtype_name):
                print(f"  {name:<32} {pairs:7.1f} pairs/s  "
                      f"({pairs / lightly_best:.2f}x lightly's best in {dtype_name})")
    lightly_fp32 = max(results['lightly, 0 workers, fp32'], results['lightly, 2 workers, fp32'])
    print(f"  pretext's default (bf16 where native) against lightly's documented fp32 recipe: "
          f"{results['pretext, bf16 autocast'] / lightly_fp32:.2f}x")


if __name__ == "__main__":
    main()
