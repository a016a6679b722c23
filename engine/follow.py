"""A run followed from its folder while another process trains it (``main.py train``, or the rank 0 of a torchrun
job): what the folder gains becomes the events the run's Session would have emitted, so the window draws a run
it did not start as it draws its own (an image or video run: a text run trains in one process, in the window).

:meth:`RunFollower.poll` reads only what is new: ``run.json`` once (Started), ``metrics.jsonl`` from the byte offset
read so far, whole lines only (a line being written waits for the next poll), the checkpoint's and the preview's
header when their file changed. Rates and times are the follower's clock between polls, not the run's (the poll
that finds the run has no rate yet: 0). A resume rewrites ``metrics.jsonl``: its records up to the last step already
turned into events are not turned into events again (the curves keep the values drawn before, which an exact resume
retraces).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine import events
from engine.errors import CheckpointError
from engine.runfolder import RunFolder

STEP_FIELDS = ("step", "loss", "lr")  # a step record's own fields; the others are the method's logs


class RunFollower:
    """Turns one run folder's new records into engine events, poll by poll."""

    def __init__(self, run_dir: Path | str, clock: Callable[[], float] = time.monotonic):
        self.folder = RunFolder(run_dir)
        self.clock = clock
        self.config: dict[str, Any] | None = None  # run.json's, once it is there
        self.train_size = 1
        self.step = 0
        self.final_scores: dict[str, float] = {}
        self._offset = 0  # bytes of metrics.jsonl turned into events
        self._metrics_file: int | None = None  # its inode: a resume rewrites the file
        self._drawn_through = -1  # after a rewrite: records up to this step were turned into events already
        self._versions: dict[Path, tuple[int, int]] = {}  # (inode, mtime) of the checkpoint and preview last read
        self._started_at = self._polled_at = 0.0
        self._polled_step = 0

    def poll(self) -> list[Any]:
        """The events for what the folder gained since the last poll; none until its ``run.json`` is written
        (CheckpointError if that is not a run's)."""
        found: list[Any] = []
        since: float | None = self._polled_at  # None: no rate yet, on the poll that finds the run
        if self.config is None:
            if not self.folder.run_json.exists():
                return []
            found.append(self._start())
            since = None
        now = self.clock()
        found += self._records(now, since) + self._checkpoint() + self._preview()
        self._polled_at, self._polled_step = now, self.step
        return found

    def finished(self, reason: str) -> events.Finished:
        """The run's end, once its process has ended: its last step and final scores, if it had any."""
        return events.Finished(self.step, reason, self.final_scores if reason == "completed" else {})

    def _start(self) -> events.Started:
        info = self.folder.read_info()
        self.config, dataset = info["config"], info.get("dataset", {})
        self.train_size = max(1, int(dataset.get("train", 1)))
        self._started_at = self.clock()
        return events.Started(str(self.folder.path), self.config, str(info.get("device", "")),
                              self.config.get("steps") or None, str(dataset.get("name", self.config.get("dataset"))),
                              int(dataset.get("train", 0)), int(dataset.get("image_size", 0)),
                              int(dataset.get("channels", 0)))

    def _records(self, now: float, since: float | None) -> list[Any]:
        """Step events (the records since the last event, batched) and Eval events, in file order."""
        found: list[Any] = []
        batch: list[dict[str, Any]] = []
        for record in self._new_records():
            if "eval" in record:
                found += self._steps(batch, now, since)
                batch = []
                found.append(self._eval(record))
            elif "loss" in record:
                batch.append(record)
        return found + self._steps(batch, now, since)

    def _new_records(self) -> list[dict[str, Any]]:
        try:
            with self.folder.metrics.open("rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                if inode != self._metrics_file:  # the first read, or the file was rewritten (a resume)
                    self._drawn_through = -1 if self._metrics_file is None else self.step
                    self._metrics_file, self._offset = inode, 0
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        whole = data[:data.rfind(b"\n") + 1]  # a line still being written is read at the next poll
        self._offset += len(whole)
        records = []
        for line in whole.decode("utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a line cut short by a killed process
            if isinstance(record, dict) and "step" in record and record["step"] > self._drawn_through:
                records.append(record)
        return records

    def _steps(self, batch: list[dict[str, Any]], now: float, since: float | None) -> list[events.Step]:
        """One Step event for ``batch``, the step records read since the previous poll at ``since``."""
        if not batch:
            return []
        batch_size = int(self.config.get("batch_size", 1))
        self.step = int(batch[-1]["step"])
        elapsed = now - self._started_at
        seconds = 0.0 if since is None else now - since
        rate = (self.step - self._polled_step) * batch_size / seconds if seconds > 0 else 0.0  # 0: not known yet
        total, minutes = self.config.get("steps") or 0, self.config.get("minutes") or 0.0
        eta = ((total - self.step) * batch_size / rate if total and rate
               else max(0.0, minutes * 60 - elapsed) if minutes else None)
        logs: dict[str, float] = {}
        for record in batch:
            logs.update({k: v for k, v in record.items() if k not in STEP_FIELDS})
        return [events.Step(self.step, self.step * batch_size / self.train_size,
                            tuple(int(r["step"]) for r in batch), tuple(float(r["loss"]) for r in batch),
                            float(batch[-1].get("lr", 0.0)), rate, elapsed, eta, logs)]

    def _eval(self, record: dict[str, Any]) -> events.Eval:
        final = bool(record.get("final", False))
        if final:
            self.final_scores = dict(record["eval"])
        return events.Eval(int(record["step"]), record["eval"], record.get("baselines", {}), final)

    def _checkpoint(self) -> list[events.Checkpoint]:
        if not self._changed_since_read(self.folder.checkpoint):
            return []
        try:
            state = self.folder.checkpoint_state()
        except CheckpointError:
            return []  # replaced meanwhile: the next poll reads the new one
        return [] if state is None else [events.Checkpoint(int(state["step"]), str(self.folder.checkpoint))]

    def _preview(self) -> list[events.Preview]:
        if not self._changed_since_read(self.folder.preview):
            return []
        try:
            return [self.folder.read_preview()]
        except CheckpointError:
            return []

    def _changed_since_read(self, path: Path) -> bool:
        """Whether ``path`` was replaced (a new inode: it is written atomically) or touched since the last read."""
        try:
            stat = path.stat()
        except FileNotFoundError:
            return False
        version = (stat.st_ino, stat.st_mtime_ns)
        if self._versions.get(path) == version:
            return False
        self._versions[path] = version
        return True
