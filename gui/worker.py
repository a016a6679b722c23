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
from collections.abc import Callable
from concurrent.futures import Future, TimeoutError
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

SNAPSHOT_POLL_S = 0.25  # how often a waiting take_snapshot() checks for cancellation, a pause or the run's end


class TrainingWorker(QObject):
    """One run. Control calls are safe from the GUI thread at any time; they reach the Session between steps.
    Views never touch the Session: what they need comes in its events (``Started`` carries the image size and
    channels) or through the calls below."""

    event = Signal(object)  # an engine.events instance, emitted on the training thread, delivered on the GUI thread

    def __init__(self) -> None:
        super().__init__()
        self._session = None
        self._thread: threading.Thread | None = None
        self._between_steps: queue.SimpleQueue = queue.SimpleQueue()  # calls for the training thread

    def start_new(self, config: Any) -> None:
        """Train ``config`` (an engine RunConfig) in a new run folder."""
        from engine.run import make_session

        self._start(make_session(config, on_event=self._on_event))

    def start_continued(self, run_dir: Path, **overrides: Any) -> None:
        """Continue the run in ``run_dir`` from its checkpoint; ``overrides`` set e.g. a longer budget."""
        from engine.run import resume_session

        self._start(resume_session(run_dir, self._on_event, **overrides))

    def _start(self, session: Any) -> None:
        self._session = session
        self._thread = threading.Thread(target=session.run, name="pretext-training", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def run_dir(self) -> Path | None:
        return None if self._session is None else self._session.run_dir

    def pause(self) -> None:
        self._session.pause()

    def resume(self) -> None:
        self._session.resume()

    def stop(self) -> None:
        self._session.stop()

    def request_preview(self) -> None:
        self._session.request_preview()

    def request_attention(self, images: Any) -> None:
        """Add uint8 images at the run's size (``Started.image_size``) to every later attention refresh."""
        self._session.request_attention(images)

    def attention(self) -> Any:
        """The attention overlays now (an ``events.Attention``): for a run that has ended, on any thread."""
        return self._session.attention()

    def take_snapshot(self, cancelled: Callable[[], bool], make: Callable[[], Any] | None = None) -> Any:
        """An ``EncoderSnapshot`` of the run's method with its dataset, run folder and method name (or what
        ``make()`` returns: a text run's ``session.snapshot()``). The copy is taken on the training thread between
        two steps, or here at once when the run is paused or over (no step in progress). Blocks until then; raises
        ``Cancelled`` once ``cancelled()``. Call it off the GUI thread."""
        from engine.explore import Cancelled

        make = make or self._snapshot

        future: Future = Future()

        def on_training_thread(session: Any) -> None:
            if session.method is None:  # still setting up: at a later event
                self.call_between_steps(on_training_thread)
            elif future.set_running_or_notify_cancel():  # False: taken meanwhile, or cancelled
                try:
                    future.set_result(make())
                except Exception as e:  # noqa: BLE001  (the explorer shows it; training goes on)
                    future.set_exception(e)

        self.call_between_steps(on_training_thread)
        session = self._session
        while not cancelled():
            if session.method is None and not self.alive:
                raise ValueError("the run ended before its network was built")
            if session.method is not None and (session.paused or not self.alive) and future.cancel():
                return make()
            try:
                return future.result(SNAPSHOT_POLL_S)
            except TimeoutError:
                pass
        future.cancel()
        raise Cancelled("snapshot cancelled")

    def take_text_snapshot(self, cancelled: Callable[[], bool]) -> Any:
        """A text run's ``TextSnapshot`` (the word map's), taken as :meth:`take_snapshot` takes its copy."""
        return self.take_snapshot(cancelled, make=lambda: self._session.snapshot())

    def _snapshot(self) -> tuple[Any, Any, Path, str]:
        from engine.explore.embedding import EncoderSnapshot

        session = self._session
        if session.modality != "image":
            raise ValueError("this run trains on text: its word map is in the Words panel")
        return EncoderSnapshot.of_session(session), session.dataset, session.run_dir, session.config.method

    def call_between_steps(self, call: Callable[[Any], None]) -> None:
        """``call(session)`` on the training thread at the session's next event, between two steps (the model
        is never half-updated there). Safe from any thread."""
        self._between_steps.put(call)

    def _on_event(self, event: Any) -> None:
        """On the training thread: the calls waiting for it, then the event on its way to the GUI thread."""
        for _ in range(self._between_steps.qsize()):
            self._between_steps.get_nowait()(self._session)
        self.event.emit(event)

    def wait(self, timeout_s: float) -> bool:
        """Block until the thread has ended (True) or ``timeout_s`` passed (False)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.alive
