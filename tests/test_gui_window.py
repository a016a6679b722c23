"""The training window end to end (offscreen): start, pause, resume, stop, continue, the augmentation preview,
closing mid-run, a failing method, reopening a run and exporting the plots."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from engine.checkpoint import load_checkpoint
from gui.main_window import RunState

RUN_TIMEOUT_MS = 30_000


def press(qtbot, window, key, modifier=Qt.KeyboardModifier.NoModifier) -> None:
    window.activateWindow()
    qtbot.keyClick(window, key, modifier)


def start_until_stopped(qtbot, window, tiny_run) -> None:
    window.setup.set_values({**tiny_run, "steps": 0, "minutes": 0.0})
    press(qtbot, window, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert window.state is RunState.RUNNING
    qtbot.waitUntil(lambda: window.plots.steps_received > 0, timeout=RUN_TIMEOUT_MS)


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.state is RunState.IDLE and not window.training_alive, timeout=RUN_TIMEOUT_MS)


def checkpoint_step(run_dir: Path) -> int:
    _, state = load_checkpoint(run_dir / "checkpoint.safetensors")
    return state["step"]


def test_start_shows_loss_points_evaluations_and_status_and_exports(window, qtbot, tmp_path):
    assert window.setup.values()["method"] == "simclr" and window.setup.values()["dataset"] == "shapes"
    window.start_action.trigger()
    qtbot.waitUntil(lambda: window.plots.steps_received > 0, timeout=RUN_TIMEOUT_MS)
    wait_idle(qtbot, window)
    plots = window.plots
    assert plots.steps_received == 40 and 0 < len(plots.loss) <= plots.loss.capacity
    assert len(plots.knn) >= 1 and all(plots.baseline_lines[name].isVisible() for name in ("raw", "random"))
    assert window.status.labels["step"].text() == "step 40" and "cpu" in window.status.labels["device"].text()
    assert "step 40" in window.status.labels["checkpoint"].text() and checkpoint_step(window.run_dir) == 40
    assert window.continue_action.isEnabled() and window.start_action.isEnabled()
    png, svg = window.plots.export(tmp_path / "plots.png")
    assert png.stat().st_size > 1000 and "<svg" in svg.read_text()


def test_space_pauses_and_resumes(window, qtbot, tiny_run):
    start_until_stopped(qtbot, window, tiny_run)
    press(qtbot, window, Qt.Key.Key_Space)
    assert window.state is RunState.PAUSED and window.pause_action.text() == "&Resume"
    qtbot.wait(700)  # the step in flight finishes and reports
    paused_at = window.plots.steps_received
    qtbot.wait(700)
    assert window.plots.steps_received == paused_at
    press(qtbot, window, Qt.Key.Key_Space)
    assert window.state is RunState.RUNNING
    qtbot.waitUntil(lambda: window.plots.steps_received > paused_at, timeout=RUN_TIMEOUT_MS)


def test_stop_keeps_a_checkpoint_and_the_run_continues_from_it(window, qtbot, tiny_run):
    start_until_stopped(qtbot, window, tiny_run)
    window.stop_action.trigger()
    wait_idle(qtbot, window)
    stopped_at = window.plots.steps_received
    assert "stopped" in window.statusBar().currentMessage() and checkpoint_step(window.run_dir) == stopped_at
    window.continue_action.trigger()
    qtbot.waitUntil(lambda: window.plots.steps_received > stopped_at, timeout=RUN_TIMEOUT_MS)
    window.stop_action.trigger()
    wait_idle(qtbot, window)
    assert checkpoint_step(window.run_dir) == window.plots.steps_received


def test_changing_an_augmentation_updates_the_preview(window, qtbot):
    qtbot.waitUntil(lambda: "before training" in window.preview.title, timeout=RUN_TIMEOUT_MS)
    before = [list(row) for row in window.preview.rows]
    window.setup.forms["Augmentation"].editors["brightness"].widget.setValue(1.0)
    qtbot.waitUntil(lambda: window.preview.rows[0][1] != before[0][1], timeout=RUN_TIMEOUT_MS)
    after = window.preview.rows
    assert all(a[0] == b[0] for a, b in zip(after, before))  # the images themselves stay
    assert window.setup.values()["augment"] == {"brightness": 1.0}


def test_closing_mid_run_stops_cleanly_and_keeps_a_loadable_checkpoint(window, qtbot, tiny_run):
    tiny_run["checkpoint_every_s"] = 0.05  # saving all the time: the close likely lands in a save
    start_until_stopped(qtbot, window, tiny_run)
    run_dir = window.run_dir
    started = time.monotonic()
    window.close()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert time.monotonic() - started < 5 and not window.training_alive
    assert checkpoint_step(run_dir) > 0


@pytest.fixture
def held_save(monkeypatch):
    """The second checkpoint a run writes is held after its temporary file is written, before it replaces the
    previous one (a slow disk's fsync), until ``release`` is set; ``holding`` is set meanwhile."""
    import engine.checkpoint

    holding, release, original = threading.Event(), threading.Event(), engine.checkpoint.save_file
    saves: list[str] = []

    def slow_save(tensors, filename, metadata=None):
        original(tensors, filename, metadata=metadata)
        saves.append(filename)
        if len(saves) == 2:
            holding.set()
            release.wait(20)

    monkeypatch.setattr(engine.checkpoint, "save_file", slow_save)
    yield holding, release
    release.set()


def close_while_the_second_save_is_held(window, qtbot, tiny_run, holding) -> tuple[Path, int]:
    """Start a run saving every 0.2 s, close the window once its second save is held; the run folder and the step
    of the checkpoint on disk then (the first save's)."""
    window.setup.set_values({**tiny_run, "checkpoint_every_s": 0.2, "steps": 100_000})
    window.start_action.trigger()
    qtbot.waitUntil(holding.is_set, timeout=RUN_TIMEOUT_MS)
    run_dir, step = window.run_dir, checkpoint_step(window.run_dir)
    window.close()
    return run_dir, step


def test_closing_mid_save_waits_for_the_checkpoint_and_it_loads(window, qtbot, tiny_run, held_save):
    holding, release = held_save
    run_dir, held_step = close_while_the_second_save_is_held(window, qtbot, tiny_run, holding)
    qtbot.wait(500)
    assert window.isVisible() and window.training_alive  # waiting for the save, not abandoning it
    release.set()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)
    assert not window.training_alive and checkpoint_step(run_dir) > held_step
    assert not list(run_dir.glob(".*.tmp"))


def test_a_save_slower_than_the_close_timeout_leaves_the_previous_checkpoint(window, qtbot, tiny_run, held_save,
                                                                            monkeypatch):
    monkeypatch.setattr("gui.main_window.CLOSE_TIMEOUT_MS", 300)
    holding, release = held_save
    run_dir, previous_step = close_while_the_second_save_is_held(window, qtbot, tiny_run, holding)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5000)  # closed while the save is still held
    assert window.training_alive and list(run_dir.glob(".*.tmp"))  # the new checkpoint is half-done ...
    assert checkpoint_step(run_dir) == previous_step  # ... and the previous one loads, as a killed process leaves it
    release.set()
    window.worker.wait(10)


def test_an_exception_in_a_method_step_reaches_a_dialog_and_the_run_keeps_its_data(window, qtbot, monkeypatch):
    from engine.methods.simclr import SimCLR

    original, calls = SimCLR.training_step, []

    def fails_after_ten_steps(self, images, rng):
        calls.append(1)
        if len(calls) > 10:
            raise RuntimeError("boom inside the method")
        return original(self, images, rng)

    monkeypatch.setattr(SimCLR, "training_step", fails_after_ten_steps)
    window.start_action.trigger()
    qtbot.waitUntil(lambda: bool(window.findChildren(QMessageBox)), timeout=RUN_TIMEOUT_MS)
    box = window.findChildren(QMessageBox)[0]
    assert "boom inside the method" in box.text() and "RuntimeError" in box.detailedText()
    wait_idle(qtbot, window)
    assert 0 < window.plots.steps_received <= 10  # the curve keeps what was drawn (the last quarter second may miss)
    logged = (window.run_dir / "metrics.jsonl").read_text().splitlines()
    assert checkpoint_step(window.run_dir) == 10 and sum('"loss"' in line for line in logged) == 10
    box.accept()


def test_open_run_shows_its_curves_and_settings_and_continues_it(window, qtbot, tiny_run):
    window.start_action.trigger()
    wait_idle(qtbot, window)
    run_dir = window.run_dir
    window.setup.set_values({**tiny_run, "batch_size": 64})
    window.plots.reset()
    window.load_run(run_dir)
    qtbot.waitUntil(lambda: window.plots.steps_received == 40, timeout=RUN_TIMEOUT_MS)
    assert window.setup.values()["batch_size"] == 32 and len(window.plots.knn) >= 1
    window.setup.budget.set_values(steps=50, minutes=0.0)
    window.continue_action.trigger()
    wait_idle(qtbot, window)
    assert window.plots.steps_received == 50 and checkpoint_step(run_dir) == 50


def test_a_panel_shortcut_raises_a_tab_behind_another_before_it_closes_anything(window, qtbot):
    """Ctrl+4 on the Evaluation tab behind Preview raises it (it used to close it); again, it closes; again, it
    opens in front."""
    dock, action = window.evaluation_dock, window.dock_actions[window.evaluation_dock]
    window.preview_dock.raise_()
    qtbot.waitUntil(lambda: dock.visibleRegion().isEmpty())
    assert not action.isChecked()
    action.trigger()
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty())
    assert not dock.isHidden() and action.isChecked()
    action.trigger()
    qtbot.waitUntil(dock.isHidden)
    assert not action.isChecked()
    action.trigger()
    qtbot.waitUntil(lambda: not dock.visibleRegion().isEmpty())
    assert action.isChecked()


def test_presenter_mode_gives_the_views_the_room_and_puts_the_panels_back_after(window, qtbot):
    """F11: the setup form and the health panel go, the tabbed views get most of the width; F11 again restores
    both panels and the views' width; a panel's shortcut still brings one back in presenter mode."""
    window.resize(1280, 800)
    window.show()
    qtbot.waitExposed(window)
    normal_width = window.preview_dock.width()
    window.presenter_action.trigger()
    qtbot.waitUntil(lambda: window.setup_dock.isHidden() and window.health_dock.isHidden())

    qtbot.waitUntil(lambda: window.preview_dock.width() > 0.55 * window.width())
    window.dock_actions[window.health_dock].trigger()
    qtbot.waitUntil(lambda: not window.health_dock.isHidden())
    window.presenter_action.trigger()
    qtbot.waitUntil(lambda: not window.setup_dock.isHidden())
    qtbot.waitUntil(lambda: abs(window.preview_dock.width() - normal_width) <= 2)
    window.app_font.apply(False)  # the application font is shared with the other tests


def test_settings_the_method_refuses_are_named_before_anything_trains(window, qtbot, tiny_run):
    """Jigsaw's 3x3 grid of 8 px tiles needs a 30 px view; the tiny run's images are 16 px."""
    window.setup.set_values({**tiny_run, "method": "jigsaw"})
    window.start_action.trigger()
    qtbot.waitUntil(lambda: bool(window.findChildren(QMessageBox)), timeout=RUN_TIMEOUT_MS)
    box = window.findChildren(QMessageBox)[0]
    assert box.windowTitle() == "Cannot start" and "need a 30 px view" in box.text(), box.text()
    assert "Traceback" not in box.text() and "ValueError" not in box.text()
    wait_idle(qtbot, window)
    assert window.plots.steps_received == 0
    box.accept()


def test_the_training_forms_follow_the_data_the_method_trains_on(window):
    setup = window.setup  # SimCLR on 16 px shapes: views at 3/4 of the side, but not under 16 px
    assert setup.forms["Advanced"].values()["crop_size"] == 16 and setup.forms["Training"].values()["lr"] == 8e-3
    setup.forms["Dataset"].set_values({"image_size": 32})
    assert setup.forms["Advanced"].values()["crop_size"] == 24
    setup.dataset.setCurrentText("digits")  # 8 px: views at the image size
    assert setup.forms["Advanced"].values()["crop_size"] == 0 and setup.forms["Training"].values()["lr"] == 8e-3


def test_the_panels_of_some_methods_only_show_for_those_methods(window):
    from gui.presets import Preset

    special = {"clip": window.clip_dock, "word2vec": window.words_dock, "dense_descriptors": window.pixels_dock,
               "video_colorization": window.pixels_dock}
    assert not any(dock.isVisible() for dock in special.values())  # a SimCLR run: none of them
    for method, dock in special.items():
        window.apply_preset(Preset({"method": method}))
        assert [d for d in {*special.values()} if d.isVisible()] == [dock], method
    window.apply_preset(Preset({"method": "simclr"}))
    window.dock_actions[window.words_dock].trigger()  # the View menu brings one back
    assert window.words_dock.isVisible() and not window.clip_dock.isVisible()
