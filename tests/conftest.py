"""Test setup: Qt offscreen, run folders and caches in a temporary directory; the GUI tests' window fixture."""
from __future__ import annotations

import gc
import os
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as main.py sets it for the app
_scratch = Path(tempfile.mkdtemp(prefix="pretext-tests-"))
os.environ.setdefault("PRETEXT_CACHE", str(_scratch / "cache"))
os.environ.setdefault("PRETEXT_RUNS", str(_scratch / "runs"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


TINY_RUN = {"dataset": "shapes", "dataset_options": {"train_size": 512, "test_size": 256, "image_size": 16},
            "method": "simclr", "batch_size": 32, "device": "cpu", "eval_bank": 256, "eval_queries": 128,
            "eval_every_s": 1.0, "preview_every_s": 1.0, "final_eval": False, "steps": 40, "minutes": 0.0}


@pytest.fixture
def tiny_run() -> dict:
    """A run of a few seconds: small shapes, small batches, a step budget."""
    return {**TINY_RUN, "dataset_options": dict(TINY_RUN["dataset_options"])}


def train_to_completion(config, run_dir: Path) -> tuple:
    """Train ``config`` in ``run_dir`` to the end of its budget; returns (session, its events). A run that does not
    complete fails the test with its errors."""
    from engine import events
    from engine.run import Session

    seen: list = []
    session = Session(config, run_dir, seen.append)
    assert session.run().reason == "completed", [e for e in seen if isinstance(e, events.Error)]
    return session, seen


@pytest.fixture
def whole_and_resumed(tmp_path):
    """``train(config)`` runs ``config`` (a step budget) once uninterrupted and once stopped after step 5 and
    resumed from its checkpoint; it returns the two final checkpoints' tensors (whole, resumed)."""
    from engine import events
    from engine.checkpoint import load_checkpoint
    from engine.run import Session

    def train(config):
        Session(config, tmp_path / "whole").run()

        def stop_at_5(event):
            if isinstance(event, events.Step) and event.step >= 5:
                interrupted.stop()

        interrupted = Session(config, tmp_path / "split", stop_at_5)
        interrupted.run()
        assert Session.from_run_dir(tmp_path / "split").run().step == config.steps
        return tuple(load_checkpoint(tmp_path / name / "checkpoint.safetensors")[0] for name in ("whole", "split"))

    return train


@pytest.fixture(autouse=True)
def widgets_deleted_on_the_gui_thread():
    """After a test with a window, the widgets qtbot closed (and asked to delete later) are deleted now, on this
    thread (left for later, a background thread could drop a window's last reference: gui/background.py), and the
    garbage cycles are collected here; then automatic collection, which the window turned off (gui/garbage.py),
    is back on for the tests without a window (a full collection takes 0.3 s: not after every test)."""
    yield
    if gc.isenabled():
        return
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    if (app := QApplication.instance()) is not None:
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    gc.enable()


def stop_training(win) -> None:
    if win.training_alive:
        win.worker.stop()
        win.worker.wait(10)


@pytest.fixture
def window(qtbot, tiny_run):
    """The main window, shown, with the engine loaded and ``tiny_run`` set up; its run is stopped at teardown."""
    from gui.main_window import MainWindow
    from gui.presets import Preset

    win = MainWindow()
    qtbot.addWidget(win, before_close_func=stop_training)
    win.apply_preset(Preset(tiny_run))
    with qtbot.waitSignal(win.engine_ready, timeout=60_000):
        win.show()
    return win
