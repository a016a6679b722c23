"""NT-Xent in one process, before and after it learnt to gather negatives across ranks (commit 227c88b): the loss
alone (forward + backward) and the whole SimCLR step with each, interleaved in one run, same data and seed.

    .venv/bin/python bench/ntxent_ab.py [--batch-size 256] [--repeats 5] [--steps 10]

"before" is the single-process formulation the project had until then (one normalised (2N, 2N) similarity matrix,
its diagonal filled with -inf); "after" is ``engine.losses.NTXentLoss`` (each view normalised, the candidates
gathered, k = i masked by indexed assignment), the identity gather at world size 1.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import engine.methods.simclr as simclr_module  # noqa: E402
from engine.data import load_dataset  # noqa: E402
from engine.device import autocast_dtype  # noqa: E402
from engine.losses import NTXentLoss  # noqa: E402
from engine.losses.precision import float32  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simclr_throughput  # noqa: E402


class SingleProcessNTXent(torch.nn.Module):
    """The formulation before 227c88b: l(i, j) over one (2N, 2N) cosine matrix, its diagonal -inf."""

    def __init__(self, temperature: float = 0.5):
        super().__init__()
        self.temperature = temperature

    @float32
    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        n = len(z1)
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = z @ z.T / self.temperature
        logits.fill_diagonal_(float("-inf"))
        return F.cross_entropy(logits, torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device))


LOSSES = {"before": SingleProcessNTXent, "after": NTXentLoss}


def loss_alone(loss: torch.nn.Module, z1: torch.Tensor, z2: torch.Tensor, steps: int) -> float:
    """Milliseconds per forward + backward."""
    start = time.perf_counter()
    for _ in range(steps):
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        loss(a, b).backward()
    return 1000 * (time.perf_counter() - start) / steps


def simclr_step(loss: type, images: torch.Tensor, batch: int, steps: int) -> float:
    """Images per second of bench/simclr_throughput.py's Pretext step with ``loss`` as SimCLR's, in the precision a
    Session picks on this CPU (bf16 autocast where it is native, else float32)."""
    simclr_module.NTXentLoss = loss
    return simclr_throughput.pretext(images, batch, steps, 3, autocast_dtype(torch.device("cpu")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(args.batch_size, 128, generator=g), torch.randn(args.batch_size, 128, generator=g)
    same = {name: cls()(z1, z2).item() for name, cls in LOSSES.items()}
    images = load_dataset("shapes", {"train_size": 4 * args.batch_size, "test_size": 64, "image_size": 32}).train.images
    alone = {name: [] for name in LOSSES}
    step = {name: [] for name in LOSSES}
    for _ in range(args.repeats):  # interleaved: a drifting load hits both alike
        for name, cls in LOSSES.items():
            alone[name].append(loss_alone(cls(), z1, z2, 50))
            step[name].append(simclr_step(cls, images, args.batch_size, args.steps))
    load = os.getloadavg()
    precision = autocast_dtype(torch.device('cpu')) or 'float32'
    print(f"batch {args.batch_size}, {torch.get_num_threads()} threads, {precision}, "
          f"{args.repeats} interleaved repeats, "
          f"load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; losses on the same projections: "
          + ", ".join(f"{k} {v:.6f}" for k, v in same.items()))
    print("  variant   loss fwd+bwd (ms, median)   SimCLR step (img/s, median [min-max])")
    for name in LOSSES:
        s = step[name]
        print(f"  {name:<8}  {statistics.median(alone[name]):>10.3f}                 "
              f"{statistics.median(s):>8.0f} [{min(s):.0f}-{max(s):.0f}]")


if __name__ == "__main__":
    main()
