"""The Pixels panel in the window (offscreen): a saved dense_descriptors run's pixel clicked in image A gives the heat
map of its descriptor distance over B whose minimum is the marked best match, at any zoom; another method's run
shows the panel's sentence."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import Qt

from engine.run import RunConfig, make_session
from gui.pixels_view import DESC_A, HEAT, HINT, A, B

WAIT_MS = 30_000
DENSE = {"dataset": "shapes", "dataset_options": {"train_size": 64, "test_size": 16, "image_size": 16},
         "method": "dense_descriptors", "batch_size": 8, "steps": 6, "minutes": 0.0, "device": "cpu",
         "eval_every_s": 0.0, "preview_every_s": 0.0, "final_eval": False}


@pytest.fixture(scope="module")
def dense_run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "dense"
    assert make_session(RunConfig.with_method_defaults(DENSE), run_dir).run().reason == "completed"
    return run_dir


@pytest.fixture
def descriptors(window, qtbot, dense_run):
    """The window showing ``dense_run`` with the Pixels dock raised and the first pair described."""
    window.load_run(dense_run)
    qtbot.waitUntil(lambda: window.pixels_view.current is window.pixels_view.descriptors, timeout=WAIT_MS)
    window.pixels_dock.raise_()
    qtbot.waitUntil(lambda: window.pixels_view.descriptors.pair is not None, timeout=WAIT_MS)
    return window.pixels_view.descriptors


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
