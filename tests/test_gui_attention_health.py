"""The attention and collapse-health docks (offscreen): a run delivers attention overlays and health points; an
image dropped onto the attention view gets its maps (computed by the training thread during a run, by a background
thread after it), a bad file a message; a collapse warning raises a banner that the next run clears."""
from __future__ import annotations

from pathlib import Path

from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from engine import events
from gui.main_window import RunState

RUN_TIMEOUT_MS = 30_000
SHORT = {"steps": 6, "eval_every_s": 600.0}  # the evaluation at step 0, the previews at the start


def start_short_run(window, tiny_run) -> None:
    window.setup.set_values({**tiny_run, **SHORT})
    window.start_action.trigger()


def drop(view, path: Path) -> None:
    """A file dragged onto ``view`` and dropped, as Qt delivers it: the drop follows an accepted drag-enter."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    action, button, modifier = Qt.DropAction.CopyAction, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(10, 10), action, mime, button, modifier)
    QApplication.sendEvent(view, enter)
    assert enter.isAccepted()
    QApplication.sendEvent(view, QDropEvent(QPointF(10, 10), action, mime, button, modifier))


def captions(view) -> list[str]:
    return [row[0] for row in view.grid.captions]


def wait_idle(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.state is RunState.IDLE and not window.training_alive, timeout=RUN_TIMEOUT_MS)


def test_a_run_fills_both_docks_and_a_dropped_image_gets_its_maps_after_it(window, qtbot, tiny_run, tmp_path):
    start_short_run(window, tiny_run)
    wait_idle(qtbot, window)
    view, health = window.attention_view, window.health_view
    assert captions(view) == ["image"] * 4
    assert [len(row) for row in view.grid.rows] == [2] * 4  # the image and the convnet's activation map
    assert view.grid.captions[0] == ["image", "attention"] and "step" in view.grid.title
    assert all(len(health.series[key]) >= 1 for key in ("std", "rank", "alignment", "uniformity"))
    assert health.curves["rank"].getData()[0] is not None and not health.warning_shown

    Image.new("RGB", (40, 30), "red").save(tmp_path / "photo.png")
    drop(view, tmp_path / "photo.png")  # the run has ended: a background thread computes the maps
    qtbot.waitUntil(lambda: captions(view)[-1:] == ["dropped"], timeout=RUN_TIMEOUT_MS)
    assert len(view.grid.rows) == 5 and view.notice.isHidden()

    (tmp_path / "notes.png").write_text("not a picture")
    drop(view, tmp_path / "notes.png")
    qtbot.waitUntil(lambda: "Cannot show notes.png" in view.notice.text(), timeout=RUN_TIMEOUT_MS)
    assert "not an image" in view.notice.text() and not view.notice.isHidden()
    assert len(view.grid.rows) == 5  # the maps shown stay


def test_an_image_dropped_during_a_dino_run_joins_the_overlays(window, qtbot, tiny_run, tmp_path):
    window.setup.set_values({**tiny_run, "method": "dino", "method_options": {"local_crops": 0, "out_dim": 64},
                             "steps": 0, "minutes": 0.0, "eval_every_s": 0.0})
    window.start_action.trigger()
    view = window.attention_view
    qtbot.waitUntil(lambda: len(view.grid.rows) == 4, timeout=RUN_TIMEOUT_MS)
    Image.new("RGB", (20, 20), "blue").save(tmp_path / "photo.png")
    drop(view, tmp_path / "photo.png")
    qtbot.waitUntil(lambda: captions(view)[-1:] == ["dropped"], timeout=RUN_TIMEOUT_MS)
    assert view.notice.isHidden() and window.training_alive  # computed between steps, on the training thread
    window.stop_action.trigger()
    wait_idle(qtbot, window)


def test_drops_before_any_run_ask_for_one(window, tmp_path):
    Image.new("RGB", (20, 20), "blue").save(tmp_path / "photo.png")
    drop(window.attention_view, tmp_path / "photo.png")
    assert "Start a run first" in window.attention_view.notice.text()


def test_eval_events_fill_the_health_plots_and_a_collapse_raises_a_banner_until_the_next_run(window, qtbot,
                                                                                             tiny_run):
    health = window.health_view
    for step, std in ((0, 0.06), (50, 0.03), (100, 0.001)):
        window._on_event(events.Eval(step, {"knn": 0.5, "std": std, "rank": 9.0 - step / 20, "alignment": 0.5,
                                            "uniformity": -2.0 + step / 50}, {}))
    window._on_event(events.Eval(100, {"knn": 0.5, "probe": 0.6}, {}, final=True))  # no health scores
    x, y = health.curves["std"].getData()
    assert list(x) == [0, 50, 100] and list(y) == [0.06, 0.03, 0.001]
    assert list(health.curves["uniformity"].getData()[1]) == [-2.0, -1.0, 0.0]
    assert health.rank_floor.isVisible() and health.rank_floor.value() == 3.0

    window._on_event(events.Warning("step 7: loss or gradients are not finite; step skipped"))
    assert not health.warning_shown  # only collapse raises the banner
    window._on_event(events.Collapsed(100, "effective rank 1.20 < 3"))
    assert health.warning_shown and "effective rank 1.20" in health.banner.text()
    assert health.banner.isVisible()  # visible in the window, not only in the status bar

    start_short_run(window, tiny_run)
    qtbot.waitUntil(lambda: not health.warning_shown, timeout=RUN_TIMEOUT_MS)
    assert len(health.series["std"]) <= 1  # a new run's curves start afresh (its step-0 evaluation at most)
    wait_idle(qtbot, window)


def test_opening_a_saved_run_draws_its_health_curves(window, qtbot, tmp_path):
    import json

    run_dir = tmp_path / "old-run"
    run_dir.mkdir()
    (run_dir / "run.json").write_text(json.dumps({"config": window.setup.values()}))
    scores = [{"std": 0.06 - s / 1000, "rank": 9.0 - s / 10, "alignment": 0.5, "uniformity": -2.0} for s in (0, 10)]
    lines = [{"step": s, "loss": 1.0, "lr": 0.1} for s in range(11)]
    lines += [{"step": s, "eval": {"knn": 0.4, **sc}, "baselines": {}} for s, sc in zip((0, 10), scores)]
    lines.append({"step": 10, "eval": {"knn": 0.5, "probe": 0.6}, "baselines": {}, "final": True})
    (run_dir / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    window.load_run(run_dir)
    health = window.health_view
    qtbot.waitUntil(lambda: len(health.series["std"]) == 2, timeout=RUN_TIMEOUT_MS)
    x, y = health.curves["rank"].getData()
    assert list(x) == [0, 10] and list(y) == [9.0, 8.0] and health.run_dir == str(run_dir)


def test_text_and_video_runs_say_why_they_have_no_health_plots_and_an_image_run_gets_them_back(window):
    health = window.health_view
    started = dict(device="cpu", total_steps=10, dataset="captions", train_size=100, image_size=0, channels=0)
    health.on_event(events.Started("text-run", {"method": "word2vec"}, **started, unit="words"))
    assert not health.no_images.isHidden() and health.graphs.isHidden()
    health.on_event(events.Started("video-run", {"method": "video_colorization"}, **started))
    assert not health.no_images.isHidden() and health.graphs.isHidden()
    health.on_event(events.Started("image-run", {"method": "simclr"}, **{**started, "dataset": "shapes"}))
    assert not health.graphs.isHidden() and health.no_images.isHidden()
