"""The embedding scatter: one point per image, coloured by category, with a legend beside the plot.

Points are drawn by ScatterPlotItems of one shared brush each (a 20 000-point layout redraws in tens of
milliseconds, fast enough to animate): in a dense cloud a fixed shuffle of the points is cut into SLICES
interleaved slices and each slice has one item per category, drawn slice after slice, so that no category hides
the others (a sparse cloud needs one slice; fewer items also paint faster). The selection, the focused points
and dropped queries are drawn by items of their own on top, so selecting never recolours the cloud. Left-drag
selects a rectangle, the middle button pans, the wheel zooms; hover and click find the nearest point on screen.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QElapsedTimer, QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGraphicsRectItem, QSizePolicy

from gui.plots import export_png_svg
from gui.theme import Style

SLICES = 6
DENSE = 2000  # points from which a cloud is drawn in SLICES slices
ANIMATION_MS = 500
FRAME_MS = 30
HOVER_RADIUS_PX = 8

def category_colour(category: int) -> QColor:
    """The headless figures' palette (engine.explore.plot; imported once there are points, the engine loaded)."""
    from engine.explore.plot import colour

    return QColor(colour(category))


def point_size(n: int, style: Style) -> float:
    """Dense clouds get smaller points; presenter mode larger ones."""
    size = float(np.clip(400 / np.sqrt(max(n, 1)), 2.5, 8.0))
    return size * (1.6 if style.presenter else 1.0)


class LayoutAnimation(QObject):
    """Moves points from one layout to another in ANIMATION_MS, easing in and out."""

    def __init__(self, parent: QObject, draw):
        super().__init__(parent)
        self.draw = draw
        self._timer = QTimer(self, interval=FRAME_MS)
        self._timer.timeout.connect(self._frame)
        self._clock = QElapsedTimer()
        self._start = self._end = np.empty((0, 2), np.float32)

    @property
    def running(self) -> bool:
        return self._timer.isActive()

    def start(self, start: np.ndarray, end: np.ndarray) -> None:
        self._start, self._end = start, end
        self._clock.start()
        self._timer.start()
        self._frame()

    def stop(self) -> None:
        self._timer.stop()

    def _frame(self) -> None:
        t = min(1.0, self._clock.elapsed() / ANIMATION_MS)
        eased = t * t * (3 - 2 * t)
        self.draw(self._start + (self._end - self._start) * np.float32(eased))
        if t >= 1.0:
            self._timer.stop()


class SelectingViewBox(pg.ViewBox):
    """A view box whose left-drag draws a rectangle and reports it in data coordinates."""

    rectangle_selected = Signal(QRectF)

    def __init__(self) -> None:
        super().__init__()
        self.band = QGraphicsRectItem()
        self.band.setVisible(False)
        self.addItem(self.band, ignoreBounds=True)

    def mouseDragEvent(self, ev, axis=None) -> None:  # noqa: N802  (pyqtgraph override)
        if ev.button() != Qt.MouseButton.LeftButton:
            super().mouseDragEvent(ev, axis)
            return
        ev.accept()
        rect = QRectF(self.mapToView(ev.buttonDownPos()), self.mapToView(ev.pos())).normalized()
        self.band.setRect(rect)
        self.band.setVisible(not ev.isFinish())
        if ev.isFinish():
            self.rectangle_selected.emit(rect)


class EmbeddingScatter(pg.GraphicsLayoutWidget):
    hovered = Signal(int)  # the row under the cursor, -1 for none
    clicked = Signal(int)  # the row clicked
    selected = Signal(object)  # int array: the rows inside a dragged rectangle

    def __init__(self, parent=None):
        super().__init__(parent)
        self.view = SelectingViewBox()
        self.plot = self.addPlot(row=0, col=0, viewBox=self.view)
        self.plot.hideAxis("left")
        self.plot.hideAxis("bottom")
        self.plot.setMenuEnabled(False)
        self.view.setAspectLocked(True)
        self.legend = pg.LegendItem()
        self.ci.addItem(self.legend, row=0, col=1)
        self.legend.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Preferred)
        self.layers: list[pg.ScatterPlotItem] = []  # one per (slice, category), reused across colourings
        self.legend_keys: list[pg.ScatterPlotItem] = []  # legend samples, larger than the points
        self.overlays = {name: pg.ScatterPlotItem(pxMode=True) for name in ("highlight", "focus", "queries")}
        for z, item in enumerate(self.overlays.values(), start=10):
            item.setZValue(z)
            self.plot.addItem(item)
        self.coordinates = np.empty((0, 2), np.float32)  # where the points are drawn now (mid-animation too)
        self.target = self.coordinates  # where they are going
        self.categories = np.empty(0, int)
        self.names: list[str] = []
        self.highlighted = self.focused = np.empty(0, int)
        self.queries = np.empty((0, 2), np.float32)
        self.prompt_marks = pg.ScatterPlotItem(pxMode=True, symbol="d")  # a CLIP run's text prompts
        self.prompt_marks.setZValue(14)
        self.plot.addItem(self.prompt_marks)
        self.prompt_labels: list[pg.TextItem] = []
        self._hovered = -1
        self.style = Style()
        self.animation = LayoutAnimation(self, self._draw_positions)
        self.view.rectangle_selected.connect(self.select_rect)
        self.scene().sigMouseMoved.connect(self._mouse_moved)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)
        self.apply_style(self.style)

    # data
    def set_points(self, coordinates: np.ndarray, categories: np.ndarray, names: list[str],
                   animate_from: np.ndarray | None = None) -> None:
        """New points; morphing from ``animate_from`` (the same points' previous layout) when given."""
        self.categories, self.names = np.asarray(categories, int), list(names)
        self.highlighted = self.focused = np.empty(0, int)
        self.queries = np.empty((0, 2), np.float32)
        self.coordinates = self.target = np.asarray(coordinates, np.float32)
        self._build_layers()
        if animate_from is not None and animate_from.shape == self.target.shape:
            self.animation.start(np.asarray(animate_from, np.float32), self.target)
        else:
            self._draw_positions(self.target)
        self.view.autoRange(padding=0.05)

    def move_to(self, coordinates: np.ndarray) -> None:
        """The same points on a new layout, animated from where they are now."""
        self.target = np.asarray(coordinates, np.float32)
        self.animation.start(self.coordinates, self.target)
        self.view.autoRange(padding=0.05)

    def set_categories(self, categories: np.ndarray, names: list[str]) -> None:
        self.categories, self.names = np.asarray(categories, int), list(names)
        self._build_layers()
        self._draw_positions(self.coordinates)

    def clear_points(self) -> None:
        self.animation.stop()
        self.set_points(np.empty((0, 2), np.float32), np.empty(0, int), [])

    def highlight(self, rows) -> None:
        """Rings around ``rows`` (a selection, or neighbours)."""
        self.highlighted = np.asarray(rows, int)
        self._draw_overlays()

    def focus(self, rows) -> None:
        """Large marks on ``rows`` (the clicked point, or images picked in a grid)."""
        self.focused = np.asarray(rows, int)
        self._draw_overlays()

    def show_queries(self, positions: np.ndarray) -> None:
        self.queries = np.asarray(positions, np.float32).reshape(-1, 2)
        self._draw_overlays()

    def show_prompts(self, positions: np.ndarray, texts: list[str]) -> None:
        """Text prompts as labelled markers where their most similar images lie (none: an empty list)."""
        for label in self.prompt_labels:
            self.plot.removeItem(label)
        positions = np.asarray(positions, np.float32).reshape(-1, 2)
        self.prompt_marks.setData(x=positions[:, 0], y=positions[:, 1])
        self.prompt_labels = []
        for (x, y), text in zip(positions, texts):
            label = pg.TextItem(text, color=self.style.foreground, anchor=(0, 1))
            label.setZValue(15)
            label.setPos(float(x), float(y))
            self.plot.addItem(label)
            self.prompt_labels.append(label)

    # hover, click and rectangle selection
    def point_at(self, scene_pos: QPointF) -> int:
        """The row drawn nearest ``scene_pos`` within HOVER_RADIUS_PX, or -1."""
        if not len(self.coordinates) or not self.view.sceneBoundingRect().contains(scene_pos):
            return -1
        here = self.view.mapSceneToView(scene_pos)
        pixel = np.abs(np.array(self.view.viewPixelSize(), dtype=np.float64)) + 1e-12
        distances = np.hypot((self.coordinates[:, 0] - here.x()) / pixel[0],
                             (self.coordinates[:, 1] - here.y()) / pixel[1])
        row = int(distances.argmin())
        return row if distances[row] <= HOVER_RADIUS_PX else -1

    def scene_pos_of(self, row: int) -> QPointF:
        x, y = self.coordinates[row]
        return self.view.mapViewToScene(QPointF(float(x), float(y)))

    def select_rect(self, rect: QRectF) -> None:
        x, y = self.coordinates[:, 0], self.coordinates[:, 1]
        inside = (x >= rect.left()) & (x <= rect.right()) & (y >= rect.top()) & (y <= rect.bottom())
        self.selected.emit(np.flatnonzero(inside))

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        row = self.point_at(scene_pos)
        if row != self._hovered:
            self._hovered = row
            self.hovered.emit(row)

    def _mouse_clicked(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and (row := self.point_at(event.scenePos())) >= 0:
            self.clicked.emit(row)

    # drawing
    def _build_layers(self) -> None:
        present = sorted(set(self.categories.tolist()))
        order = np.random.default_rng(0).permutation(len(self.categories))
        slices = SLICES if len(self.categories) >= DENSE else 1
        groups = [(s, category) for s in range(slices) for category in present]
        while len(self.layers) < len(groups):
            layer = pg.ScatterPlotItem(pxMode=True, pen=None)
            self.plot.addItem(layer)
            self.layers.append(layer)
        size = point_size(len(self.categories), self.style)
        brushes = {category: pg.mkBrush(category_colour(category)) for category in present}
        for layer, (s, category) in zip(self.layers, groups):
            layer.setBrush(brushes[category])
            layer.setSize(size)
            rows = order[s::slices]
            layer.rows = np.sort(rows[self.categories[rows] == category])
        self._build_legend(present, brushes)
        for layer in self.layers[len(groups):]:
            layer.rows = np.empty(0, int)
            layer.setData(x=[], y=[])

    def _build_legend(self, present: list[int], brushes: dict) -> None:
        self.legend.clear()
        while len(self.legend_keys) < len(present):
            self.legend_keys.append(pg.ScatterPlotItem(pen=None))
        for key, category in zip(self.legend_keys, present):
            key.setBrush(brushes[category])
            key.setSize(self.style.symbol_size + 2)
            name = "unknown" if category < 0 else self.names[category] if category < len(self.names) else str(category)
            self.legend.addItem(key, name)
        self._style_legend()

    def _draw_positions(self, coordinates: np.ndarray) -> None:
        self.coordinates = coordinates
        for layer in self.layers:
            if len(layer.rows) or len(layer.data):
                layer.setData(x=coordinates[layer.rows, 0], y=coordinates[layer.rows, 1])
        self._draw_overlays()

    def _draw_overlays(self) -> None:
        for name, rows in (("highlight", self.highlighted), ("focus", self.focused)):
            rows = rows[rows < len(self.coordinates)]
            self.overlays[name].setData(x=self.coordinates[rows, 0], y=self.coordinates[rows, 1])
        self.overlays["queries"].setData(x=self.queries[:, 0], y=self.queries[:, 1])

    # look
    def apply_style(self, style: Style) -> None:
        self.style = style
        self.setBackground(style.background)
        size = point_size(len(self.categories), style)
        width = style.line_width
        self.overlays["highlight"].setPen(pg.mkPen(style.foreground, width=width))
        self.overlays["highlight"].setBrush(pg.mkBrush(None))
        self.overlays["highlight"].setSize(size + 6)
        self.overlays["focus"].setPen(pg.mkPen(style.background, width=width))
        self.overlays["focus"].setBrush(pg.mkBrush(style.color("final")))
        self.overlays["focus"].setSize(size + 8)
        self.overlays["queries"].setPen(pg.mkPen(style.background, width=width))
        self.overlays["queries"].setBrush(pg.mkBrush(style.color("raw")))
        self.overlays["queries"].setSymbol("star")
        self.overlays["queries"].setSize(3 * style.symbol_size)
        self.prompt_marks.setPen(pg.mkPen(style.background, width=width))
        self.prompt_marks.setBrush(pg.mkBrush(style.color("final")))
        self.prompt_marks.setSize(2 * style.symbol_size)
        for label in self.prompt_labels:
            label.setColor(style.foreground)
        self.view.band.setPen(pg.mkPen(style.foreground, width=1, style=Qt.PenStyle.DashLine))
        self._build_layers()
        self._draw_positions(self.coordinates)

    def _style_legend(self) -> None:
        self.legend.setLabelTextSize(f"{self.style.font_pt}pt")
        self.legend.setLabelTextColor(self.style.foreground)
        for _, label in self.legend.items:
            label.setText(label.text)  # the two calls above set defaults that only the next setText applies

    def export(self, path: Path) -> list[Path]:
        return export_png_svg(self, self.ci, path, "Pretext embedding")
