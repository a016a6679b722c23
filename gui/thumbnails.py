"""Image thumbnails of embedding rows: a wrapping grid whose selection names rows, and the hover card.

Tiles are made from the in-memory uint8 tensors of the rows shown (at most MAX_TILES), never the whole set.
"""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QWidget,
)

from gui.preview import to_qimage

MAX_TILES = 300
MIN_COLUMNS = 3  # thumbnails a row at the least, whatever the font
ROW_ROLE = Qt.ItemDataRole.UserRole


def pixmap(tile, side: int) -> QPixmap:
    """A uint8 (C, H, W) tensor as a ``side``-pixel square, pixelated (a 16-pixel image should look like one)."""
    image = to_qimage(tile).scaled(side, side, Qt.AspectRatioMode.IgnoreAspectRatio,
                                   Qt.TransformationMode.FastTransformation)
    return QPixmap.fromImage(image)


@dataclass(frozen=True)
class Tile:
    image: object  # uint8 tensor (C, H, W)
    caption: str
    row: int | None  # the embedding row, None for an image that is not a point (a dropped query)


class ThumbnailGrid(QListWidget):
    picked = Signal(object)  # list[int]: the rows the user selected

    def __init__(self, side: int = 48, parent: QWidget | None = None):
        super().__init__(parent)
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setMovement(QListView.Movement.Static)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setWordWrap(True)
        self.setSpacing(2)
        self.tiles: list[Tile] = []
        self.note = ""  # e.g. "the first 300 of 1,234"
        self.set_side(side)
        self.itemSelectionChanged.connect(lambda: self.picked.emit(self.selected_rows()))

    def set_side(self, side: int) -> None:
        self.side = side
        self.setIconSize(QSize(side, side))
        self._fit_cells()
        self.show_tiles(self.tiles)

    def _fit_cells(self) -> None:
        """Cells for two caption lines, as wide as "0.93 crescent" wraps into; room for MIN_COLUMNS of them a row."""
        metrics = self.fontMetrics()
        cell = QSize(max(self.side, 9 * metrics.averageCharWidth()) + 8, self.side + 2 * metrics.height() + 6)
        self.setGridSize(cell)
        scroll_bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setMinimumWidth(MIN_COLUMNS * cell.width() + scroll_bar + 2 * self.frameWidth() + 4)

    def changeEvent(self, event) -> None:  # noqa: N802  (Qt override)
        """A new font (presenter mode's arrives after its thumbnail side): cells as tall as two lines of it."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit_cells()

    def show_tiles(self, tiles: list[Tile], total: int | None = None) -> None:
        self.blockSignals(True)
        self.clear()
        self.tiles = tiles[:MAX_TILES]
        total = len(tiles) if total is None else total
        self.note = f"the first {len(self.tiles):,} of {total:,}" if total > len(self.tiles) else ""
        for tile in self.tiles:
            item = QListWidgetItem(pixmap(tile.image, self.side), tile.caption)
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
            item.setData(ROW_ROLE, tile.row)
            item.setToolTip(tile.caption)
            if tile.row is None:
                item.setFlags(Qt.ItemFlag.ItemIsEnabled)
                item.setBackground(QColor(240, 124, 58, 90))
            self.addItem(item)
        self.blockSignals(False)

    def rows(self) -> list[int]:
        return [t.row for t in self.tiles if t.row is not None]

    def selected_rows(self) -> list[int]:
        return [item.data(ROW_ROLE) for item in self.selectedItems() if item.data(ROW_ROLE) is not None]

    def select_rows(self, rows) -> None:
        """Select the tiles of ``rows`` (as if the user had), which emits ``picked``."""
        wanted = set(int(r) for r in rows)
        self.blockSignals(True)
        for i in range(self.count()):
            item = self.item(i)
            item.setSelected(item.data(ROW_ROLE) in wanted)
        self.blockSignals(False)
        self.picked.emit(self.selected_rows())


class HoverCard(QWidget):
    """The point under the cursor: its image, large, beside what is known about it."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.row: int | None = None
        self.side = 96
        self.image = QLabel()
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text = QLabel("Hover over a point to see its image")
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.image)
        layout.addWidget(self.text, 1)

    def set_side(self, side: int) -> None:
        self.side = side
        self.image.setFixedSize(side, side)

    def show_point(self, row: int, image, caption: str) -> None:
        self.row = row
        self.image.setPixmap(pixmap(image, self.side))
        self.text.setText(caption)
