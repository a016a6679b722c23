"""The preview panel: rows of image tiles (an image and its views, or a pretext task) with a caption per tile."""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui.theme import Style

GAP = 6  # pixels between tiles
MIN_CAPTION_PT = 7.0


def to_qimage(tile) -> QImage:
    """A uint8 (C, H, W) tensor, C = 1 or 3, as a QImage that owns its pixels."""
    array = np.ascontiguousarray(tile.permute(1, 2, 0).numpy())
    height, width, channels = array.shape
    fmt = QImage.Format.Format_Grayscale8 if channels == 1 else QImage.Format.Format_RGB888
    return QImage(array.data, width, height, width * channels, fmt).copy()


class PreviewGrid(QWidget):
    """Paints the tiles as large as the panel allows, pixelated (a 32-pixel image should look like one), or a
    message when there is nothing to show."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = ""
        self.rows: list[list[QImage]] = []
        self.captions: list[list[str]] = []
        self.message = "The preview appears when the engine has loaded."
        self.background, self.foreground = QColor("black"), QColor("white")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(300, 420)

    def minimumSizeHint(self) -> QSize:  # noqa: N802  (Qt override)
        return QSize(160, 160)

    def apply_style(self, style: Style) -> None:
        self.background, self.foreground = style.background, style.foreground
        self.update()

    def on_event(self, event: Any) -> None:
        """The method's preview of its pretext task, as the run sends it."""
        from engine import events

        if isinstance(event, events.Preview):
            self.show_tiles(event.tiles.title, event.tiles.rows, event.tiles.captions)

    def show_tiles(self, title: str, rows, captions) -> None:
        """``rows`` of uint8 (C, H, W) tensors, ``captions`` alike."""
        self.title, self.message = title, ""
        self.rows = [[to_qimage(tile) for tile in row] for row in rows]
        self.captions = [list(row) for row in captions]
        self.update()

    def show_message(self, text: str) -> None:
        self.title, self.rows, self.captions, self.message = "", [], [], text
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        painter.setPen(self.foreground)
        area = self.rect().adjusted(GAP, GAP, -GAP, -GAP)
        if self.message:
            painter.drawText(area, Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        title = painter.drawText(area, Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, self.title)
        painter.setFont(self.font())
        self._paint_grid(painter, area.adjusted(0, title.height() + GAP, 0, 0), painter.fontMetrics().height())

    def _paint_grid(self, painter: QPainter, area: QRect, line: int) -> None:
        if not self.rows:
            return
        cols = max(len(row) for row in self.rows)
        tile = min((area.width() - (cols - 1) * GAP) // cols,
                   (area.height() - len(self.rows) * (line + GAP)) // len(self.rows))
        if tile < 4:
            return
        left = area.left() + (area.width() - cols * tile - (cols - 1) * GAP) // 2
        widest = max(painter.fontMetrics().horizontalAdvance(c) for row in self.captions for c in row)
        if widest > tile + GAP:  # shrink the captions to fit under their tiles rather than cut them
            small = QFont(painter.font())
            small.setPointSizeF(max(MIN_CAPTION_PT, 0.9 * small.pointSizeF() * (tile + GAP) / widest))
            painter.setFont(small)
        metrics = painter.fontMetrics()
        for r, (row, captions) in enumerate(zip(self.rows, self.captions)):
            top = area.top() + r * (tile + line + GAP)
            for c, (image, caption) in enumerate(zip(row, captions)):
                x = left + c * (tile + GAP)
                painter.drawImage(QRect(x, top, tile, tile), image)
                text = metrics.elidedText(caption, Qt.TextElideMode.ElideRight, tile + GAP)
                painter.drawText(QRect(x - GAP // 2, top + tile, tile + GAP, line), Qt.AlignmentFlag.AlignHCenter, text)
