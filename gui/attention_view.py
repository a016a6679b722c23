"""The attention view: where the encoder looks, as heat maps blended over a few test images (one per ViT head, the
activation map for a convnet; Caron et al. 2021, fig. 1; Zagoruyko & Komodakis 2017), refreshed with the run's
previews, and over any image file dropped onto the view.

No network runs on the GUI thread: during a run the Session computes the maps between steps (a dropped image is
decoded on a background thread, then handed to the Session, which adds it to every later refresh); after a run,
the finished Session computes them on a background thread.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from gui.background import run_in_background
from gui.preview import PreviewGrid
from gui.theme import Style

HINT = "Attention maps appear when a run starts. Then drop an image here to see where the network looks."


def dropped_file(mime) -> Path | None:
    """The first local file among dropped URLs, or None."""
    for url in mime.urls() if mime.hasUrls() else []:
        if url.isLocalFile():
            return Path(url.toLocalFile())
    return None


class AttentionView(QWidget):
    """Overlay tiles (a :class:`PreviewGrid`) under a one-line notice for dropped files."""

    def __init__(self, worker_of: Callable[[], Any], parent: QWidget | None = None):
        """``worker_of()`` gives the current or last TrainingWorker, or None before the first run."""
        super().__init__(parent)
        self.worker_of = worker_of
        self.notice = QLabel()
        self.notice.setWordWrap(True)
        self.notice.setContentsMargins(6, 4, 6, 4)
        self.notice.setVisible(False)
        self.grid = PreviewGrid()
        self.grid.show_message(HINT)
        self._pending = False  # a dropped image's maps are on their way
        self._run_image: tuple[int, int] | None = None  # (size, channels) of the run's images, from its Started event
        self._computing = False  # a finished run's maps are being computed on a background thread
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.notice)
        layout.addWidget(self.grid, 1)
        self.setAcceptDrops(True)

    # engine events
    def on_event(self, event: Any) -> None:
        from engine import events

        match event:
            case events.Started():
                self._run_image = (event.image_size, event.channels)
                self.grid.show_message(HINT)
                self.set_notice("")
            case events.Attention():
                self.show_attention(event)

    def show_attention(self, event: Any) -> None:
        tiles = event.tiles
        self.grid.show_tiles(f"{tiles.title} (step {event.step:,})", tiles.rows, tiles.captions)
        if self._pending:
            self._pending = False
            self.set_notice("")

    def set_notice(self, text: str) -> None:
        self.notice.setText(text)
        self.notice.setVisible(bool(text))

    def apply_style(self, style: Style) -> None:
        self.grid.apply_style(style)

    # dropped files
    def dragEnterEvent(self, event) -> None:  # noqa: N802  (Qt override)
        if dropped_file(event.mimeData()) is not None:
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802  (Qt override)
        path = dropped_file(event.mimeData())
        if path is not None:
            event.acceptProposedAction()
            self.show_file(path)

    def show_file(self, path: Path) -> None:
        """Decode ``path`` off the GUI thread at the run's size, then have its attention maps computed."""
        from engine.data.images import decode_image

        worker = self.worker_of()
        if worker is None or self._run_image is None:
            self.set_notice("Start a run first: the attention maps are the network's, so they need one.")
            return
        if self._computing:
            self.set_notice("Still computing the previous image's maps; drop it again in a moment.")
            return
        size, channels = self._run_image
        self.set_notice(f"Reading {path.name} ...")
        run_in_background(self, lambda: decode_image(path, size, channels)[None],
                          lambda images: self._request(worker, path, images),
                          lambda error: self.set_notice(f"Cannot show {path.name}: {error}."),
                          "pretext-attention-decode")

    def _request(self, worker: Any, path: Path, images: Any) -> None:
        if worker is not self.worker_of():  # a new run started meanwhile
            return
        worker.request_attention(images)
        if worker.alive:  # the training thread computes the maps between steps
            self._pending = True
            self.set_notice(f"{path.name}: its maps come with the next refresh (last row).")
            return
        self._computing = True
        self.set_notice(f"Computing the attention maps of {path.name} ...")
        run_in_background(self, worker.attention, lambda event: self._computed(worker, event),
                          self._failed, "pretext-attention")

    def _computed(self, worker: Any, event: Any) -> None:
        self._computing = False
        if worker is self.worker_of():
            self.set_notice("")
            self.show_attention(event)

    def _failed(self, error: Exception) -> None:
        self._computing = False
        self.set_notice(f"Cannot compute the attention maps: {type(error).__name__}: {error}")
