"""A folder of 100 000 image files (docs/faults.md): progress while it loads, memory bounded by ``max_images``, and
Stop (the engine's ``cancelled``, the window's Stop) ends the load without training or writing anything."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtWidgets import QMessageBox

from engine import events
from engine.data import folder, load_dataset
from engine.errors import Cancelled

FILES, CLASSES, SAMPLE = 100_000, 10, 2000


@pytest.fixture(scope="module")
def hundred_thousand_files(tmp_path_factory) -> Path:
    """10 sub-folders of 10 000 PNG files each (hard links to one small image per class: made in about a second)."""
    root = tmp_path_factory.mktemp("big-folder")
    for c in range(CLASSES):
        sub = root / f"class{c}"
        sub.mkdir()
        first = sub / "0.png"
        Image.new("RGB", (8, 8), (25 * c, 0, 255 - 25 * c)).save(first)
        for i in range(1, FILES // CLASSES):
            os.link(first, sub / f"{i}.png")
    return root


@pytest.fixture
def decoded(monkeypatch) -> list[Path]:
    """The files the folder source decodes, in the order it asks for them."""
    paths: list[Path] = []
    original = folder.decode_image

    def counting(path, size, *args):
        paths.append(path)
        return original(path, size, *args)

    monkeypatch.setattr(folder, "decode_image", counting)
    return paths


@pytest.fixture
def slow_decoding(monkeypatch) -> dict:
    """Each image takes ``delay["s"]`` seconds (2 ms unless a test sets more) to decode, so that a load lasts a
    while; Status events as they come."""
    delay, original = {"s": 0.002}, folder.decode_image

    def slow(path, size, *args):
        time.sleep(delay["s"])
        return original(path, size, *args)

    monkeypatch.setattr(folder, "decode_image", slow)
    monkeypatch.setattr("engine.run.LOADING_STATUS_INTERVAL_S", 0.05)
    return delay


def test_100000_files_load_a_bounded_sample_and_report_progress(hundred_thousand_files, decoded):
    fractions: list[float] = []
    options = {"path": str(hundred_thousand_files), "image_size": 16, "max_images": SAMPLE}
    dataset = load_dataset("folder", options, progress=fractions.append)
    assert len(decoded) == SAMPLE  # the other 98 000 files are listed, never opened
    assert len(dataset.train) + len(dataset.test) == SAMPLE and dataset.num_classes == CLASSES
    assert dataset.train.images.nbytes + dataset.test.images.nbytes == SAMPLE * 3 * 16 * 16
    assert len(fractions) == SAMPLE and fractions == sorted(fractions) and fractions[-1] == 1.0


def test_cancelling_stops_decoding_and_raises_cancelled(hundred_thousand_files, slow_decoding, decoded):
    fractions: list[float] = []
    options = {"path": str(hundred_thousand_files), "image_size": 16, "max_images": SAMPLE}
    with pytest.raises(Cancelled, match="loading stopped after 100 of 2,000 images"):
        load_dataset("folder", options, progress=fractions.append, cancelled=lambda: len(fractions) >= 100)
    opened = len(decoded)
    time.sleep(0.2)
    assert len(decoded) == opened < SAMPLE // 2  # the rest were never opened, and none is opened later


def folder_run(tiny_run: dict, root: Path) -> dict:
    return {**tiny_run, "dataset": "folder", "dataset_options": {"path": str(root), "image_size": 16,
                                                                 "max_images": SAMPLE}}


def test_stop_while_the_folder_loads_ends_the_session_without_an_error_or_a_run_folder(
        hundred_thousand_files, slow_decoding, tiny_run, tmp_path):
    from engine.run import RunConfig, Session

    seen: list = []

    stopped_at: list[float] = []

    def stop_at_first_progress(event):
        seen.append(event)
        if isinstance(event, events.Status) and "%" in event.message and not stopped_at:
            stopped_at.append(time.monotonic())
            session.stop()

    session = Session(RunConfig.with_method_defaults(folder_run(tiny_run, hundred_thousand_files)), tmp_path / "run",
                      stop_at_first_progress)
    finished = session.run()
    assert finished.reason == "stopped" and finished.step == 0
    assert time.monotonic() - stopped_at[0] < 1  # a load of 2 000 x 2 ms on two threads would take 2 s more
    progress = [e.message for e in seen if isinstance(e, events.Status) and "%" in e.message]
    assert progress[0].startswith("Loading folder: ") and progress[0].endswith(" left")
    assert not [e for e in seen if isinstance(e, (events.Error, events.Started))]
    assert not (tmp_path / "run").exists()


def test_the_window_shows_loading_progress_and_stop_cancels_it(window, qtbot, hundred_thousand_files,
                                                                slow_decoding, tiny_run):
    from gui.main_window import RunState
    from gui.presets import Preset

    slow_decoding["s"] = 0.05  # a 50 s load: Stop, not its end, finishes it however slow the machine
    window.apply_preset(Preset(folder_run(tiny_run, hundred_thousand_files)))
    window.start_action.trigger()
    qtbot.waitUntil(lambda: "Loading folder: " in window.status.currentMessage()
                    and "left" in window.status.currentMessage(), timeout=20_000)
    assert window.stop_action.isEnabled()
    window.stop_action.trigger()
    assert window.status.currentMessage() == "Stopping while the data loads ..."
    qtbot.waitUntil(lambda: window.state is RunState.IDLE, timeout=10_000)
    assert window.status.currentMessage() == "Stopped while the data loaded: nothing was trained or written"
    assert not window.findChildren(QMessageBox) and not window.training_alive


def test_a_cancellation_nobody_asked_for_is_an_error_not_a_stop(tiny_run, tmp_path, monkeypatch):
    from engine.run import RunConfig, Session

    def cancelled_from_elsewhere(*args, **kwargs):
        raise Cancelled("an embedding was cancelled")

    monkeypatch.setattr("engine.run.build", cancelled_from_elsewhere)
    seen: list = []
    finished = Session(RunConfig.with_method_defaults(tiny_run), tmp_path / "run", seen.append).run()
    assert finished.reason == "failed"
    assert [e.message for e in seen if isinstance(e, events.Error)] == ["Cancelled: an embedding was cancelled"]
