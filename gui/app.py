"""Application entry: ``python main.py`` opens the main window."""
from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *argv])
    window = QMainWindow()
    window.setWindowTitle("Pretext")
    window.setCentralWidget(QLabel("Pretext: the training window arrives with the GUI issue. "
                                   "Meanwhile: python main.py train --method simclr --dataset shapes"))
    window.resize(1280, 800)
    window.show()
    return app.exec()
