"""The training worker: a Session on a daemon thread whose events reach the GUI thread as a Qt signal.

A thread rather than a process: PyTorch releases the GIL inside its kernels, so on the 2-core dev machine the
window stays responsive beside a training thread (``bench/ui_latency.py`` measures it), while a process would
import PyTorch again and load the dataset again on every Start (seconds), and would have to pickle every event
and control call. The thread never touches a widget: the Session calls :attr:`TrainingWorker.event`'s ``emit``,
and Qt queues the event to the GUI thread. The Session throttles its events at the source (a Step event every
quarter second carries every (step, loss) pair since the last), so that queue cannot outgrow what the GUI
drains. Stopping is cooperative: the Session finishes its step, writes its checkpoint and returns.
"""
from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal


class TrainingWorker(QObject):
    """One run. Control calls are safe from the GUI thread at any time; they reach the Session between steps."""

    event = Signal(object)  # an engine.events instance, emitted on the training thread, delivered on the GUI thread

    def __init__(self) -> None:
        super().__init__()
        self.session = None
        self._thread: threading.Thread | None = None
        self._between_steps: queue.SimpleQueue = queue.SimpleQueue()  # calls for the training thread

    def start_new(self, config: Any) -> None:
        """Train ``config`` (an engine RunConfig) in a new run folder."""
        from engine.run import Session

        self._start(Session(config, on_event=self._on_event))

    def start_continued(self, run_dir: Path, **overrides: Any) -> None:
        """Continue the run in ``run_dir`` from its checkpoint; ``overrides`` set e.g. a longer budget."""
        from engine.run import Session

        self._start(Session.from_run_dir(run_dir, self._on_event, **overrides))

    def _start(self, session: Any) -> None:
        self.session = session
        self._thread = threading.Thread(target=session.run, name="pretext-training", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def pause(self) -> None:
        self.session.pause()

    def resume(self) -> None:
        self.session.resume()

    def stop(self) -> None:
        self.session.stop()

    def request_preview(self) -> None:
        self.session.request_preview()

    def call_between_steps(self, call: Callable[[Any], None]) -> None:
        """``call(session)`` on the training thread at the session's next event, between two steps (the model
        is never half-updated there); e.g. the explorer copies the encoder. Safe from any thread."""
        self._between_steps.put(call)

    def _on_event(self, event: Any) -> None:
        """On the training thread: the calls waiting for it, then the event on its way to the GUI thread."""
        for _ in range(self._between_steps.qsize()):
            self._between_steps.get_nowait()(self.session)
        self.event.emit(event)

    def wait(self, timeout_s: float) -> bool:
        """Block until the thread has ended (True) or ``timeout_s`` passed (False)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.alive
