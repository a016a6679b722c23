"""A run folder read back for the plots: its config, loss and learning rate per step, and its evaluations."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class RunHistory:
    run_dir: Path
    config: dict[str, Any]
    checkpoint_step: int | None  # None: no checkpoint, the run cannot be continued
    steps: np.ndarray = field(default_factory=lambda: np.empty(0))
    losses: np.ndarray = field(default_factory=lambda: np.empty(0))
    lrs: np.ndarray = field(default_factory=lambda: np.empty(0))
    evals: list[dict[str, Any]] = field(default_factory=list)  # metrics.jsonl's eval lines


def load_history(run_dir: Path) -> RunHistory:
    """Read ``run_dir`` up to its checkpoint's step (what continuing it resumes from). Raises ValueError with a
    sentence for a folder that is not a Pretext run. Reads files only; call it off the GUI thread."""
    from engine.checkpoint import read_state
    from engine.run import CHECKPOINT

    run_dir = Path(run_dir)
    try:
        config = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError) as e:
        raise ValueError(f"{run_dir} is not a Pretext run folder (no readable run.json: {e})") from None
    checkpoint = run_dir / CHECKPOINT
    last = read_state(checkpoint)["step"] if checkpoint.exists() else None
    history = RunHistory(run_dir, config, last)
    steps, losses, lrs = [], [], []
    path = run_dir / "metrics.jsonl"
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for line in lines:
        try:
            record = json.loads(line)
            step = record["step"]
        except (ValueError, KeyError, TypeError):
            continue  # a line cut short when the process was killed
        if last is not None and step > last:
            continue
        if "loss" in record:
            steps.append(step)
            losses.append(record["loss"])
            lrs.append(record.get("lr", np.nan))
        elif "eval" in record:
            history.evals.append(record)
    history.steps, history.losses, history.lrs = np.array(steps, float), np.array(losses, float), np.array(lrs, float)
    return history
