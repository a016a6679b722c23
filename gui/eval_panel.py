"""The evaluation panel: kNN and linear-probe top-1 beside the raw-pixel and random-network baselines (a table
and a bar chart), the confusion matrix with per-class accuracy, the label-fraction curve, and the runs evaluated
on the same data. Run folders are read off the GUI thread."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractScrollArea,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.eval_reports import ClassReportView, LabelFractionView, fill, percent, style_plot, table
from gui.jobs import BackgroundJob
from gui.theme import Style

ROWS = {"run": ("this run", "knn"), "raw": ("raw pixels", "raw"), "random": ("random network", "random")}
CLASSIFIERS = {"knn": "kNN", "probe": "linear probe"}
# what each run trained on and its scores first, where a narrow dock shows them; the long folder name last
RUN_COLUMNS = ["trained on", "kNN", "probe", "random kNN", "random probe", "raw kNN", "step", "method", "backbone",
               "run"]


def swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(16, 16)
    pixmap.fill(colour)
    return QIcon(pixmap)


class AccuracyView(QWidget):
    """The latest evaluation of the run beside its two baselines. The table's row names, each with its bars' colour,
    are the chart's legend: a legend in the chart covered the tall bars, and one under it did not fit a narrow dock."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.scores: dict[str, dict[str, float]] = {}  # row (run, raw, random) -> classifier -> top-1
        self.title = QLabel("No evaluation yet: a run evaluates every few seconds while it trains.")
        self.title.setWordWrap(True)
        # the rows exist from the start, so that they keep their names (rows a table gains later are numbered)
        self.table = table([["-"] * len(CLASSIFIERS) for _ in ROWS], list(CLASSIFIERS.values()),
                           [text for text, _ in ROWS.values()])
        self.table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.table.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)  # the chart takes the rest
        self.chart = pg.PlotWidget()
        self.chart.setMenuEnabled(False)
        self.chart.setMouseEnabled(x=False, y=False)
        self.bars = {row: pg.BarGraphItem(x=[], height=[], width=0.25) for row in ROWS}
        for bar in self.bars.values():
            self.chart.addItem(bar)
        self.chart.getAxis("bottom").setTicks([list(enumerate(CLASSIFIERS.values()))])
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.table)
        layout.addWidget(self.chart, 1)
        self.apply_style(Style())

    def clear(self) -> None:
        self.scores = {}
        self.title.setText("No evaluation yet: a run evaluates every few seconds while it trains.")
        fill(self.table, [["-"] * len(CLASSIFIERS) for _ in ROWS])
        for bar in self.bars.values():
            bar.setOpts(x=[], height=[])

    def show_scores(self, step: int, scores: dict[str, float], baselines: dict[str, dict[str, float]],
                    final: bool) -> None:
        self.scores = {"run": dict(scores), **{name: dict(values) for name, values in baselines.items()}}
        kind = "final evaluation (full splits)" if final else "online evaluation"
        self.title.setText(f"Step {step:,}, {kind}: top-1 on the test split")
        fill(self.table, [[percent(self.scores.get(row, {}).get(c)) for c in CLASSIFIERS] for row in ROWS])
        for i, (row, bar) in enumerate(self.bars.items()):
            found = [(x, self.scores.get(row, {}).get(c)) for x, c in enumerate(CLASSIFIERS)]
            found = [(x, v) for x, v in found if v is not None]
            bar.setOpts(x=[x + (i - 1) * 0.27 for x, _ in found], height=[100 * v for _, v in found])
        self.chart.setXRange(-0.6, len(CLASSIFIERS) - 0.4, padding=0)
        self.chart.setYRange(0, 100, padding=0)

    def apply_style(self, style: Style) -> None:
        self.chart.setBackground(style.background)
        style_plot(self.chart.getPlotItem(), style, "", "test top-1 (%)")
        for r, (row, bar) in enumerate(self.bars.items()):
            colour = style.color(ROWS[row][1])
            bar.setOpts(brush=pg.mkBrush(colour), pen=pg.mkPen(colour))
            self.table.verticalHeaderItem(r).setIcon(swatch(colour))


class RunsView(QWidget):
    """Runs in the same folder evaluated on the same data (dataset, options, image size), newest first: a run on one
    image's crops (single_image) beside runs on its whole source dataset."""

    current_found = Signal(object)  # the shown run's RunSummary, or None if it has no evaluation yet

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.run_dir: Path | None = None
        self.summaries: list[Any] = []  # engine RunSummary, as shown
        self.job = BackgroundJob(self, "runs-table")
        self.title = QLabel("Runs on the same data")
        self.title.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.table = table([], RUN_COLUMNS)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.table, 1)
        self.refresh_button.clicked.connect(self.refresh)

    def show_run(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.refresh()

    def refresh(self) -> None:
        from engine.explore.report import runs_table

        if self.run_dir is None:
            return
        root = self.run_dir.parent
        self.job.start(lambda cancelled, progress: runs_table(root), self._show,
                       lambda error: self.title.setText(f"Cannot read the runs in {root}: {error}"))

    def _show(self, summaries: list[Any]) -> None:
        current = next((s for s in summaries if s.run_dir == self.run_dir), None)
        same = [s for s in summaries if current is None or s.data == current.data]
        self.summaries = same
        where = "" if current is None else " (evaluated on the same data as this run)"
        self.title.setText(f"{len(same)} evaluated run(s) in {self.run_dir.parent}{where}; this run is in bold")
        fill(self.table, [[s.dataset, percent(s.scores.get("knn")), percent(s.scores.get("probe")),
                           percent(s.baselines.get("random", {}).get("knn")),
                           percent(s.baselines.get("random", {}).get("probe")),
                           percent(s.baselines.get("raw", {}).get("knn")), f"{s.step:,}", s.method, s.backbone,
                           s.run_dir.name] for s in same])
        for r, summary in enumerate(same):
            if summary.run_dir == self.run_dir:
                for c in range(self.table.columnCount()):
                    font = self.table.item(r, c).font()
                    font.setBold(True)
                    self.table.item(r, c).setFont(font)
        self.current_found.emit(current)


class EvalPanel(QTabWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.accuracy = AccuracyView()
        self.classes = ClassReportView()
        self.fractions = LabelFractionView()
        self.runs = RunsView()
        self.addTab(self.accuracy, "Accuracy")
        self.addTab(self.classes, "Per class")
        self.addTab(self.fractions, "Label fractions")
        self.addTab(self.runs, "Runs")
        self.runs.current_found.connect(self._run_summary)

    def set_source(self, source: Any) -> None:
        """Where the per-class and label-fraction reports take their encoder (gui.snapshots)."""
        self.classes.source = self.fractions.source = source

    def show_run(self, run_dir: Path) -> None:
        self.accuracy.clear()
        self.runs.show_run(run_dir)

    def add_eval(self, event: Any) -> None:
        """An engine Eval event of the run being trained."""
        if "knn" in event.scores:
            self.accuracy.show_scores(event.step, event.scores, event.baselines, event.final)
        if event.final:
            self.runs.refresh()

    def _run_summary(self, summary: Any) -> None:
        if summary is not None and not self.accuracy.scores:
            self.accuracy.show_scores(summary.step, summary.scores, summary.baselines, summary.final)

    def apply_style(self, style: Style) -> None:
        self.accuracy.apply_style(style)
        self.fractions.apply_style(style)
