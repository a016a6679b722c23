"""The Pixels panel in the window (offscreen): a saved dense_descriptors run's pixel clicked in image A gives the heat
map of its descriptor distance over B whose minimum is the marked best match, at any zoom; a saved video_colorization
run's object clicked in frame 0 is tracked through the clip (a mask per frame, J per frame after the first beside the
first frame copied), scrubbing and playing change the frame shown; another method's run shows the panel's
sentence."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.run import RunConfig, make_session
from gui.pixels_view import DESC_A, HEAT, HINT, A, B
from gui.tracking_view import CURRENT, FIRST

WAIT_MS = 30_000
DENSE = {"dataset": "shapes", "dataset_options": {"train_size": 64, "test_size": 16, "image_size": 16},
         "method": "dense_descriptors", "batch_size": 8, "steps": 6, "minutes": 0.0, "device": "cpu",
         "eval_every_s": 0.0, "preview_every_s": 0.0, "final_eval": False}

VIDEO = {"dataset": "shapes_video", "method": "video_colorization",
         "dataset_options": {"train_clips": 4, "test_clips": 2, "frames": 6, "image_size": 32, "objects": 2},
         "method_options": {"bins": 8, "frame_gap": 1, "references": 2}, "batch_size": 6, "steps": 2,
         "minutes": 0.0, "device": "cpu", "eval_every_s": 0.0, "preview_every_s": 0.0, "final_eval": False}


def trained(tmp_path_factory, name: str, settings: dict) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / name
    assert make_session(RunConfig.with_method_defaults(settings), run_dir).run().reason == "completed"
    return run_dir


def shown(window, qtbot, run_dir: Path, view: str, ready: str):
    """The window showing ``run_dir`` with the Pixels dock raised, once ``view`` has read its first ``ready``."""
    window.load_run(run_dir)
    subview = getattr(window.pixels_view, view)
    qtbot.waitUntil(lambda: window.pixels_view.current is subview, timeout=WAIT_MS)
    window.pixels_dock.raise_()
    qtbot.waitUntil(lambda: getattr(subview, ready) is not None, timeout=WAIT_MS)
    return subview


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "dense", DENSE)


@pytest.fixture
def descriptors(window, qtbot, dense_run):
    return shown(window, qtbot, dense_run, "descriptors", "pair")


def click(explorer, qtbot, pane: int, x: int, y: int) -> None:
    explorer.match = None
    qtbot.mouseClick(explorer.panes.viewport(), Qt.MouseButton.LeftButton,
                     pos=explorer.panes.pixel_position(pane, x, y))
    qtbot.waitUntil(lambda: explorer.match is not None, timeout=WAIT_MS)


def test_a_clicked_pixel_shows_its_distance_heat_map_and_marks_the_best_match(descriptors, qtbot):
    pair = descriptors.pair
    assert pair.images.shape[0] == 2 and pair.rgb.shape == (2, 3, 16, 16) and pair.b_from_a is not None
    assert descriptors.panes.images[DESC_A].image.shape == (16, 16, 3)
    click(descriptors, qtbot, A, 5, 9)
    match = descriptors.match
    assert match.query == (5, 9) and match.distances.shape == (16, 16)
    row, column = np.unravel_index(match.distances.argmin(), match.distances.shape)
    assert match.best == (column, row)
    assert (column, row) in descriptors.panes.marked(B) and (column, row) in descriptors.panes.marked(HEAT)
    assert descriptors.panes.marked(A) == [(5, 9)]
    assert descriptors.panes.images[HEAT].image.shape == (16, 16, 3)
    assert match.truth is not None and "best match" in descriptors.status.text()

    descriptors.panes.boxes[A].scaleBy((0.4, 0.4))  # zoomed in: the click still lands on the pixel under it
    descriptors.panes.boxes[A].translateBy((2, 1))
    qtbot.wait(50)
    click(descriptors, qtbot, A, 8, 7)
    assert descriptors.match.query == (8, 7)


def test_the_next_test_image_as_b_and_another_image(descriptors, qtbot):
    descriptors.other.setCurrentIndex(1)
    descriptors.other.activated.emit(1)
    qtbot.waitUntil(lambda: descriptors.pair is not None and descriptors.pair.b_from_a is None, timeout=WAIT_MS)
    first = descriptors.pair
    descriptors.index.setValue(3)
    qtbot.waitUntil(lambda: descriptors.pair is not first, timeout=WAIT_MS)
    assert descriptors.index.maximum() == 15
    click(descriptors, qtbot, DESC_A, 2, 3)
    assert descriptors.match.truth is None and descriptors.match.query == (2, 3)


def test_another_method_shows_the_sentence(window, tmp_path):
    window.pixels_view.show_run(tmp_path, {"method": "simclr"})
    assert window.pixels_view.current is None and window.pixels_view.hint.text() == HINT


@pytest.fixture(scope="module")
def video_run(tmp_path_factory) -> Path:
    return trained(tmp_path_factory, "video", VIDEO)


@pytest.fixture
def tracking(window, qtbot, video_run):
    return shown(window, qtbot, video_run, "tracking", "clip")


def test_a_clicked_object_is_tracked_through_the_clip_and_can_be_played_and_scrubbed(tracking, qtbot):
    clip = tracking.clip
    assert clip.frames.shape == (6, 3, 32, 32) and tracking.slider.maximum() == 5
    ys, xs = np.nonzero((clip.instances[0] == 1).numpy())
    x, y = int(np.median(xs)), int(np.median(ys))
    if clip.instances[0, y, x] != 1:
        x, y = int(xs[0]), int(ys[0])
    qtbot.mouseClick(tracking.panes.viewport(), Qt.MouseButton.LeftButton,
                     pos=tracking.panes.pixel_position(FIRST, x, y))
    qtbot.waitUntil(lambda: tracking.tracking is not None, timeout=WAIT_MS)
    result = tracking.tracking
    assert result.masks.shape == (6, 32, 32) and result.overlays.shape == (6, 3, 32, 32)
    assert (result.masks[0].bool() == (clip.instances[0] == 1)).all()  # the clicked object, given in frame 0
    frames, j = tracking.j_curve.getData()
    assert list(frames) == [1, 2, 3, 4, 5] and ((0 <= j) & (j <= 1)).all()
    assert len(tracking.copy_curve.getData()[0]) == 5 and "mean J" in tracking.status.text()

    tracking.slider.setValue(3)
    assert np.array_equal(tracking.panes.images[CURRENT].image, result.overlays[3].permute(1, 2, 0).numpy())
    assert tracking.frame_label.text() == "frame 3 / 5"
    tracking.play_button.click()
    qtbot.waitUntil(lambda: tracking.slider.value() != 3, timeout=WAIT_MS)
    tracking.play_button.click()
    assert not tracking.timer.isActive() and tracking.play_button.text() == "Play"


def test_a_click_on_the_background_says_so(tracking, qtbot):
    ys, xs = np.nonzero((tracking.clip.instances[0] == 0).numpy())
    tracking.click(int(xs[0]), int(ys[0]))
    qtbot.waitUntil(lambda: "background" in tracking.status.text(), timeout=WAIT_MS)
    assert tracking.tracking is None


def test_a_live_dense_run_is_followed_and_described_when_the_panel_shows(window, qtbot):
    window.setup.set_values({**DENSE, "steps": 4})
    window.start_action.trigger()
    qtbot.waitUntil(lambda: not window.training_alive and window.pixels_view.current is window.pixels_view.descriptors,
                    timeout=WAIT_MS)
    window.pixels_dock.hide()
    assert window.pixels_view.descriptors.pair is None  # computed only once on screen
    window.dock_actions[window.pixels_dock].trigger()  # its View menu entry (Ctrl+7)
    qtbot.waitUntil(lambda: window.pixels_view.descriptors.pair is not None, timeout=WAIT_MS)
    assert "dense_descriptors" in window.pixels_view.descriptors.pair.title
    window.light_action.trigger()
    assert window.pixels_view.descriptors.panes.backgroundBrush().color().name() == "#ffffff"


def test_without_ground_truth_a_click_picks_the_connected_region_of_its_colour():
    import torch

    from gui.tracking_view import colour_region

    frame = torch.zeros(3, 8, 8, dtype=torch.uint8)
    frame[0, 1:4, 1:4] = 200  # a red square
    frame[0, 5:7, 5:7] = 200  # another, not connected to it
    frame[1, 2, 2] = 20  # a slightly different shade inside the first
    region = colour_region(frame, 1, 1)
    assert region.sum() == 9 and region[2, 2] and not region[5, 5]
