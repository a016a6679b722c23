"""Python's cyclic garbage collection, on the GUI thread only, while the window is open.

The collector runs on whichever thread allocates when a threshold is crossed. A cycle holding Qt objects collected
on the training thread deletes them there: the training thread then holds one of Qt's locks and waits for the GIL,
while the GUI thread holds the GIL and waits for that lock (a test session hung this way; gdb showed both stacks).
So automatic collection is turned off and a timer on the GUI thread collects each generation once its threshold is
crossed, as calibre does. Reference counting, which frees everything not in a cycle, is unchanged.

A full collection holds the GIL, on whichever thread, for as long as it takes to walk every tracked object: 0.3 s
once PyTorch, scikit-learn and Qt are imported. Once the engine has loaded, those objects are frozen (``gc.freeze``:
never collected, never walked again); a full collection then takes microseconds.
"""
from __future__ import annotations

import gc

from PySide6.QtCore import QCoreApplication, QObject, QTimer

INTERVAL_MS = 500


class GuiThreadCollector(QObject):
    def __init__(self, app: QCoreApplication):
        super().__init__(app)
        self.thresholds = gc.get_threshold()
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.collect)
        self.timer.start(INTERVAL_MS)

    def collect(self) -> None:
        """The generations whose allocation counts passed their thresholds, youngest first (as gc would)."""
        counts = gc.get_count()
        for generation in range(3):
            if counts[generation] <= self.thresholds[generation]:
                break
            gc.collect(generation)


def collect_on_gui_thread() -> None:
    """Move cyclic collection to the GUI thread of the running application."""
    gc.disable()
    app = QCoreApplication.instance()
    if app.findChild(GuiThreadCollector) is None:
        GuiThreadCollector(app)


def freeze_what_is_loaded() -> None:
    """Collect once, then leave every object alive now (the imported libraries) out of later collections. Once per
    process: what a later call would freeze is the run's own data."""
    if gc.get_freeze_count() == 0:
        gc.collect()
        gc.freeze()
