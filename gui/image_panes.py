"""A grid of titled images that one can click pixel by pixel: pyqtgraph ImageItems in locked-aspect view boxes
(zoom with the wheel, drag to pan), a click reported as the pixel (column, row) of the image under it at any zoom,
and markers drawn on a pixel."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Signal

from gui.theme import Style


def as_rgb(tile) -> np.ndarray:
    """A uint8 (C, H, W) tensor (C = 1 or 3) as an (H, W, 3) array."""
    array = tile.expand(3, -1, -1).permute(1, 2, 0).numpy() if len(tile) == 1 else tile.permute(1, 2, 0).numpy()
    return np.ascontiguousarray(array)


class ImagePanes(pg.GraphicsLayoutWidget):
    clicked = Signal(int, int, int)  # pane, column, row of the clicked pixel

    def __init__(self, grid: list[list[str]], parent=None):
        """``grid``: rows of pane titles."""
        super().__init__(parent)
        self.titles: list[pg.LabelItem] = []
        self.boxes: list[pg.ViewBox] = []
        self.images: list[pg.ImageItem] = []
        self.marks: list[pg.ScatterPlotItem] = []
        self.style = Style()
        for r, row in enumerate(grid):
            for c, title in enumerate(row):
                label = self.addLabel(title, row=2 * r, col=c)
                box = self.addViewBox(row=2 * r + 1, col=c, lockAspect=True, invertY=True, enableMenu=False)
                image = pg.ImageItem(axisOrder="row-major")
                mark = pg.ScatterPlotItem(pxMode=True)
                box.addItem(image)
                box.addItem(mark)
                self.titles.append(label)
                self.boxes.append(box)
                self.images.append(image)
                self.marks.append(mark)
        self.scene().sigMouseClicked.connect(self._mouse_clicked)

    def set_image(self, pane: int, tile) -> None:
        """A uint8 (C, H, W) tensor in ``pane``, fitted to it when its size changes."""
        rgb = as_rgb(tile)
        image = self.images[pane]
        resized = image.image is None or image.image.shape != rgb.shape
        image.setImage(rgb, levels=(0, 255))
        if resized:
            self.boxes[pane].autoRange(padding=0)

    def clear_image(self, pane: int) -> None:
        self.images[pane].clear()
        self.marks[pane].clear()

    def set_title(self, pane: int, title: str) -> None:
        self.titles[pane].setText(title, color=self.style.foreground, size=f"{self.style.font_pt}pt")

    def mark(self, pane: int, points: list[tuple[float, float]], colours: list[str], symbol: str = "o") -> None:
        """Rings on the pixels (x, y) of ``pane`` (replacing its previous ones): the pixel itself stays visible."""
        self.marks[pane].setData([{"pos": (x + 0.5, y + 0.5), "brush": None, "symbol": symbol,
                                   "pen": pg.mkPen(colour, width=self.style.line_width + 1.5),
                                   "size": 1.6 * self.style.symbol_size}
                                  for (x, y), colour in zip(points, colours)])

    def marked(self, pane: int) -> list[tuple[int, int]]:
        """The pixels marked on ``pane``."""
        x, y = self.marks[pane].getData()
        return [(int(a - 0.5), int(b - 0.5)) for a, b in zip(x, y)]

    def pixel_position(self, pane: int, x: int, y: int) -> QPoint:
        """Where pixel (x, y) of ``pane``'s image lies in this widget (for a simulated click)."""
        return self.mapFromScene(self.images[pane].mapToScene(QPointF(x + 0.5, y + 0.5)))

    def apply_style(self, style: Style) -> None:
        self.style = style
        self.setBackground(style.background)
        for label in self.titles:
            label.setText(label.text, color=style.foreground, size=f"{style.font_pt}pt")

    def _mouse_clicked(self, event) -> None:
        for pane, image in enumerate(self.images):
            if image.image is None:
                continue
            point = image.mapFromScene(event.scenePos())
            height, width = image.image.shape[:2]
            x, y = int(np.floor(point.x())), int(np.floor(point.y()))
            if 0 <= x < width and 0 <= y < height and self.boxes[pane].sceneBoundingRect().contains(event.scenePos()):
                self.clicked.emit(pane, x, y)
                return
