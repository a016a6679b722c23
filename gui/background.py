"""Run a function on a daemon thread and receive its outcome on the GUI thread.

The thread never touches a widget: it hands its result (or the exception) to a relay object that lives on
the GUI thread, through a queued signal, and the relay calls back there, unless the object that asked has
been deleted in the meantime (a window closed while its preview rendered).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, Qt, Signal, Slot


class _Relay(QObject):
    delivered = Signal(object, object, object)  # owner, callback, argument

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._call, Qt.ConnectionType.QueuedConnection)

    @Slot(object, object, object)
    def _call(self, owner: QObject, callback: Callable[[Any], None], argument: Any) -> None:
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

    def body() -> None:
        try:
            value = work()
        except Exception as e:  # noqa: BLE001  (handed to the GUI thread, which shows it)
            relay.delivered.emit(owner, on_error, e)
        else:
            relay.delivered.emit(owner, on_result, value)

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread
