"""Application entry: ``python main.py [--preset FILE]`` opens the training window.

The window shows before PyTorch is imported (it loads in the background and fills the pickers), so the first
frame comes in about a second. On Windows, main.py imports torch before PySide6 (their DLLs clash otherwise).
"""
from __future__ import annotations

import argparse
import ctypes
import os
import sys
import threading
from pathlib import Path

# The system libraries (soname: Debian/Ubuntu package) that PySide6 6.10's xcb platform plugin and the Qt libraries
# under it need (``readelf -d`` on plugins/platforms/libqxcb.so, libQt6XcbQpa, libQt6Gui, libQt6DBus), beyond the
# C/C++ runtime, zlib and GLib, which PySide6 cannot import without.
XCB_LIBRARIES = {
    "libxcb.so.1": "libxcb1", "libX11.so.6": "libx11-6", "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0", "libxcb-icccm.so.4": "libxcb-icccm4", "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1", "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0", "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0", "libxcb-shm.so.0": "libxcb-shm0", "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1", "libxcb-xfixes.so.0": "libxcb-xfixes0", "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0", "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1", "libGL.so.1": "libgl1", "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6", "libdbus-1.so.3": "libdbus-1-3",
}
HEADLESS = "the headless commands (python main.py train ...) work without"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="main.py", description="Pretext: self-supervised learning, live. "
                                     "Headless commands: main.py train|eval|attention --help")
    parser.add_argument("--preset", type=Path, metavar="FILE",
                        help="open a lecture preset (JSON), ready to press Start; see assets/presets/")
    return parser.parse_args(argv)


def library_loads(soname: str) -> bool:
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def platform_problem(environ: dict[str, str] = os.environ, platform: str = sys.platform) -> str | None:
    """One sentence when Qt's xcb platform plugin, which the window would use, cannot load or find a display (Qt
    itself would abort with a long message), else None. A few milliseconds: each library is looked up once."""
    requested = environ.get("QT_QPA_PLATFORM", "")
    if platform != "linux" or requested not in ("", "xcb") or (not requested and environ.get("WAYLAND_DISPLAY")):
        return None
    missing = [package for soname, package in XCB_LIBRARIES.items() if not library_loads(soname)]
    if missing:
        return (f"The window needs system libraries that are missing: sudo apt-get install {' '.join(missing)} "
                f"(Debian/Ubuntu); {HEADLESS} them.")
    if not environ.get("DISPLAY"):
        return f"The window needs a display (DISPLAY is not set; over SSH use ssh -X); {HEADLESS} one."
    return None


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
    problem = platform_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
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
