"""The evaluation panel's computed reports: the confusion matrix with per-class accuracy, and the label-fraction
curve. Each is computed on request, off the GUI thread, with progress and a Cancel button."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFontMetrics
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from engine.errors import describe
from gui.jobs import BackgroundJob
from gui.theme import Style

LINES = {"probe": ("linear probe (frozen)", "knn"), "finetuned": ("fine-tuned", "loss"),
         "supervised": ("trained from scratch", "random")}  # curve -> (legend, theme colour role)


def table(rows: list[list[str]], columns: list[str], row_names: list[str] | None = None) -> QTableWidget:
    """A read-only table of strings."""
    widget = QTableWidget(len(rows), len(columns))
    widget.setHorizontalHeaderLabels(columns)
    if row_names is not None:
        widget.setVerticalHeaderLabels(row_names)
    widget.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    widget.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)  # fonts change too
    fill(widget, rows)
    return widget


def fill(widget: QTableWidget, rows: list[list[str]]) -> None:
    widget.setRowCount(len(rows))
    for r, row in enumerate(rows):
        for c, text in enumerate(row):
            item = QTableWidgetItem(text)
            item.setTextAlignment(Qt.AlignmentFlag.AlignCenter)
            widget.setItem(r, c, item)


def percent(value: float | None) -> str:
    return "-" if value is None or np.isnan(value) else f"{100 * value:.1f}%"


class ComputeControls(QWidget):
    """Compute and Cancel buttons, a progress bar and a status line, driving one BackgroundJob."""

    def __init__(self, job: BackgroundJob, text: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.job = job
        self.compute = QPushButton(text)
        self.cancel = QPushButton("Cancel")
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel()
        self.status.setWordWrap(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.compute, self.cancel, self.progress):
            layout.addWidget(widget)
        layout.addWidget(self.status, 1)
        self.cancel.clicked.connect(self.stop)
        job.progress.connect(lambda fraction: self.progress.setValue(round(100 * fraction)))
        self._idle()

    def run(self, work, on_result: Callable[[Any], None], busy: str, determinate: bool = True) -> None:
        self.compute.setEnabled(False)
        self.cancel.setEnabled(True)
        self.progress.setVisible(True)
        self.progress.setRange(0, 100 if determinate else 0)
        self.progress.setValue(0)
        self.status.setText(busy)
        self.job.start(work, lambda value: self._done(on_result, value), self._failed)

    def stop(self) -> None:
        self.job.cancel()
        self._idle()
        self.status.setText("Cancelled")

    def _done(self, on_result: Callable[[Any], None], value: Any) -> None:
        self._idle()
        self.status.setText("")
        on_result(value)

    def _failed(self, error: Exception) -> None:
        self._idle()
        self.status.setText(f"Failed: {describe(error)}")

    def _idle(self) -> None:
        self.compute.setEnabled(True)
        self.cancel.setEnabled(False)
        self.progress.setVisible(False)


class ClassReportView(QWidget):
    """The confusion matrix of the probe's or kNN's test predictions, with each class's accuracy."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = None
        self.report = None  # engine ClassReport
        self.classifier = QComboBox()
        self.classifier.addItem("linear probe", "probe")
        self.classifier.addItem("kNN (k=20)", "knn")
        self.controls = ComputeControls(BackgroundJob(self, "class-report"), "Compute")
        self.title = QLabel("The test split's confusion matrix (rows: true class; columns: predicted)")
        self.title.setWordWrap(True)
        self.matrix = table([], [])
        top = QHBoxLayout()
        top.addWidget(self.classifier)
        top.addWidget(self.controls, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.matrix, 1)
        self.controls.compute.clicked.connect(self.compute)

    def compute(self) -> None:
        from engine.explore.report import class_report

        source, classifier = self.source, self.classifier.currentData()
        if source is None:
            self.controls.status.setText("Start or open a run first")
            return
        def work(cancelled, progress):
            subject = source.take(cancelled)
            return class_report(subject.snapshot, subject.dataset, classifier, cancelled)

        self.controls.run(work, self.show_report, "Embedding both splits and fitting the classifier ...",
                          determinate=False)

    def show_report(self, report: Any) -> None:
        self.report = report
        names = report.class_names
        confusion = report.confusion
        rows = [[str(v) for v in row] + [percent(acc)] for row, acc in zip(confusion, report.per_class)]
        self.matrix.setColumnCount(len(names) + 1)
        self.matrix.setHorizontalHeaderLabels([*names, "accuracy"])
        self.matrix.setRowCount(len(names))
        self.matrix.setVerticalHeaderLabels(names)
        fill(self.matrix, rows)
        share = confusion / np.maximum(confusion.sum(1, keepdims=True), 1)
        for r in range(len(names)):
            for c in range(len(names)):
                colour = QColor(0, 114, 178, int(230 * share[r, c]))
                self.matrix.item(r, c).setBackground(QBrush(colour))
        name = self.classifier.itemText(self.classifier.findData(report.classifier))
        self.title.setText(f"{name}: {percent(report.accuracy)} top-1 on the test split "
                           "(rows: true class; columns: predicted)")


class LabelFractionView(QWidget):
    """Accuracy with 1 %, 10 % and 100 % of the labels: frozen probe, fine-tuned and trained from scratch."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source = None
        self.results: list[Any] = []
        self.controls = ComputeControls(BackgroundJob(self, "label-fractions"), "Compute (minutes)")
        self.controls.compute.setToolTip("Trains two small networks per fraction: a few minutes of CPU")
        self.table = table([], ["labels", *(text for text, _ in LINES.values())])
        self.plot = pg.PlotWidget()
        self.plot.setLogMode(x=True, y=False)
        self.plot.setMenuEnabled(False)
        self.legend = self.plot.addLegend(offset=(10, 10))
        self.curves = {key: self.plot.plot(name=text, symbol="o") for key, (text, _) in LINES.items()}
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.table)
        layout.addWidget(self.plot, 1)
        self.controls.compute.clicked.connect(self.compute)
        self.apply_style(Style())

    def compute(self) -> None:
        from engine.explore.label_fractions import label_fraction_curve

        source = self.source
        if source is None:
            self.controls.status.setText("Start or open a run first")
            return

        def work(cancelled, progress):
            subject = source.take(cancelled)
            return label_fraction_curve(subject.snapshot, subject.dataset, cancelled=cancelled, progress=progress)

        self.controls.run(work, self.show_results, "Fine-tuning and training from scratch on each fraction ...")

    def show_results(self, results: list[Any]) -> None:
        self.results = results
        self.table.setVerticalHeaderLabels([f"{r.fraction:.0%}" for r in results])
        fill(self.table, [[f"{r.labels:,}", *(percent(getattr(r, key)) for key in LINES)] for r in results])
        fractions = np.array([100 * r.fraction for r in results])
        for key, curve in self.curves.items():
            curve.setData(fractions, [100 * getattr(r, key) for r in results])

    def apply_style(self, style: Style) -> None:
        style_plot(self.plot.getPlotItem(), style, "labels used (%)", "test top-1 (%)")
        self.plot.setBackground(style.background)
        for key, curve in self.curves.items():
            colour = style.color(LINES[key][1])
            curve.setPen(pg.mkPen(colour, width=style.line_width))
            curve.setSymbolBrush(colour)
            curve.setSymbolSize(style.symbol_size)
        self.legend.setLabelTextColor(style.foreground)
        self.legend.setLabelTextSize(f"{style.font_pt}pt")


def style_plot(plot: pg.PlotItem, style: Style, bottom: str, left: str) -> None:
    """Axis colours, fonts and labels of a small chart in the panel."""
    text = {"color": style.foreground.name(), "font-size": f"{style.font_pt}pt"}
    for name in ("left", "bottom"):
        axis = plot.getAxis(name)
        axis.setPen(style.foreground)
        axis.setTextPen(style.foreground)
        font = axis.font()
        font.setPointSize(style.font_pt)
        axis.setTickFont(font)
        # tick labels' room from the font (pyqtgraph's own text space kept the small font's after presenter mode)
        axis.setStyle(autoExpandTextSpace=False, tickTextHeight=QFontMetrics(font).height(),
                      tickTextWidth=QFontMetrics(font).horizontalAdvance("100"))
    plot.setLabel("bottom", bottom, **text)
    plot.setLabel("left", left, **text)
    plot.showGrid(y=True, alpha=0.2)
