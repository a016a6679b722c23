"""Throughput of one SimCLR run on N processes (torchrun, 1 thread each) against one process with N threads, on the
CPU: ``python bench/ddp_scaling.py [--ranks 2] [--steps 30]``. Reads the img/s of each run's steps after the first
few (warm-up) from its metrics' timing, printed as a ratio."""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train(prefix: list[str], out: Path, steps: int, threads: int) -> float:
    args = ["main.py", "train", "--method", "simclr", "--steps", str(steps), "--batch-size", "64", "--image-size",
            "32", "--set", "dataset.train_size=2048", "--set", "dataset.test_size=64", "--device", "cpu",
            "--eval-every-s", "0", "--no-final-eval", "--preview-every-s", "0", "--checkpoint-every-s", "0",
            "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(prefix + args, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    rates = [float(r) for r in re.findall(r"(\d+) img/s", done.stderr)]
    return rates[-1]  # the reporter's rate over the last interval of steps


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=30)
    a = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        torchrun = [str(Path(sys.executable).with_name("torchrun")), "--standalone", f"--nproc_per_node={a.ranks}"]
        ddp = train(torchrun, Path(tmp) / "ddp", a.steps, 1)
        single = train([sys.executable], Path(tmp) / "one", a.steps, a.ranks)
    print(f"{a.ranks} ranks x 1 thread: {ddp:.0f} img/s; 1 process x {a.ranks} threads: {single:.0f} img/s; "
          f"ratio {ddp / single:.2f}")


if __name__ == "__main__":
    main()
