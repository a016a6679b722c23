"""Peak memory and time of the colour-copying attention for one 64 x 64 frame pair (one reference, one target), with
the local window (``engine.video.attention.window_attention``: one offset at a time) and without it (the dense
(h w)^2 softmax of the paper), forward and backward (training) and forward only (tracking), at stride 4 (the
method's 16 x 16 grid) and at stride 1 (every pixel). Each measurement runs in a fresh process: the peak resident
memory it adds over its inputs (``resource.getrusage``), so the figure includes every temporary the attention
allocates.

    .venv/bin/python bench/attention_memory.py [--dim 64] [--colours 16] [--radius 4]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, resource, sys, time
import torch
sys.path.insert(0, {root!r})
from engine.video.attention import dense_attention, window_attention, window_copy
torch.set_num_threads(1)
grid, dim, colours, radius, kind, backward = {grid}, {dim}, {colours}, {radius}, {kind!r}, {backward}
g = torch.Generator().manual_seed(0)
target = torch.randn(1, dim, grid, grid, generator=g, requires_grad=backward)
reference = torch.randn(1, 1, dim, grid, grid, generator=g, requires_grad=backward)
values = torch.rand(1, 1, colours, grid, grid, generator=g)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
if kind == "window":
    y = window_copy(window_attention(target, reference, radius), values, radius)
else:
    weights = dense_attention(target, reference)
    y = torch.einsum("nrihw,nrci->nchw", weights, values.flatten(3))
if backward:
    y.square().sum().backward()
seconds = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps({{"peak_mib": peak / 1024, "seconds": seconds}}))
"""


def measure(grid: int, kind: str, dim: int, colours: int, radius: int, backward: bool) -> dict:
    code = CHILD.format(root=str(ROOT), grid=grid, dim=dim, colours=colours, radius=radius, kind=kind,
                        backward=backward)
    # a fixed mmap threshold: freed blocks go back to the system, so the peak resident size is the peak in use
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dim", type=int, default=64, help="embedding dimensions")
    parser.add_argument("--colours", type=int, default=16, help="quantised colours copied")
    parser.add_argument("--radius", type=int, default=4, help="window radius in cells")
    args = parser.parse_args()
    print(f"one 64 x 64 frame pair, D = {args.dim}, {args.colours} colours copied, one thread; window radius "
          f"{args.radius} ({(2 * args.radius + 1) ** 2} cells); training = forward + backward, tracking = forward")
    print(f"{'grid':>14} {'attention':>18} {'pass':>9} {'peak MiB':>9} {'seconds':>8}")
    for stride in (4, 1):
        grid = 64 // stride
        for backward, mode in ((True, "training"), (False, "tracking")):
            for kind, name in (("dense", "dense (no window)"), ("window", f"window r={args.radius}")):
                result = measure(grid, kind, args.dim, args.colours, args.radius, backward)
                print(f"{f'{grid}x{grid} (s={stride})':>14} {name:>18} {mode:>9} {result['peak_mib']:9.1f} "
                      f"{result['seconds']:8.3f}")


if __name__ == "__main__":
    main()
