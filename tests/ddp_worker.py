"""Run by tests/test_distributed.py as ``torchrun --nproc_per_node 2 -m tests.ddp_worker``: a few steps of each
method named on the command line, in one process group (one launch instead of one per method). Each rank writes its
run into OUT/<method>-rank<R> (only rank 0's may appear) and its per-step weight digests into OUT/<method>-digests."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from engine import distributed, events
from engine.config import from_dict
from engine.run import RunConfig, make_session


def report_errors(event) -> None:
    if isinstance(event, events.Error):
        print(f"rank {distributed.rank()}: {event.message}\n{event.details}", file=sys.stderr)


def main(out: Path, settings: dict, methods: list[str]) -> int:
    try:
        for method in methods:
            digests = out / f"{method}-digests"
            digests.mkdir(parents=True, exist_ok=True)
            os.environ["PRETEXT_TEST_DIGEST_DIR"] = str(digests)
            config = from_dict(RunConfig, {**settings["common"], "method": method, **settings.get(method, {})})
            finished = make_session(config, out / f"{method}-rank{distributed.rank()}", report_errors).run()
            if finished.reason != "completed":
                return 1
    finally:
        distributed.leave()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3:]))
