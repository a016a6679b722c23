"""The plots stay bounded however long the run, and reuse their items."""
from __future__ import annotations

import numpy as np
import pytest

from gui.plots import DecimatingSeries, TrainingPlots


def test_a_million_points_fit_in_the_capacity_and_keep_their_shape():
    series = DecimatingSeries(capacity=1024)
    steps = np.arange(1, 1_000_001)
    for chunk in np.array_split(steps, 997):  # uneven chunks, as Step events come
        series.extend(chunk, np.sqrt(chunk))
    x, y = series.arrays()
    assert len(x) <= 1025 and series.stride == 1024
    assert np.all(np.diff(x) > 0) and x[-1] == pytest.approx(steps[-512:].mean(), rel=1e-3)
    assert np.interp(500_000, x, y) == pytest.approx(np.sqrt(500_000), rel=1e-3)


def test_a_few_points_are_kept_as_they_are():
    series = DecimatingSeries(capacity=8)
    series.extend([1, 2, 3], [0.5, 0.4, 0.3])
    x, y = series.arrays()
    assert x.tolist() == [1, 2, 3] and y.tolist() == [0.5, 0.4, 0.3]


def test_updates_reuse_the_plot_items(qtbot):
    plots = TrainingPlots()
    qtbot.addWidget(plots)
    items = list(plots.loss_plot.items)
    for start in range(0, 200_000, 500):
        steps = np.arange(start + 1, start + 501)
        plots.add_losses(steps, 1 / np.sqrt(steps))
        plots.add_lr(steps[-1:], [1e-3])
    plots.add_accuracy(200_000, 0.5, {"raw": 0.3, "random": 0.2})
    qtbot.waitUntil(lambda: plots.raw_loss.getData()[0] is not None)
    assert list(plots.loss_plot.items) == items and plots.steps_received == 200_000
    assert len(plots.raw_loss.getData()[0]) <= plots.loss.capacity + 1
    assert plots.baseline_lines["raw"].value() == pytest.approx(30.0)


def test_a_pretext_tasks_own_accuracy_is_drawn_beside_knn_only_when_logged(qtbot):
    from engine import events

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    plots.on_event(events.Step(10, 0.1, (9, 10), (2.0, 1.9), 1e-3, 100.0, 1.0, None, {}))
    plots._draw()
    legend = lambda: [label.text for _, label in plots.accuracy_legend.items]  # noqa: E731
    assert not plots.pretext_curve.isVisible() and "pretext task (training batches)" not in legend()
    for step, accuracy in ((20, 0.3), (30, 0.5), (40, 0.7)):
        plots.on_event(events.Step(step, 0.1, (step,), (1.5,), 1e-3, 100.0, 1.0, None, {"pretext_acc": accuracy}))
    plots._draw()
    x, y = plots.pretext_curve.getData()
    assert plots.pretext_curve.isVisible() and list(x) == [20, 30, 40]
    assert "pretext task (training batches)" in legend()
    assert y[0] == pytest.approx(30.0) and 30.0 < y[-1] < 70.0 and np.all(np.diff(y) > 0)  # percent, smoothed
    plots.reset()
    assert "pretext task (training batches)" not in legend()


def test_pseudo_label_nmi_is_drawn_at_the_relabelling_steps_once_logged(qtbot):
    from engine import events

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    legend = lambda: [label.text for _, label in plots.accuracy_legend.items]  # noqa: E731
    plots.on_event(events.Step(10, 0.1, (10,), (2.0,), 1e-3, 100.0, 1.0, None, {"pretext_acc": 0.1}))
    plots._draw()
    assert not plots.score_curves["nmi_labels"].isVisible() and "NMI of pseudo-labels and classes" not in legend()
    for step, logs in ((20, {"nmi_labels": 0.1}), (30, {}), (40, {"nmi_labels": 0.3, "nmi_previous": 0.8})):
        plots.on_event(events.Step(step, 0.1, (step,), (1.5,), 1e-3, 100.0, 1.0, None, {"pretext_acc": 0.2, **logs}))
    plots._draw()
    x, y = plots.score_curves["nmi_labels"].getData()
    assert list(x) == [20, 40] and list(y) == pytest.approx([10.0, 30.0])  # in percent, as logged
    assert list(plots.score_curves["nmi_previous"].getData()[1]) == pytest.approx([80.0])
    assert {"NMI of pseudo-labels and classes", "NMI of pseudo-labels and previous"} <= set(legend())
    plots.reset()
    assert not any(text.startswith("NMI") for text in legend())


def test_a_text_runs_own_score_is_the_curve_with_its_random_vectors_and_no_pixel_baseline(qtbot):
    from engine import events

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    legend = lambda: [label.text for _, label in plots.accuracy_legend.items]  # noqa: E731
    assert not any(text.startswith(("raw pixels", "random")) for text in legend())  # no baseline known yet
    baselines = {"random": {"attribute_neighbours": 0.187}}
    for step, score in ((100, 0.5), (200, 0.8)):
        plots.on_event(events.Eval(step, {"attribute_neighbours": score, "analogy_acc": 0.1}, baselines))
    plots._draw()
    assert list(plots.knn_curve.getData()[1]) == pytest.approx([50.0, 80.0])
    assert plots.baseline_lines["random"].value() == pytest.approx(18.7)
    assert not plots.baseline_lines["raw"].isVisible()
    assert {"attribute-neighbour score", "random vectors 18.7%"} <= set(legend())
    assert not any(text.startswith(("raw pixels", "kNN", "random network")) for text in legend())
    plots.reset()  # the next run's images: kNN beside both pixel baselines again
    plots.on_event(events.Eval(0, {"knn": 0.3}, {"raw": {"knn": 0.2}, "random": {"knn": 0.25}}))
    assert {"kNN (online)", "raw pixels 20.0%", "random network 25.0%"} <= set(legend())
    assert not any(text.startswith(("attribute", "random vectors")) for text in legend())


def test_a_video_runs_tracking_j_is_the_curve_beside_its_four_baselines(qtbot):
    from engine import events

    plots = TrainingPlots()
    qtbot.addWidget(plots)
    legend = lambda: [label.text for _, label in plots.accuracy_legend.items]  # noqa: E731
    baselines = {"copy": {"J": 0.25, "keypoint_px": 7.8}, "random": {"J": 0.13}, "raw": {"J": 0.69},
                 "gray": {"J": 0.29}}
    plots.on_event(events.Eval(100, {"J": 0.58, "keypoint_px": 5.4}, baselines))
    plots._draw()
    assert list(plots.knn_curve.getData()[1]) == pytest.approx([58.0])
    assert {"mean J, tracking held-out clips", "first frame copied 25.0%", "random network 13.0%",
            "raw colours 69.0%", "raw lightness 29.0%"} <= set(legend())
    assert all(plots.baseline_lines[name].isVisible() for name in baselines)


def test_the_final_evaluation_message_names_each_baseline_as_the_plot_does():
    from gui.status_bar import final_evaluation

    video = final_evaluation({"J": 0.577, "keypoint_px": 5.36},
                             {"copy": {"J": 0.25, "keypoint_px": 7.83}, "raw": {"J": 0.688, "keypoint_px": 4.44}})
    assert video == ("Final evaluation: J 57.7%, keypoint_px 5.36 px; "
                     "baselines' J: first frame copied 25.0%, raw colours 68.8%")
    image = final_evaluation({"knn": 0.62, "probe": 0.7}, {"raw": {"knn": 0.29}, "random": {"knn": 0.17}})
    assert image.endswith("; baselines' knn: raw pixels 29.0%, random network 17.0%")
    assert "random vectors" in final_evaluation({"analogy_acc": 0.4}, {"random": {"analogy_acc": 0.01}})
    assert final_evaluation({"match_2px": 0.7}, {}) == "Final evaluation: match_2px 70.0%"


def test_a_finished_run_gives_the_fields_it_no_longer_needs_room_to_the_final_sentence(qtbot):
    from engine import events
    from gui.status_bar import RunStatusBar

    bar = RunStatusBar()
    qtbot.addWidget(bar)
    bar.show()
    assert not bar.labels["speed"].isVisible()  # no run yet (and after clear_run: an opened run)
    bar.on_event(events.Started("/runs/a", {"method": "simclr"}, "cpu", 10, "shapes", 100, 32, 3))
    assert bar.labels["speed"].isVisible() and bar.labels["eta"].isVisible()
    bar.on_event(events.Finished(5, "completed", {"knn": 0.5}))
    assert not any(bar.labels[name].isVisible() for name in ("speed", "eta", "epoch", "device"))
    assert bar.labels["step"].isVisible() and bar.labels["checkpoint"].isVisible()


def test_the_status_bar_shows_a_rate_not_known_yet_as_a_dash(qtbot):
    from gui.status_bar import RunStatusBar

    bar = RunStatusBar()
    qtbot.addWidget(bar)
    bar.show_step(3, 0.1, 0.0, None)  # a followed run's first poll: no rate yet
    assert bar.labels["speed"].text() == "- img/s"
    bar.show_step(4, 0.1, 1234.4, 5.0)
    assert bar.labels["speed"].text() == "1,234 img/s"
