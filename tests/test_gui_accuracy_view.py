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
