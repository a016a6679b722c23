"""The Evaluation tab's accuracy table and bar chart (offscreen): rows named after what they evaluate, and a colour
key that never covers a bar."""
from __future__ import annotations

import pyqtgraph as pg

from gui.eval_panel import AccuracyView

BASELINES = {"raw": {"knn": 0.26, "probe": 0.35}, "random": {"knn": 0.30, "probe": 0.40}}


def test_the_rows_are_named_and_are_the_colour_key_so_that_nothing_covers_the_bars(qtbot):
    view = AccuracyView()
    qtbot.addWidget(view)
    view.resize(380, 450)  # the dock's width in a 1280 x 800 window
    view.show()
    qtbot.waitExposed(view)
    view.show_scores(400, {"knn": 0.52, "probe": 0.99}, BASELINES, final=True)  # a bar up to the top of the chart
    table = view.table
    names = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    assert names == ["this run", "raw pixels", "random network"] and table.item(0, 1).text() == "99.0%"
    for r, bar in enumerate(view.bars.values()):  # each name carries its bars' colour
        key = table.verticalHeaderItem(r).icon().pixmap(16, 16).toImage().pixelColor(8, 8)
        assert key == bar.opts["brush"].color()
    bars = view.chart.getPlotItem().vb.sceneBoundingRect()
    assert not [item for item in view.chart.scene().items() if isinstance(item, pg.LegendItem)
                and item.isVisible() and item.sceneBoundingRect().intersects(bars)]
    view.clear()
    assert table.verticalHeaderItem(0).text() == "this run"


def test_presenter_fonts_fit_the_table_and_the_bars_names(qtbot):
    """Presenter mode's larger font reaches the table after its scores: every column and the chart's tick labels
    grow with it (at 1280 x 800 the columns read "4..." and the bar names were cut in half)."""
    from PySide6.QtGui import QFontMetrics
    from PySide6.QtWidgets import QApplication

    from gui.theme import AppFont, Style

    view = AccuracyView()
    qtbot.addWidget(view)
    view.resize(780, 640)
    view.show()
    qtbot.waitExposed(view)
    view.show_scores(300, {"knn": 0.491, "probe": 0.603}, BASELINES, final=True)
    app_font = AppFont(QApplication.instance())
    try:
        app_font.apply(True)
        view.apply_style(Style(presenter=True))
        qtbot.waitUntil(lambda: view.table.font().pointSizeF() > app_font.normal.pointSizeF())
        metrics = QFontMetrics(view.table.font())
        for c in range(view.table.columnCount()):
            texts = [view.table.horizontalHeaderItem(c).text()] + [view.table.item(r, c).text()
                                                                  for r in range(view.table.rowCount())]
            qtbot.waitUntil(lambda c=c, texts=texts: view.table.columnWidth(c) > max(map(metrics.horizontalAdvance,
                                                                                          texts)))
        axis = view.chart.getAxis("bottom")
        assert axis.height() >= QFontMetrics(axis.style["tickFont"]).height()
    finally:
        app_font.apply(False)
