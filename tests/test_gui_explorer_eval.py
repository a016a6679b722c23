"""The evaluation panel (offscreen): a saved run's accuracies beside its baselines, the confusion matrix, the
runs table, and a label-fraction curve that can be cancelled."""
from __future__ import annotations

import numpy as np
from test_gui_explorer import WAIT_MS, saved_run  # noqa: F401  (the module's shared run folder)

from gui.eval_panel import RUN_COLUMNS


def test_a_saved_run_shows_accuracy_baselines_and_the_runs_table(window, qtbot, saved_run):  # noqa: F811
    panel = window.explorer.evaluation
    window.load_run(saved_run)
    qtbot.waitUntil(lambda: bool(panel.accuracy.scores), timeout=WAIT_MS)
    scores = panel.accuracy.scores
    assert set(scores) == {"run", "raw", "random"} and all(0 <= s["knn"] <= 1 for s in scores.values())
    assert panel.accuracy.table.item(1, 0).text() == f"{100 * scores['raw']['knn']:.1f}%"
    heights = panel.accuracy.bars["raw"].opts["height"]
    assert np.isclose(heights[0], 100 * scores["raw"]["knn"])
    assert [s.run_dir for s in panel.runs.summaries] == [saved_run]
    assert panel.runs.table.item(0, RUN_COLUMNS.index("run")).text() == saved_run.name


def test_the_confusion_matrix_counts_every_test_image(window, qtbot, saved_run):  # noqa: F811
    view = window.explorer.evaluation.classes
    window.load_run(saved_run)
    qtbot.waitUntil(lambda: view.source is not None, timeout=WAIT_MS)
    view.classifier.setCurrentIndex(view.classifier.findData("knn"))
    view.controls.compute.click()
    qtbot.waitUntil(lambda: view.report is not None, timeout=WAIT_MS)
    confusion = view.report.confusion
    assert confusion.shape == (10, 10) and confusion.sum() == 256 and view.report.classifier == "knn"
    assert view.matrix.rowCount() == 10 and view.matrix.columnCount() == 11
    assert view.matrix.item(0, 10).text().endswith("%") and "top-1" in view.title.text()


def test_the_label_fraction_curve_reports_progress_and_can_be_cancelled(window, qtbot, saved_run):  # noqa: F811
    view = window.explorer.evaluation.fractions
    window.load_run(saved_run)
    qtbot.waitUntil(lambda: view.source is not None, timeout=WAIT_MS)
    view.controls.compute.click()
    assert view.controls.cancel.isEnabled() and not view.controls.compute.isEnabled()
    qtbot.waitUntil(lambda: view.controls.progress.value() > 0, timeout=WAIT_MS)
    view.controls.cancel.click()
    assert view.controls.compute.isEnabled() and view.controls.status.text() == "Cancelled"
    qtbot.wait(500)
    assert view.results == []
