"""The embedding view's widgets: a bar (colour by, Snapshot, Fit, what is shown, progress), the scatter, and
beside it the hovered image, the selected images and the neighbours panel. The explorer drives it."""
from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QBoxLayout,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.drops import image_sources
from gui.neighbours import NeighboursPanel
from gui.scatter import EmbeddingScatter
from gui.theme import Style
from gui.thumbnails import HoverCard, ThumbnailGrid

SELECTION_HINT = "Drag a rectangle on the scatter to see the images inside it."


class EmbeddingView(QWidget):
    pasted = Signal(object)  # list[str | bytes] from the clipboard

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.colour_by = QComboBox()
        self.colour_by.setToolTip("What the colours show")
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("Embed the data with the encoder as it is now (during training too); "
                                        "the points move from the previous layout")
        self.fit_button = QPushButton("Fit")
        self.fit_button.setToolTip("Show all points (the wheel zooms, the middle button pans)")
        self.status = QLabel("Start a run or open one (File > Open Run), then press Snapshot.")
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(90)
        self.progress.setTextVisible(False)
        self.progress.hide()

        self.scatter = EmbeddingScatter()
        self.scatter.setToolTip("Hover: the image; click: its neighbours; drag: select a rectangle")
        self.hover = HoverCard()
        self.selection = ThumbnailGrid()
        self.selection_note = QLabel(SELECTION_HINT)
        self.selection_note.setWordWrap(True)
        self.neighbours = NeighboursPanel()
        self.tabs = QTabWidget()
        self.tabs.addTab(self._stacked(self.selection_note, self.selection), "Selection")
        self.tabs.addTab(self.neighbours, "Neighbours")
        side = QWidget()
        self.side_layout = QBoxLayout(QBoxLayout.Direction.TopToBottom, side)
        self.side_layout.setContentsMargins(0, 0, 0, 0)
        self.side_layout.addWidget(self.hover)
        self.side_layout.addWidget(self.tabs, 1)
        self.side = side
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.scatter)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Colour by"))
        bar.addWidget(self.colour_by)
        bar.addWidget(self.snapshot_button)
        bar.addWidget(self.fit_button)
        bar.addStretch(1)
        bar.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.status)  # a line of its own: beside the buttons a narrow view wrapped it word by word
        layout.addWidget(self.splitter, 1)

        self.fit_button.clicked.connect(lambda: self.scatter.view.autoRange(padding=0.05))
        paste = QShortcut(QKeySequence.StandardKey.Paste, self, context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)
        self.apply_style(Style())

    @staticmethod
    def _stacked(*widgets: QWidget) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in widgets:
            layout.addWidget(widget)
        layout.setStretch(len(widgets) - 1, 1)
        return box

    def paste(self) -> None:
        if sources := image_sources(QApplication.clipboard().mimeData()):
            self.pasted.emit(sources)
        else:
            self.show_status("The clipboard holds no image or image file.")

    def show_status(self, text: str) -> None:
        self.status.setText(text)

    def show_progress(self, fraction: float | None) -> None:
        """A fraction in [0, 1]; None hides the bar."""
        self.progress.setVisible(fraction is not None)
        if fraction is not None:
            self.progress.setValue(round(100 * fraction))

    def show_selection(self, tiles, total: int) -> None:
        self.selection.show_tiles(tiles, total)
        self.selection_note.setText(f"{total:,} images selected" + (f"; showing {self.selection.note}"
                                                                    if self.selection.note else "")
                                    if total else SELECTION_HINT)

    def apply_style(self, style: Style) -> None:
        self.scatter.apply_style(style)
        side = 64 if style.presenter else 48
        for grid in (self.selection, self.neighbours.grid):
            grid.set_side(side)
        # the grids keep room for three thumbnails a row themselves; a presenter's hovered image leaves them rows
        self.hover.set_side(3 * side // 2 if style.presenter else 2 * side)

    def resizeEvent(self, event) -> None:  # noqa: N802  (Qt override)
        """The images beside the scatter in a wide view (the hovered image above the grids), below it in a tall
        one (the hovered image beside the grids)."""
        super().resizeEvent(event)
        wide = event.size().width() > 1.2 * event.size().height()
        self.splitter.setOrientation(Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical)
        self.side_layout.setDirection(QBoxLayout.Direction.TopToBottom if wide else QBoxLayout.Direction.LeftToRight)
        self.hover.setMaximumWidth(16777215 if wide else max(220, event.size().width() // 3))
