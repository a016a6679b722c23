"""Where the explorer's encoder comes from: the run training now, or a saved run folder.

``take()`` runs on a background thread and returns a :class:`Subject`: a frozen copy of the encoder
(``EncoderSnapshot``) with the dataset it embeds. A live run's copy is taken on the training thread between two
steps (``TrainingWorker.call_between_steps``), or at once when the run is paused or over; a saved run is loaded
once and reused.
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, TimeoutError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from gui.worker import TrainingWorker

POLL_S = 0.25  # how often a waiting take() checks for cancellation, a pause or the run's end


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
        session = self.worker.session
        return None if session is None else session.run_dir

    def take(self, cancelled: Callable[[], bool]) -> Subject:
        from engine.explore import Cancelled

        future: Future = Future()

        def on_training_thread(session: Any) -> None:
            if session.method is None:  # still setting up: at a later event
                self.worker.call_between_steps(on_training_thread)
            elif future.set_running_or_notify_cancel():  # False: taken meanwhile, or cancelled
                try:
                    future.set_result(self._snapshot(session))
                except Exception as e:  # noqa: BLE001  (the explorer shows it; training goes on)
                    future.set_exception(e)

        self.worker.call_between_steps(on_training_thread)
        while not cancelled():
            session = self.worker.session
            if session.method is None and not self.worker.alive:
                raise ValueError("the run ended before its network was built")
            if session.method is not None and (session.paused or not self.worker.alive) and future.cancel():
                return self._snapshot(session)  # no step in progress: copy it here
            try:
                return future.result(POLL_S)
            except TimeoutError:
                pass
        future.cancel()
        raise Cancelled("snapshot cancelled")

    @staticmethod
    def _snapshot(session: Any) -> Subject:
        from engine.explore.embedding import EncoderSnapshot

        return _subject(EncoderSnapshot.of_session(session), session.dataset, session.run_dir, session.config.method)


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
