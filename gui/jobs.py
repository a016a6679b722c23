"""A long computation off the GUI thread that reports progress and can be cancelled or replaced.

Built on :func:`gui.background.run_in_background`. The work gets two callbacks, ``cancelled()`` and
``progress(fraction)`` (the engine's slow functions take exactly these), and runs with one PyTorch thread, so
that training keeps its core and the window stays responsive. Starting the job again cancels the previous run:
only the newest run's progress and outcome reach the GUI thread.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from gui.background import run_in_background

Work = Callable[[Callable[[], bool], Callable[[float], None]], Any]


class BackgroundJob(QObject):
    progress = Signal(float)  # fraction done of the current run, delivered on the GUI thread

    def __init__(self, parent: QObject, name: str):
        super().__init__(parent)
        self.name = name
        self._token: threading.Event | None = None  # the current run's; set means cancelled

    @property
    def running(self) -> bool:
        return self._token is not None

    def start(self, work: Work, on_result: Callable[[Any], None], on_error: Callable[[Exception], None]) -> None:
        """Run ``work(cancelled, progress)``; then ``on_result(value)`` or ``on_error(exception)`` on the GUI
        thread, unless the job was cancelled or started again meanwhile."""
        self.cancel()
        token = self._token = threading.Event()

        def report(fraction: float) -> None:
            if token is self._token:
                self.progress.emit(fraction)

        def body() -> Any:
            from engine.explore.threads import one_thread

            with one_thread():
                return work(token.is_set, report)

        run_in_background(self, body, lambda value: self._deliver(token, on_result, value),
                          lambda error: self._deliver(token, on_error, error), name=f"pretext-{self.name}")

    def cancel(self) -> None:
        """The running work stops at its next check; its outcome is dropped."""
        if self._token is not None:
            self._token.set()
            self._token = None

    def _deliver(self, token: threading.Event, callback: Callable[[Any], None], value: Any) -> None:
        if token is self._token:
            self._token = None
            callback(value)
