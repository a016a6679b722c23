"""What makes the SimCLR step fast on a CPU: each option measured alone, in one run, same data and seed.

    .venv/bin/python bench/step_variants.py [--size 32] [--channels 3] [--batch-size 256]

Variants: memory format (contiguous vs channels_last), optimizer kernels (for-each vs fused AdamW), intra-op
threads, and the cost of the augmentation itself. Prints pairs/s (images per second, two views each).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data.augment import Augment, AugmentConfig  # noqa: E402
from engine.methods.simclr import SimCLR, SimCLRConfig  # noqa: E402
from engine.nets.convnet import ConvNet  # noqa: E402


def measure(images, *, channels_last=True, fused=False, threads=None, augment=True, steps=12, warmup=3) -> float:
    if threads:
        torch.set_num_threads(threads)
    c = images.shape[1]
    aug = Augment(AugmentConfig(), images.shape[-1], torch.full((c,), 0.5), torch.full((c,), 0.25))
    torch.manual_seed(0)
    method = SimCLR(ConvNet(c), SimCLRConfig(), aug)
    method = method.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    optimizer = torch.optim.AdamW(method.parameters(), lr=1e-3, fused=fused or None)
    fixed = [v.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
             for v in aug.views(images, 2, torch.Generator().manual_seed(0))]
    if not augment:  # the model step alone, on pre-made views
        method.augment = type("Fixed", (), {"views": lambda self, x, n, rng: fixed})()
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        out = method.training_step(images, torch.Generator().manual_seed(i))
        optimizer.zero_grad(set_to_none=True)
        out.loss.backward()
        optimizer.step()
    return len(images) * steps / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    args = parser.parse_args()
    images = torch.randint(0, 256, (args.batch_size, args.channels, args.size, args.size), dtype=torch.uint8)
    default_threads = torch.get_num_threads()
    variants = {
        "contiguous, for-each AdamW": dict(channels_last=False),
        "channels_last, for-each AdamW": dict(channels_last=True),
        "channels_last, fused AdamW": dict(channels_last=True, fused=True),
        "contiguous, fused AdamW": dict(channels_last=False, fused=True),
        f"channels_last, 1 thread (of {default_threads})": dict(channels_last=True, threads=1),
        "model step alone (views made beforehand)": dict(channels_last=True, augment=False),
    }
    print(f"SimCLR step, ConvNet, {args.size}x{args.size}x{args.channels}, batch {args.batch_size}")
    for name, options in variants.items():
        pairs = measure(images, **options)
        torch.set_num_threads(default_threads)
        print(f"  {name:<44} {pairs:7.1f} pairs/s", flush=True)


if __name__ == "__main__":
    main()
