"""The collapse health view: the collapse monitor's four scores over the steps of the online evaluations, and a
banner that stays up when the engine reports a collapse (until a new run starts).

The scores (engine/eval/collapse.py): the std of the L2-normalised embeddings (Chen & He 2021; 0 when every image
maps to one point), their effective rank (RankMe, Garrido et al. 2023), and alignment and uniformity (Wang & Isola
2020). Like the training plots, every curve is one item updated with ``setData`` from a bounded series.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.plots import DecimatingSeries
from gui.theme import Style

METRICS = {  # score key -> plot title; the plots sit in one row below the training plots, by step
    "std": "std of normalised embeddings",
    "rank": "effective rank",
    "alignment": "alignment (lower: views agree)",
    "uniformity": "uniformity (0: collapsed)",
}


class HealthView(QWidget):
    """Four small plots fed by Eval events, and a collapse banner fed by Warning events."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setVisible(False)
        self.banner.setContentsMargins(8, 6, 8, 6)
        self.no_images = QLabel("The collapse monitor reads the embeddings of single images: a text or video run "
                                "has none (its own scores are on the accuracy plot).")
        self.no_images.setWordWrap(True)
        self.no_images.setContentsMargins(8, 6, 8, 6)
        self.no_images.setVisible(False)
        self.graphs = pg.GraphicsLayoutWidget()
        self.plots: dict[str, pg.PlotItem] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self.series = {key: DecimatingSeries() for key in METRICS}
        for i, key in enumerate(METRICS):
            plot = self.graphs.addPlot(row=0, col=i)
            if i:
                plot.setXLink(self.plots["std"])
            plot.showGrid(x=True, y=True, alpha=0.2)
            plot.setMenuEnabled(False)
            self.plots[key] = plot
            self.curves[key] = plot.plot(symbol="o")
        self.rank_floor = pg.InfiniteLine(angle=0, movable=False)  # the monitor's collapse threshold
        self.rank_floor.setVisible(False)
        self.plots["rank"].addItem(self.rank_floor)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.banner)
        layout.addWidget(self.no_images)
        layout.addWidget(self.graphs, 1)
        self.run_dir: str | None = None
        self.apply_style(Style())

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(900, 200)  # low: the training plots above keep most of the height

    def on_event(self, event: Any) -> None:
        """Takes the engine events it shows: a new run (not a continued one) clears the curves, and any start
        clears the banner; online evaluations add points; a collapse warning raises the banner."""
        from engine import events

        match event:
            case events.Started():
                if event.run_dir != self.run_dir:
                    self.reset()
                self.run_dir = event.run_dir
                self.clear_warning()
                from engine.methods import METHODS

                method = METHODS.get(event.config.get("method", ""))
                self.show_plots(method is None or method.modality == "image")
            case events.Eval(final=False):
                self.add_scores(event.step, event.scores)
            case events.Collapsed():
                self.show_warning(f"step {event.step}: the representation has collapsed ({event.reason})")

    def add_scores(self, step: int, scores: dict[str, float]) -> None:
        for key, series in self.series.items():
            if key in scores:
                series.extend([step], [scores[key]])
                self.curves[key].setData(*series.arrays())
        if "rank" in scores and not self.rank_floor.isVisible():
            from engine.eval.collapse import COLLAPSE_RANK

            self.rank_floor.setValue(COLLAPSE_RANK)
            self.rank_floor.setVisible(True)

    def show_history(self, run_dir: Path, evals: list[dict[str, Any]]) -> None:
        """A saved run's online evaluations (metrics.jsonl's eval lines), drawn as they were during training;
        continuing the run extends them."""
        self.reset()
        self.run_dir = str(run_dir)  # as Started events carry it: continuing the run keeps the curves
        for record in evals:
            if not record.get("final"):
                self.add_scores(record["step"], record["eval"])

    def show_plots(self, shown: bool) -> None:
        """The four plots for an image run; for a text or video run, the sentence that says why there are none."""
        self.graphs.setVisible(shown)
        self.no_images.setVisible(not shown)

    def reset(self) -> None:
        for key, series in self.series.items():
            series.clear()
            self.curves[key].setData([], [])
        self.clear_warning()

    def show_warning(self, message: str) -> None:
        self.banner.setText(f"<b>Collapse warning</b>: {message}. Images now map to (almost) the same embedding; "
                            "compare the method's settings with its paper's (e.g. DINO's centering and sharpening, "
                            "SimSiam's stop-gradient, BYOL's momentum and predictor).")
        self.banner.setVisible(True)

    def clear_warning(self) -> None:
        self.banner.clear()
        self.banner.setVisible(False)

    @property
    def warning_shown(self) -> bool:
        return not self.banner.isHidden()

    def apply_style(self, style: Style) -> None:
        self.graphs.setBackground(style.background)
        font = QFont(self.font())
        font.setPointSize(style.font_pt)
        for key, plot in self.plots.items():
            plot.setTitle(METRICS[key], color=style.foreground.name(), size=f"{style.font_pt}pt")
            for name in ("left", "bottom"):
                axis = plot.getAxis(name)
                axis.setStyle(maxTickLevel=0)
                axis.setPen(style.foreground)
                axis.setTextPen(style.foreground)
                axis.setTickFont(font)
            color = style.color("health")
            curve = self.curves[key]
            curve.setPen(pg.mkPen(color, width=style.line_width))
            curve.setSymbolBrush(color)
            curve.setSymbolPen(color)
            curve.setSymbolSize(style.symbol_size * 0.75)
        self.rank_floor.setPen(pg.mkPen(style.color("collapse"), width=style.line_width, style=Qt.PenStyle.DashLine))
        warning = style.color("collapse")
        self.banner.setStyleSheet(f"background: {warning.name()}; color: {style.background.name()}; "
                                  f"font-size: {style.font_pt + 1}pt;")
