"""Run a function on a daemon thread and receive its outcome on the GUI thread.

The thread never touches a widget: it hands its result (or the exception) to a relay object that lives on
the GUI thread, through a queued signal, and the relay calls back there, unless the object that asked has
been deleted in the meantime (a window closed while its preview rendered).

The thread also never drops the last reference to anything it was given: the owner, the callbacks and the
work (whose closures often hold widgets) travel back in a box that the GUI thread empties. Were the last
reference to a window dropped on the thread, Python would delete the window's C++ object there, while the GUI
thread builds or paints other widgets: Qt's widget state is not thread-safe, and a Qt object freed off the GUI
thread can deadlock it (the hang gdb showed came the other way in, through garbage collection: gui/garbage.py).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot


class _Relay(QObject):
    delivered = Signal(object)  # a box: [owner, callback, argument, *other references to drop here]

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._call, Qt.ConnectionType.QueuedConnection)

    @Slot(object)
    def _call(self, box: list) -> None:
        owner, callback, argument = box[:3]
        box.clear()
        if shiboken6.isValid(owner):
            callback(argument)


_relay: _Relay | None = None


def run_in_background(owner: QObject, work: Callable[[], Any], on_result: Callable[[Any], None],
                      on_error: Callable[[Exception], None], name: str = "pretext-background") -> threading.Thread:
    """Call ``work()`` on a daemon thread; ``on_result(value)`` or ``on_error(exception)`` then runs on the GUI
    thread if ``owner`` still exists. Must be called from the GUI thread."""
    global _relay
    if _relay is None:
        _relay = _Relay()
    relay = _relay
    given = [owner, work, on_result, on_error]  # taken out by the thread: the body keeps no reference

    def body() -> None:
        owner, work, on_result, on_error = given
        given.clear()
        try:
            box = [owner, on_result, work(), work, on_error]
        except Exception as e:  # noqa: BLE001  (handed to the GUI thread, which shows it)
            box = [owner, on_error, e, work, on_result]
        del owner, work, on_result, on_error  # the box holds the only references now
        relay.delivered.emit(box)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
