"""A run folder read back for the plots: its config, loss and learning rate per step, and its evaluations."""
from __future__ import annotations

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
    from engine.runfolder import RunFolder

    folder = RunFolder(run_dir)
    state = folder.checkpoint_state()
    last = None if state is None else state["step"]
    history = RunHistory(folder.path, folder.read_config(), last)
    steps, losses, lrs = [], [], []
    for record in folder.records(last):
        if "loss" in record:
            steps.append(record["step"])
            losses.append(record["loss"])
            lrs.append(record.get("lr", np.nan))
        elif "eval" in record:
            history.evals.append(record)
    history.steps, history.losses, history.lrs = np.array(steps, float), np.array(losses, float), np.array(lrs, float)
    return history
