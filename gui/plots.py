"""The live training plots: loss per step with a smoothed line and the learning rate on a second axis; below,
online kNN accuracy beside the raw-pixel and random-network baselines (dashed) and, for a pretext task, the
network's accuracy on its own task (``pretext_acc`` in the step logs, smoothed): a shortcut shows as this curve
rising while kNN does not. Methods that relabel their data (DeepCluster, SeLa) also log how their pseudo-labels
agree with the true classes and with the previous labels (normalised mutual information): drawn there too, once
logged.

Every curve is one plot item created once and updated with ``setData`` from a bounded buffer, and redraws are
coalesced, so a run of a million steps costs what a run of a few thousand does.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QFont, QPainter
from PySide6.QtWidgets import QSizePolicy

from gui.theme import Style

SMOOTHING = 0.9  # weight of the past in the smoothed loss (an exponential moving average, debiased)
REDRAW_MS = 100
# an evaluation's headline score, the first of these its scores hold: the curve's name and its baselines' names
HEADLINES = {
    "knn": ("kNN (online)", {"raw": "raw pixels", "random": "random network"}),
    "attribute_neighbours": ("attribute-neighbour score", {"random": "random vectors"}),
    "analogy_acc": ("analogies right", {"random": "random vectors"}),
    "J": ("mean J, tracking held-out clips", {"copy": "first frame copied", "random": "random network",
                                              "raw": "raw colours", "gray": "raw lightness"}),
}
BASELINES = list(dict.fromkeys(name for _, names in HEADLINES.values() for name in names))
LEGEND_TWO_COLUMNS_PX = 420  # narrower (at the normal font size; scaled with it): the legends in one column
# step logs in [0, 1] drawn in percent on the accuracy plot, each listed in the legend once logged: name -> text
SCORE_LOGS = {"nmi_labels": "NMI of pseudo-labels and classes", "nmi_previous": "NMI of pseudo-labels and previous"}


class DecimatingSeries:
    """(x, y) points in at most ``capacity`` slots. When the slots fill up, neighbouring pairs merge into their
    mean and every later slot averages twice as many points: memory and drawing cost stay bounded however long
    the run (a million steps in 2048 slots: 512 steps a slot)."""

    def __init__(self, capacity: int = 2048):
        if capacity % 2:
            raise ValueError("capacity must be even")
        self.capacity = capacity
        self.clear()

    def clear(self) -> None:
        self._x, self._y = np.empty(self.capacity), np.empty(self.capacity)
        self._filled = 0
        self.stride = 1  # points averaged per slot
        self._pending_x, self._pending_y = np.empty(0), np.empty(0)  # fewer than ``stride`` points

    def extend(self, xs, ys) -> None:
        x = np.concatenate([self._pending_x, np.asarray(xs, dtype=float)])
        y = np.concatenate([self._pending_y, np.asarray(ys, dtype=float)])
        while len(x) >= self.stride:
            if self._filled == self.capacity:
                self._halve()
                continue
            bins = min(len(x) // self.stride, self.capacity - self._filled)
            used, end = bins * self.stride, self._filled + bins
            self._x[self._filled:end] = x[:used].reshape(bins, self.stride).mean(axis=1)
            self._y[self._filled:end] = y[:used].reshape(bins, self.stride).mean(axis=1)
            self._filled, x, y = end, x[used:], y[used:]
        self._pending_x, self._pending_y = x, y

    def _halve(self) -> None:
        half = self._filled // 2
        self._x[:half] = self._x[: 2 * half].reshape(half, 2).mean(axis=1)
        self._y[:half] = self._y[: 2 * half].reshape(half, 2).mean(axis=1)
        self._filled, self.stride = half, self.stride * 2

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The slots, and the mean of the points not yet filling one, so the newest point always shows."""
        x, y = self._x[: self._filled], self._y[: self._filled]
        if len(self._pending_x):
            x = np.append(x, self._pending_x.mean())
            y = np.append(y, self._pending_y.mean())
        return x.copy(), y.copy()

    def __len__(self) -> int:
        return self._filled + bool(len(self._pending_x))


class SmoothedLoss:
    """Debiased exponential moving average of the loss, as TensorBoard's smoothing draws it."""

    def __init__(self) -> None:
        self.mean = self.weight = 0.0

    def update(self, losses) -> list[float]:
        out = []
        for loss in losses:
            self.mean = SMOOTHING * self.mean + (1 - SMOOTHING) * loss
            self.weight = SMOOTHING * self.weight + (1 - SMOOTHING)
            out.append(self.mean / self.weight)
        return out


class TrainingPlots(pg.GraphicsLayoutWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.loss_plot = self.addPlot(row=0, col=0)
        self.loss_legend = self._legend_below(row=1)  # below each plot: a legend never hides a curve or a baseline
        self.accuracy_plot = self.addPlot(row=2, col=0)
        self.accuracy_legend = self._legend_below(row=3)
        self.ci.layout.setRowStretchFactor(0, 5)
        self.ci.layout.setRowStretchFactor(2, 4)
        self.accuracy_plot.setXLink(self.loss_plot)
        self.loss_plot.enableAutoRange(x=False)  # _draw sets it: from step 0, where the first evaluation is
        self.accuracy_plot.enableAutoRange(x=False, y=False)
        for plot in (self.loss_plot, self.accuracy_plot):
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.showAxis("right")
            plot.setMenuEnabled(False)

        self.lr_view = pg.ViewBox()
        self.loss_plot.scene().addItem(self.lr_view)
        self.loss_plot.getAxis("right").linkToView(self.lr_view)
        self.lr_view.setXLink(self.loss_plot)
        self.loss_plot.vb.sigResized.connect(self._align_lr_view)

        self.raw_loss = self.loss_plot.plot()
        self.smooth_loss = self.loss_plot.plot()
        self.lr_curve = pg.PlotDataItem()
        self.lr_view.addItem(self.lr_curve)
        for curve, text in ((self.raw_loss, "loss"), (self.smooth_loss, "loss, smoothed"),
                            (self.lr_curve, "learning rate (right axis)")):
            self.loss_legend.addItem(curve, text)
        self.knn_curve = self.accuracy_plot.plot(symbol="o")
        self.final_knn = self.accuracy_plot.plot(pen=None, symbol="star")
        self.headline = "knn"
        self.accuracy_legend.addItem(self.knn_curve, HEADLINES["knn"][0])
        self.accuracy_legend.addItem(self.final_knn, "final (full splits)")
        self.pretext_curve = self.accuracy_plot.plot()  # in the legend only once a pretext task logs its accuracy
        self.score_curves = {name: self.accuracy_plot.plot(symbol="t") for name in SCORE_LOGS}  # likewise
        self.baseline_lines = {name: pg.InfiniteLine(angle=0, movable=False) for name in BASELINES}
        self.baseline_keys = {name: pg.PlotDataItem() for name in BASELINES}  # legend entries: each line's pen
        for line in self.baseline_lines.values():  # each in the legend once its baseline is known
            self.accuracy_plot.addItem(line)

        self.loss = DecimatingSeries()
        self.smoothed = DecimatingSeries()
        self.lr = DecimatingSeries()
        self.knn = DecimatingSeries()
        self.pretext = DecimatingSeries()
        self.scores = {name: DecimatingSeries() for name in SCORE_LOGS}
        self.smoother = SmoothedLoss()
        self.pretext_smoother = SmoothedLoss()
        self.final: tuple[list[float], list[float]] = ([], [])
        self.steps_received = 0
        self._redraw = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw.timeout.connect(self._draw)
        self.reset()
        self.apply_style(Style())

    def _legend_below(self, row: int) -> pg.LegendItem:
        legend = pg.LegendItem(colCount=2)
        self.ci.addItem(legend, row=row, col=0)
        legend.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        return legend

    def resizeEvent(self, event) -> None:
        """Narrow (the explorer raised beside it): the legends below stack their entries in one column, so that the
        layout never grows wider than the widget and clips the right axis."""
        super().resizeEvent(event)
        self._fit_legend()

    def _fit_legend(self) -> None:
        scale = getattr(self, "font_scale", 1.0)
        for name in ("loss_legend", "accuracy_legend"):
            legend = getattr(self, name, None)  # None while pyqtgraph's constructor resizes
            if legend is not None:
                legend.setColumnCount(2 if self.width() >= LEGEND_TWO_COLUMNS_PX * scale else 1)

    def _align_lr_view(self) -> None:
        self.lr_view.setGeometry(self.loss_plot.vb.sceneBoundingRect())

    # data (not ``clear``: GraphicsLayoutWidget's own clear() removes the plots)
    def reset(self) -> None:
        for series in (self.loss, self.smoothed, self.lr, self.knn, self.pretext, *self.scores.values()):
            series.clear()
        self.smoother = SmoothedLoss()
        self.pretext_smoother = SmoothedLoss()
        self.final = ([], [])
        self.steps_received = 0
        self.show_headline("knn")
        for name, line in self.baseline_lines.items():
            line.setVisible(False)
            self._list(self.baseline_keys[name], False, "")
        self._draw()

    def on_event(self, event: Any) -> None:
        """Losses and the learning rate per step, kNN accuracy per evaluation beside its baselines."""
        from engine import events

        match event:
            case events.Step():
                self.add_losses(event.steps, event.losses)
                self.add_lr([event.step], [event.lr])
                if "pretext_acc" in event.logs:
                    self.add_pretext_accuracy([event.step], [event.logs["pretext_acc"]])
                for name in SCORE_LOGS.keys() & event.logs.keys():
                    self.add_score(name, event.step, event.logs[name])
            case events.Eval():
                headline = next((name for name in HEADLINES if name in event.scores), None)
                if headline is not None:
                    self.show_headline(headline)
                    baselines = {name: scores[headline] for name, scores in event.baselines.items()
                                 if headline in scores}
                    self.add_accuracy(event.step, event.scores[headline], baselines, final=event.final)

    def show_headline(self, name: str) -> None:
        """Name the evaluation curve after the run's headline score (kNN for images, a text run's own score)."""
        if name != self.headline:
            self.headline = name
            self.accuracy_legend.getLabel(self.knn_curve).setText(HEADLINES[name][0])

    def add_losses(self, steps, losses) -> None:
        self.loss.extend(steps, losses)
        self.smoothed.extend(steps, self.smoother.update(losses))
        self.steps_received += len(steps)
        self._changed()

    def add_lr(self, steps, rates) -> None:
        self.lr.extend(steps, rates)
        self._changed()

    def add_pretext_accuracy(self, steps, accuracies) -> None:
        """The pretext task's accuracy (fractions) on training batches, smoothed as the loss is; in percent."""
        self.pretext.extend(steps, [100 * a for a in self.pretext_smoother.update(accuracies)])
        self._changed()

    def add_score(self, name: str, step: int, value: float) -> None:
        """A logged score in [0, 1] (one of SCORE_LOGS), in percent."""
        self.scores[name].extend([step], [100 * value])
        self._changed()

    def add_accuracy(self, step: int, knn: float, baselines: dict[str, float], final: bool = False) -> None:
        """``knn`` and ``baselines`` (name → kNN accuracy, or the headline score) as fractions; in percent."""
        if final:
            self.final[0].append(step)
            self.final[1].append(100 * knn)
        else:
            self.knn.extend([step], [100 * knn])
        names = HEADLINES[self.headline][1]
        for name, value in baselines.items():
            if name in self.baseline_lines:
                self.baseline_lines[name].setValue(100 * value)
                self.baseline_lines[name].setVisible(True)
                self._list(self.baseline_keys[name], True, f"{names[name]} {100 * value:.1f}%")
        self._changed()

    def _changed(self) -> None:
        if not self._redraw.isActive():
            self._redraw.start()

    def _draw(self) -> None:
        self.raw_loss.setData(*self.loss.arrays())
        self.smooth_loss.setData(*self.smoothed.arrays())
        self.lr_curve.setData(*self.lr.arrays())
        self.knn_curve.setData(*self.knn.arrays())
        self.final_knn.setData(*self.final)
        self.pretext_curve.setData(*self.pretext.arrays())
        self._list_when_drawn(self.pretext_curve, self.pretext, "pretext task (training batches)")
        for name, text in SCORE_LOGS.items():
            self.score_curves[name].setData(*self.scores[name].arrays())
            self._list_when_drawn(self.score_curves[name], self.scores[name], text)
        self._fit_ranges()

    def _list_when_drawn(self, curve: pg.PlotDataItem, series: DecimatingSeries, text: str) -> None:
        """``curve`` visible and in the accuracy legend while ``series`` has points, hidden and unlisted before."""
        shown = len(series) > 0
        curve.setVisible(shown)
        self._list(curve, shown, text)

    def _list(self, item: pg.PlotDataItem, shown: bool, text: str) -> None:
        """``item`` in the accuracy legend as ``text`` while ``shown``, not listed otherwise."""
        listed = any(sample.item is item for sample, _ in self.accuracy_legend.items)
        if shown and not listed:
            self.accuracy_legend.addItem(item, text)
        elif shown:
            self.accuracy_legend.getLabel(item).setText(text)
        elif listed:
            self.accuracy_legend.removeItem(item)

    def _fit_ranges(self) -> None:
        last = [series.arrays()[0][-1] for series in (self.loss, self.knn) if len(series)]
        self.loss_plot.setXRange(0, max([*last, *self.final[0], 1]), padding=0.02)
        values = [*self.knn.arrays()[1], *self.final[1], *self.pretext.arrays()[1],
                  *(y for series in self.scores.values() for y in series.arrays()[1]),
                  *(line.value() for line in self.baseline_lines.values() if line.isVisible())]
        low, high = (min(values), max(values)) if values else (0.0, 100.0)
        margin = max(5.0, 0.1 * (high - low))
        self.accuracy_plot.setYRange(max(0.0, low - margin), min(100.0, high + margin), padding=0)

    # look
    def apply_style(self, style: Style) -> None:
        self.setBackground(style.background)
        font = QFont(self.font())
        font.setPointSize(style.font_pt)
        size = f"{style.font_pt}pt"
        text = {"color": style.foreground.name(), "font-size": size}
        for plot in (self.loss_plot, self.accuracy_plot):
            for name in ("left", "bottom", "right"):
                axis = plot.getAxis(name)
                axis.setStyle(maxTickLevel=0)  # grid lines at major ticks only: minor ones cost 5x the paint time
                axis.setPen(style.foreground)
                axis.setTextPen(style.foreground)
                axis.setTickFont(font)
        for side in ("left", "right"):  # equal axis widths line the two plots' steps up
            for plot in (self.loss_plot, self.accuracy_plot):
                plot.getAxis(side).setWidth(int(4.5 * style.font_pt) + 12)
        spacer = self.accuracy_plot.getAxis("right")
        spacer.setPen(style.background)
        spacer.setStyle(showValues=False)
        self.loss_plot.setLabel("left", "loss", **text)
        self.loss_plot.setLabel("right", "learning rate", **{**text, "color": style.color("lr").name()})
        self.accuracy_plot.setLabel("left", "accuracy (%)", **text)
        self.accuracy_plot.setLabel("bottom", "step", **text)
        for legend in (self.loss_legend, self.accuracy_legend):
            legend.setLabelTextSize(size)
            legend.setLabelTextColor(style.foreground)
            for _, label in legend.items:
                label.setText(label.text)  # the two calls above set defaults that only the next setText applies
            legend.setBrush(pg.mkBrush(style.background.red(), style.background.green(), style.background.blue(), 200))
        self.font_scale = style.font_pt / Style().font_pt  # larger fonts need a wider plot for two legend columns
        self._fit_legend()
        width = style.line_width
        loss_color = style.color("loss")
        faint = pg.mkColor(loss_color)
        faint.setAlpha(110)
        self.raw_loss.setPen(pg.mkPen(faint, width=max(1.0, width / 2)))
        self.smooth_loss.setPen(pg.mkPen(loss_color, width=width * 1.5))
        self.lr_curve.setPen(pg.mkPen(style.color("lr"), width=width, style=Qt.PenStyle.DotLine))
        knn = style.color("knn")
        self.knn_curve.setPen(pg.mkPen(knn, width=width))
        self.knn_curve.setSymbolBrush(knn)
        self.knn_curve.setSymbolPen(knn)
        self.knn_curve.setSymbolSize(style.symbol_size)
        self.final_knn.setSymbolBrush(style.color("final"))
        self.final_knn.setSymbolPen(style.color("final"))
        self.final_knn.setSymbolSize(style.symbol_size * 2)
        self.pretext_curve.setPen(pg.mkPen(style.color("pretext"), width=width))
        for name, dash in (("nmi_labels", Qt.PenStyle.SolidLine), ("nmi_previous", Qt.PenStyle.DotLine)):
            curve = self.score_curves[name]
            curve.setPen(pg.mkPen(style.color("nmi"), width=width, style=dash))
            curve.setSymbolBrush(style.color("nmi"))
            curve.setSymbolPen(style.color("nmi"))
            curve.setSymbolSize(style.symbol_size)
        for name, line in self.baseline_lines.items():
            pen = pg.mkPen(style.color(name), width=width, style=Qt.PenStyle.DashLine)
            line.setPen(pen)
            self.baseline_keys[name].setPen(pen)
        self._draw()

    def export(self, path: Path) -> list[Path]:
        """Both plots as ``path`` with .png and .svg suffixes, as they look now."""
        return export_png_svg(self, self.ci, path, "Pretext training plots")


def export_png_svg(widget: pg.GraphicsView, item: pg.GraphicsItem, path: Path, title: str) -> list[Path]:
    """``widget`` as ``path`` with .png (pyqtgraph's exporter of ``item``) and .svg suffixes.

    The SVG is Qt's own rendering of the widget: pyqtgraph 0.14's SVGExporter fails on the paths Qt 6.12
    writes (pyqtgraph issue #3485)."""
    from pyqtgraph.exporters import ImageExporter
    from PySide6.QtSvg import QSvgGenerator

    png, svg = Path(path).with_suffix(".png"), Path(path).with_suffix(".svg")
    ImageExporter(item).export(str(png))
    generator = QSvgGenerator()
    generator.setFileName(str(svg))
    generator.setSize(widget.size())
    generator.setViewBox(widget.rect())
    generator.setTitle(title)
    painter = QPainter(generator)
    try:
        widget.render(painter)
    finally:
        painter.end()
    if not svg.exists():
        raise OSError(f"could not write {svg}")
    return [png, svg]
