"""The run folder: the one contract between the engine that writes a run and everything that reads it back (the
window, the explorer, the evaluation panel, ``main.py eval``).

A run folder holds three files:

``run.json``
    Written atomically when training is set up: ``{"config": RunConfig as a dict, "dataset": {"name", "train",
    "test", "classes", "image_size", "channels"}, "device": str, "torch": version}``.
``metrics.jsonl``
    Appended during training, one JSON object per line, in step order. A *step record*
    ``{"step": int, "loss": float, "lr": float, ...method logs}`` per optimisation step (``step`` counts the steps
    done, from 1); an *eval record* ``{"step": int, "eval": {score: value}, "baselines": {"raw": {...},
    "random": {...}}, "final": bool}`` per online evaluation and for the final one. A line cut short by a killed
    process is skipped by every reader. On resume, lines after the checkpoint's step are dropped.
``checkpoint.safetensors``
    Tensors and a JSON state (:mod:`engine.checkpoint`), written atomically: the model, optimiser and RNG state at
    the state's ``step``.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from engine.errors import CheckpointError

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.safetensors"


def write_atomically(path: Path, text: str) -> None:
    """``text`` into ``path`` through a temporary file and ``os.replace``: a reader sees the old or the new file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class RunFolder:
    """Paths and reading/writing of one run folder (see the module docstring for the format)."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.run_json = self.path / RUN_JSON
        self.metrics = self.path / METRICS
        self.checkpoint = self.path / CHECKPOINT
        self._info: dict[str, Any] | None = None  # run.json as this process wrote it

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # run.json
    def read_info(self) -> dict[str, Any]:
        """The whole ``run.json``; CheckpointError with one sentence for a folder that is not a run."""
        try:
            info = json.loads(self.run_json.read_text(encoding="utf-8"))
            if not isinstance(info, dict) or not isinstance(info["config"], dict):
                raise ValueError("its config is not an object")
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{self.path} is not a Pretext run folder (no readable {RUN_JSON}: {e})") from None
        return info

    def read_config(self) -> dict[str, Any]:
        """The run's settings as saved (a RunConfig dict, not yet checked)."""
        return self.read_info()["config"]

    def write_info(self, info: dict[str, Any]) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_atomically(self.run_json, json.dumps(info, indent=2))
        self._info = info  # kept, to write the folder again should it vanish (restore)

    def restore(self, log: MetricsLog) -> MetricsLog | None:
        """A folder deleted while its run trains, written again from what the process holds: ``run.json`` as
        written and the metrics read back from ``log``'s still-open file (closed here; the returned log replaces
        it). None, and nothing done, while ``run.json`` is there."""
        if self.run_json.exists():
            return None
        records = log.read_back()
        log.close()
        self.write_info(self._info)
        write_atomically(self.metrics, records)
        return self.open_metrics()

    # checkpoint
    def checkpoint_state(self) -> dict[str, Any] | None:
        """The checkpoint's JSON state (step, elapsed, ...) from its header, or None when there is none."""
        from engine.checkpoint import read_state

        return read_state(self.checkpoint) if self.checkpoint.exists() else None

    # metrics.jsonl
    def records(self, up_to_step: int | None = None, evals_only: bool = False) -> Iterator[dict[str, Any]]:
        """The metrics records in file order, those after ``up_to_step`` left out (and step records with
        ``evals_only``, without parsing them); damaged lines are skipped."""
        try:
            lines = self.metrics.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with lines:
            for line in lines:
                if evals_only and '"eval"' not in line:
                    continue
                try:
                    record = json.loads(line)
                    step = record["step"]
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short when the process was killed
                if up_to_step is None or step <= up_to_step:
                    yield record

    def truncate(self, step: int) -> None:
        """Drop the records after ``step`` (and damaged lines), so a resumed run's curves don't repeat steps."""
        if self.metrics.exists():
            write_atomically(self.metrics, "".join(json.dumps(r) + "\n" for r in self.records(step)))

    def open_metrics(self) -> MetricsLog:
        self.path.mkdir(parents=True, exist_ok=True)
        return MetricsLog(self.metrics.open("a+", encoding="utf-8"))


class MetricsLog:
    """``metrics.jsonl`` open for appending records."""

    def __init__(self, file: TextIO):
        self.file = file

    def write(self, record: dict[str, Any]) -> None:
        self.file.write(json.dumps(record) + "\n")

    def flush(self) -> None:
        self.file.flush()

    def read_back(self) -> str:
        """Everything written so far (appending goes on at the end): readable even after the file was deleted."""
        self.file.flush()
        self.file.seek(0)
        return self.file.read()

    def close(self) -> None:
        self.file.close()
