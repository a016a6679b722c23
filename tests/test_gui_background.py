"""Work off the GUI thread: the outcome arrives on the GUI thread, and so does the release of everything the
thread was given and of garbage cycles made anywhere (Qt objects deleted on the training thread hung a test
session: gui/garbage.py)."""
from __future__ import annotations

import gc
import os
import sys
import threading

import pytest
from PySide6.QtCore import QObject

from gui.background import run_in_background
from gui.garbage import collect_on_gui_thread


class Marker:
    """Records on which thread its last reference went."""

    def __init__(self, released: list[str]):
        self.released = released

    def __del__(self) -> None:
        self.released.append(threading.current_thread().name)


def failing(marker: Marker) -> None:
    raise ValueError("no")


def holding(marker: Marker, work):
    """The work, with the only reference to ``marker`` in its closure."""
    return lambda: work(marker)


@pytest.mark.parametrize("work", [lambda marker: 42, failing], ids=["result", "error"])
def test_the_outcome_and_the_last_references_reach_the_gui_thread(qtbot, work):
    released: list[str] = []
    owner, outcomes = QObject(), []
    thread = run_in_background(owner, holding(Marker(released), work), outcomes.append, outcomes.append)
    qtbot.waitUntil(lambda: bool(outcomes), timeout=10_000)
    thread.join(10)
    assert outcomes == [42] or isinstance(outcomes[0], ValueError)
    outcomes.clear()  # an exception's traceback holds the marker too
    assert released == [threading.main_thread().name]


def test_nothing_is_called_back_once_the_owner_is_deleted(qtbot):
    owner, outcomes, go = QObject(), [], threading.Event()
    thread = run_in_background(owner, lambda: go.wait(10), outcomes.append, outcomes.append)
    owner.deleteLater()
    qtbot.wait(10)
    go.set()
    thread.join(10)
    qtbot.wait(50)
    assert outcomes == []


def test_garbage_cycles_made_on_another_thread_are_collected_on_the_gui_thread(qtbot):
    collect_on_gui_thread()
    assert not gc.isenabled()
    released: list[str] = []
    kept: list = []

    def make_garbage() -> None:
        marker = Marker(released)
        marker.cycle = marker
        del marker
        kept.extend([] for _ in range(20 * gc.get_threshold()[0]))  # allocations that would start a collection

    thread = threading.Thread(target=make_garbage, name="training")
    thread.start()
    thread.join(10)
    assert released == []
    qtbot.waitUntil(lambda: bool(released), timeout=5000)
    assert released == [threading.main_thread().name]


def test_once_the_engine_has_loaded_its_objects_are_frozen_and_new_garbage_is_still_collected(qtbot):
    from gui.garbage import freeze_what_is_loaded

    freeze_what_is_loaded()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the imported libraries
    freeze_what_is_loaded()
    assert gc.get_freeze_count() == frozen  # once per process
    released: list[str] = []
    marker = Marker(released)
    marker.cycle = marker
    del marker
    gc.collect()
    assert released == [threading.main_thread().name]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread priorities are Linux's")
def test_training_runs_below_the_gui_thread_and_the_threads_it_starts_inherit_that():
    from gui.worker import TRAINING_NICENESS, run_below_the_window

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    seen: list[int] = []

    def train() -> None:
        seen.append(niceness())
        helper = threading.Thread(target=lambda: seen.append(niceness()))
        helper.start()
        helper.join()

    thread = threading.Thread(target=run_below_the_window, args=(train,))
    thread.start()
    thread.join()
    assert seen == [min(niceness() + TRAINING_NICENESS, 19)] * 2
    assert niceness() < seen[0] or niceness() == 19  # the GUI thread's own priority is unchanged
