"""PySide6 + pyqtgraph views; a worker bridges engine events to Qt signals."""
