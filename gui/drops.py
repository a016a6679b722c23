"""Images dropped or pasted onto the window: local files and folders as paths, image data as encoded bytes.

The explorer decodes nothing here: the engine's query decodes (and rejects) them on a background thread.
"""
from __future__ import annotations

from PySide6.QtCore import QBuffer, QEvent, QIODevice, QMimeData, QObject, Signal
from PySide6.QtGui import QImage

ENCODED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/bmp", "image/webp")


def carries_images(mime: QMimeData) -> bool:
    """A cheap check for drag-enter and drag-move events."""
    return (any(url.isLocalFile() for url in mime.urls()) or mime.hasImage()
            or any(mime.hasFormat(kind) for kind in ENCODED_TYPES))


def image_sources(mime: QMimeData) -> list[str | bytes]:
    """The paths of local files and folders in ``mime``, or else the image it carries as bytes (as the
    source application encoded it, or PNG)."""
    paths = [url.toLocalFile() for url in mime.urls() if url.isLocalFile()]
    if paths:
        return paths
    for kind in ENCODED_TYPES:
        if mime.hasFormat(kind) and (data := bytes(mime.data(kind).data())):
            return [data]
    if mime.hasImage() and isinstance(image := mime.imageData(), QImage) and not image.isNull():
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        return [bytes(buffer.data().data())]
    return []


class ImageDrops(QObject):
    """An event filter that makes the widgets it is installed on accept dropped images."""

    dropped = Signal(object)  # list[str | bytes]

    def watch(self, widget) -> None:
        widget.setAcceptDrops(True)
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802  (Qt override)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove) and carries_images(event.mimeData()):
            event.acceptProposedAction()
            return True
        if kind == QEvent.Type.Drop and (sources := image_sources(event.mimeData())):
            event.acceptProposedAction()
            self.dropped.emit(sources)
            return True
        return False
