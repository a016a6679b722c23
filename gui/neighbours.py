"""The neighbours panel: each query image (a dropped file, or a clicked point) followed by its nearest training
images with their cosine similarity, and a message naming the files that could not be used and why."""
from __future__ import annotations

from collections.abc import Callable
from html import escape

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.explore_steps import NeighbourGroup
from gui.thumbnails import ThumbnailGrid, Tile

HINT = ("Click a point, or drop image files or a folder onto the window (Ctrl+V pastes an image), to see "
        "their nearest training images.")


class NeighboursPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.message = QLabel(HINT)
        self.message.setWordWrap(True)
        self.rejected: list[tuple[str, str]] = []
        self.grid = ThumbnailGrid()
        self.picked = self.grid.picked
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.grid, 1)

    def show_groups(self, groups: list[NeighbourGroup], images, describe: Callable[[int], str],
                    rejected: list[tuple[str, str]] = ()) -> None:
        """``images``: the embedding's row images; ``describe(row)``: a point's short caption (its label)."""
        tiles = []
        for group in groups:
            tiles.append(Tile(group.image, f"▶ {group.title}", group.row))
            tiles += [Tile(images[row], f"{similarity:.2f} {describe(row)}", row)
                      for row, similarity in zip(group.rows, group.similarities)]
        self.grid.show_tiles(tiles)
        self.show_rejected(list(rejected))
        if not rejected:
            self.message.setText(f"{len(groups)} image(s) and their nearest neighbours (cosine similarity)"
                                 + (f"; {self.grid.note}" if self.grid.note else ""))

    def show_rejected(self, rejected: list[tuple[str, str]]) -> None:
        self.rejected = rejected
        if rejected:
            lines = "<br>".join(f"<b>{escape(name)}</b>: {escape(reason)}" for name, reason in rejected)
            self.message.setText(f"<span style='color:#e15759'>Not used ({len(rejected)}):</span><br>{lines}")

    def clear(self) -> None:
        self.grid.show_tiles([])
        self.rejected = []
        self.message.setText(HINT)
