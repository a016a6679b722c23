"""Run by tests/test_distributed.py under ``torchrun --nproc_per_node 2``:

- ``-m tests.ddp_worker OUT SETTINGS METHOD...``: a few steps of each method named, in one process group (one launch
  instead of one per method). Each rank writes its run into OUT/<method>-rank<R> (only rank 0's may appear) and, after
  each step, ``step loss sha256(weights and buffers)`` into OUT/<method>-digests/rank<R>.txt.
- ``-m tests.ddp_worker --exit R:S ARGS...``: ``main.py ARGS...`` (the CLI a user runs) with rank R exiting abruptly
  after step S: a rank dying.

Both hooks wrap ``Session._train_step`` here, so the engine carries no test code.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import torch

from engine import distributed, events
from engine.cli import main as cli_main
from engine.config import from_dict
from engine.run import RunConfig, Session, make_session


def hook_steps(digests: Path | None = None, exit_after: tuple[int, int] | None = None) -> None:
    """After each optimisation step, append the rank's weight digest to ``digests``/<method>-digests/rank<R>.txt
    and, on rank R of ``exit_after`` (R, S), exit without a word after step S."""
    train_step = Session._train_step

    def hooked(session: Session):
        out = train_step(session)
        if out is None:
            return out
        if digests is not None:
            loss = distributed.mean(out.loss.detach()).item()  # the global batch's, as the metrics log has it
            digest = hashlib.sha256()
            for value in session.method.state_dict().values():
                digest.update(value.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
            folder = digests / f"{session.config.method}-digests"
            folder.mkdir(exist_ok=True)
            with open(folder / f"rank{distributed.rank()}.txt", "a") as f:
                f.write(f"{session.step} {loss!r} {digest.hexdigest()}\n")
        if exit_after == (distributed.rank(), session.step):
            os._exit(3)
        return out

    Session._train_step = hooked


def report_errors(event) -> None:
    if isinstance(event, events.Error):
        print(f"rank {distributed.rank()}: {event.message}\n{event.details}", file=sys.stderr)


def train_methods(out: Path, settings: dict, methods: list[str]) -> int:
    hook_steps(digests=out)
    try:
        for method in methods:
            config = from_dict(RunConfig, {**settings["common"], "method": method, **settings.get(method, {})})
            finished = make_session(config, out / f"{method}-rank{distributed.rank()}", report_errors).run()
            if finished.reason != "completed":
                return 1
    finally:
        distributed.leave()
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "--exit":
        hook_steps(exit_after=tuple(map(int, sys.argv[2].split(":"))))
        sys.exit(cli_main(sys.argv[3:]))
    sys.exit(train_methods(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3:]))
