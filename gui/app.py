"""Application entry: ``python main.py [--preset FILE]`` opens the training window.

The window shows before PyTorch is imported (it loads in the background and fills the pickers), so the first
frame comes in about a second. On Windows, main.py imports torch before PySide6 (their DLLs clash otherwise).
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Pretext: self-supervised learning, live. "
                                     "Headless commands: main.py train|eval|attention --help")
    parser.add_argument("--preset", type=Path, metavar="FILE",
                        help="open a lecture preset (JSON), ready to press Start; see assets/presets/")
    return parser.parse_args(argv)


def open_window(argv: list[str]):
    """The application and its shown main window (the engine still loading)."""
    args = parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Pretext")
    window = MainWindow()
    window.engine_ready.connect(window.explorer.start_layout_worker)  # UMAP warms up while the user sets up
    if args.preset is not None:
        window.open_preset_file(args.preset)
    window.show()
    return app, window


def main(argv: list[str]) -> int:
    app, window = open_window(argv)
    code = app.exec()
    if any(t.name.startswith("pretext-") and t.is_alive() for t in threading.enumerate()):
        # Closing gave up waiting for a step that would not end, or came while PyTorch was still importing.
        # Interpreter shutdown under a thread inside PyTorch can abort, so leave now: the last checkpoint
        # written is on disk.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
