"""The run folder: the one contract between the engine that writes a run and everything that reads it back (the
window, the explorer, the evaluation panel, ``main.py eval``).

A run folder holds three files, and two more on request:

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
``stop``
    A stop request any process can make (:meth:`RunFolder.request_stop`: the window following a torchrun job, a
    user in a shell: ``touch RUN_DIR/stop``): rank 0 reads it before each step and every rank stops there, as Stop
    does, with the final checkpoint. Writing ``run.json`` (a run starting or resuming) removes it.
``preview.safetensors``
    With ``main.py train --write-previews`` only: the method's latest preview (:class:`engine.events.Preview`),
    replaced atomically at the preview cadence, in the checkpoint format: a tensor ``tile.R.C`` per tile and the
    state ``{"step", "kind": "Tiles" or "SimilarityTiles", "shape": tiles per row, "fields": the other fields}``,
    a tensor field (CLIP's ``matrix``) as a tensor of its name.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from engine.errors import CheckpointError

RUN_JSON = "run.json"
METRICS = "metrics.jsonl"
CHECKPOINT = "checkpoint.safetensors"
STOP = "stop"
PREVIEW = "preview.safetensors"


def runs_root() -> Path:
    """Where new run folders go: ``PRETEXT_RUNS``, else ``~/pretext-runs``."""
    return Path(os.environ.get("PRETEXT_RUNS", Path.home() / "pretext-runs"))


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
        self.stop_request = self.path / STOP
        self.preview = self.path / PREVIEW
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
        """``run.json``, written as a run starts or resumes: a stop request left by an earlier run goes."""
        self.path.mkdir(parents=True, exist_ok=True)
        self.stop_request.unlink(missing_ok=True)
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

    # stop requests
    def request_stop(self) -> None:
        """Ask the run training into this folder, in whichever process, to stop after its step."""
        write_atomically(self.stop_request, "")

    def stop_requested(self) -> bool:
        return self.stop_request.exists()

    # the preview
    def write_preview(self, preview: Any) -> None:
        """An ``events.Preview`` as ``preview.safetensors`` (format: the module docstring)."""
        import torch

        from engine.checkpoint import save_checkpoint

        tiles = preview.tiles
        tensors = {f"tile.{r}.{c}": tile for r, row in enumerate(tiles.rows) for c, tile in enumerate(row)}
        fields = {}
        for f in dataclasses.fields(tiles):
            value = getattr(tiles, f.name)
            if isinstance(value, torch.Tensor):
                tensors[f.name] = value
            elif f.name != "rows":
                fields[f.name] = value
        state = {"step": preview.step, "kind": type(tiles).__name__, "shape": [len(row) for row in tiles.rows],
                 "fields": fields}
        save_checkpoint(self.preview, tensors, state)

    def read_preview(self) -> Any:
        """The ``events.Preview`` in ``preview.safetensors``; CheckpointError when there is none or it is damaged."""
        from engine import events
        from engine.checkpoint import load_checkpoint

        tensors, state = load_checkpoint(self.preview)
        kinds = {kind.__name__: kind for kind in (events.Tiles, events.SimilarityTiles)}
        if state.get("kind") not in kinds:
            raise CheckpointError(f"{self.preview} holds an unknown preview kind {state.get('kind')!r}")
        rows = [[tensors[f"tile.{r}.{c}"] for c in range(n)] for r, n in enumerate(state["shape"])]
        others = {name: value for name, value in tensors.items() if not name.startswith("tile.")}
        return events.Preview(int(state["step"]), kinds[state["kind"]](rows=rows, **state["fields"], **others))

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
