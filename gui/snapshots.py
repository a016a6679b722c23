"""Where the explorer's encoder comes from: the run training now, or a saved run folder.

``take()`` runs on a background thread and returns a :class:`Subject`: a frozen copy of the encoder
(``EncoderSnapshot``) with the dataset it embeds. A live run's copy comes from ``TrainingWorker.take_snapshot``
(between two steps, or at once when the run is paused or over); a saved run is loaded once and reused.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gui.worker import TrainingWorker


@dataclass(frozen=True)
class Subject:
    """An encoder snapshot and the data it explores."""

    snapshot: Any  # engine.explore.embedding.EncoderSnapshot
    dataset: Any  # engine.data.Dataset, at the training resolution
    run_dir: Path | None
    title: str  # e.g. "simclr on shapes, step 1,200"


def _subject(snapshot: Any, dataset: Any, run_dir: Path | None, method: str) -> Subject:
    return Subject(snapshot, dataset, run_dir, f"{method} on {dataset.name}, step {snapshot.step:,}")


class LiveSource:
    """The encoder of the run a TrainingWorker trains."""

    def __init__(self, worker: TrainingWorker):
        self.worker = worker

    @property
    def run_dir(self) -> Path | None:
        return self.worker.run_dir

    def take(self, cancelled: Callable[[], bool]) -> Subject:
        snapshot, dataset, run_dir, method = self.worker.take_snapshot(cancelled)
        return _subject(snapshot, dataset, run_dir, method)


class SavedSource:
    """The encoder of a run folder's checkpoint (read-only: nothing is written to the folder)."""

    def __init__(self, run_dir: Path):
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        self._subject: Subject | None = None

    def take(self, cancelled: Callable[[], bool]) -> Subject:
        from engine.explore.embedding import EncoderSnapshot
        from engine.run import load_run

        with self._lock:
            if self._subject is None:
                run = load_run(self.run_dir)
                self._subject = _subject(EncoderSnapshot.of_run(run), run.dataset, self.run_dir, run.config.method)
            return self._subject
