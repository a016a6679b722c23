"""The training worker: a Session on a daemon thread whose events reach the GUI thread as a Qt signal.

A thread rather than a process: PyTorch releases the GIL inside its kernels, so on the 2-core dev machine the
window stays responsive beside a training thread (``bench/ui_latency.py`` measures it), while a process would
import PyTorch again and load the dataset again on every Start (seconds), and would have to pickle every event
and control call. The thread never touches a widget: the Session calls :attr:`TrainingWorker.event`'s ``emit``,
and Qt queues the event to the GUI thread. The Session throttles its events at the source (a Step event every
quarter second carries every (step, loss) pair since the last), so that queue cannot outgrow what the GUI
drains. Stopping is cooperative: the Session finishes its step, writes its checkpoint and returns.

A run on several processes is a torchrun job instead (:class:`TorchrunWorker`): the window follows the run folder
its rank 0 writes, through the same events.
"""
from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future, TimeoutError
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

SNAPSHOT_POLL_S = 0.25  # how often a waiting take_snapshot() checks for cancellation, a pause or the run's end
TRAINING_NICENESS = 5  # the training thread's nice value above the GUI thread's


def run_below_the_window(run: Callable[[], None]) -> None:
    """``run()`` on this thread at a lower scheduling priority than the GUI thread (Linux nice is per thread, and
    the compute threads PyTorch starts from here inherit it): when training has every core busy, a repaint gets
    the CPU at once instead of queueing behind the kernels. Where the OS has no per-thread priority, unchanged."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), TRAINING_NICENESS)
    run()


class TrainingWorker(QObject):
    """One run. Control calls are safe from the GUI thread at any time; they reach the Session between steps.
    Views never touch the Session: what they need comes in its events (``Started`` carries the image size and
    channels) or through the calls below."""

    event = Signal(object)  # an engine.events instance, emitted on the training thread, delivered on the GUI thread
    pausable = True

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
        self._thread = threading.Thread(target=run_below_the_window, args=(session.run,), name="pretext-training",
                                        daemon=True)
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


class TorchrunWorker(QObject):
    """A torchrun job (engine.launch.TorchrunJob) followed from its run folder on a daemon thread: its events reach
    the GUI thread as a TrainingWorker's do. It cannot pause, and the method's previews come at the job's own pace;
    Stop asks the job through its run folder. The explorer's snapshots and the attention maps are those of the job's
    latest checkpoint, loaded on the CPU (the job's devices are busy)."""

    event = Signal(object)
    pausable = False

    def __init__(self) -> None:
        super().__init__()
        self._job = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._loaded = None  # engine LoadedRun of the latest checkpoint read
        self._attention_extra = None  # uint8 images the user dropped on the attention view

    def start(self, config: Any, torchrun: Any, run_dir: Path) -> None:
        """Start the job training ``config`` (an engine RunConfig) into ``run_dir`` as ``torchrun`` (an engine
        TorchrunConfig) says; OSError when torchrun cannot be started."""
        from engine.launch import TorchrunJob

        self._job = TorchrunJob.start(config, torchrun, run_dir)
        self._thread = threading.Thread(target=self._job.follow, args=(self.event.emit,), name="pretext-torchrun",
                                        daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def run_dir(self) -> Path | None:
        return None if self._job is None else self._job.run_dir

    def stop(self) -> None:
        self._job.stop()

    def request_preview(self) -> None:
        """Nothing: the job writes its previews at its own pace (preview_every_s)."""

    def request_attention(self, images: Any) -> None:
        """Add uint8 images at the run's size to the attention maps: while the job runs, they come as an Attention
        event, computed on a thread of their own."""
        self._attention_extra = images
        if self.alive:
            threading.Thread(target=self._emit_attention, name="pretext-attention", daemon=True).start()

    def attention(self) -> Any:
        """The attention overlays (an ``events.Attention``) of the latest checkpoint; on any thread."""
        return self._latest_run().attention(self._attention_extra)

    def _emit_attention(self) -> None:
        from engine import events
        from engine.errors import describe

        try:
            self.event.emit(self.attention())
        except Exception as e:  # noqa: BLE001  (shown; the job goes on)
            self.event.emit(events.Warning(f"cannot compute the attention maps: {describe(e)}"))

    def take_snapshot(self, cancelled: Callable[[], bool]) -> Any:
        """An ``EncoderSnapshot`` of the latest checkpoint with its dataset, run folder and method name (the
        explorer's LiveSource calls it on a background thread)."""
        from engine.explore.embedding import EncoderSnapshot

        run = self._latest_run()
        return EncoderSnapshot.of_run(run), run.dataset, run.run_dir, run.config.method

    def _latest_run(self) -> Any:
        from engine.run import load_run
        from engine.runfolder import RunFolder

        with self._lock:
            state = RunFolder(self.run_dir).checkpoint_state()
            if state is None:
                raise ValueError("the job has not written a checkpoint yet")
            if self._loaded is None or self._loaded.step != state["step"]:
                self._loaded = load_run(self.run_dir, device="cpu")
            return self._loaded

    def wait(self, timeout_s: float) -> bool:
        """Block until the job and its following have ended (True) or ``timeout_s`` passed (False)."""
        if self._thread is not None:
            self._thread.join(timeout_s)
        return not self.alive
