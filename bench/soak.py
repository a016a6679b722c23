"""Soak: a long SimCLR run in the window with an explorer snapshot, a new preview and a dropped-image query every
few seconds (issue 18). Each minute it prints the process's resident memory, the live Qt objects (widgets, and all
QObjects the garbage collector sees), and the GUI timer's longest gap and 99th percentile over that minute; at the
end, start against end.

    .venv/bin/python bench/soak.py [--minutes 60] [--every 5]

Qt's offscreen platform unless DISPLAY is set; run folders in a temporary directory. Memory flat means the last
minutes' RSS within a few MB of the first minutes' once the explorer has made its first embedding.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TICK_MS = 10


def rss_mb() -> float:
    """Resident memory of this process (Linux /proc), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def qt_objects() -> tuple[int, int]:
    """(live widgets, QObjects the garbage collector tracks)."""
    from PySide6.QtCore import QObject
    from PySide6.QtWidgets import QApplication

    return len(QApplication.allWidgets()), sum(isinstance(o, QObject) for o in gc.get_objects())


def dropped_image(folder: Path) -> Path:
    """A shapes test image as a PNG, the file the soak drops on the explorer again and again."""
    from PIL import Image

    from engine.data import load_dataset

    image = load_dataset("shapes", {"train_size": 16, "test_size": 16}).test.images[0]
    path = folder / "dropped.png"
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between the snapshot/preview/query calls")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="pretext-soak-"))
    os.environ["PRETEXT_RUNS"] = str(scratch / "runs")
    if "DISPLAY" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    import main  # noqa: F401  (its environment settings, as the app starts)
    from gui.app import open_window
    from gui.main_window import RunState

    app, window = open_window([])
    loop = QEventLoop()
    window.engine_ready.connect(loop.quit)
    loop.exec()
    window.explorer.start_layout_worker()
    window.explorer_dock.raise_()
    window.setup.set_values({"dataset": "shapes", "method": "simclr", "device": "cpu", "minutes": args.minutes,
                             "steps": 0})
    query = str(dropped_image(scratch))
    ticks: list[float] = []
    timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    calls = {"snapshot": 0, "preview": 0, "query": 0}

    def poke() -> None:
        """One of the three user actions, in turn."""
        if window.state is not RunState.RUNNING:
            return
        turn = sum(calls.values()) % 3
        if turn == 0 and not window.explorer.jobs["embedding"].running:
            window.explorer.snapshot()
            calls["snapshot"] += 1
        elif turn == 1:
            window.preview_action.trigger()
            calls["preview"] += 1
        elif turn == 2:
            window.explorer.query([query])
            calls["query"] += 1

    rows: list[tuple[float, float, int, int, float, float]] = []
    minute_start = [0]

    def report() -> None:
        now = time.perf_counter()
        gaps = np.diff(ticks[minute_start[0]:]) * 1000 if len(ticks) - minute_start[0] > 1 else np.zeros(1)
        widgets, objects = qt_objects()  # a full pass over the heap: the stall it causes is nobody's minute
        minute_start[0] = len(ticks)
        rows.append((now - started, rss_mb(), widgets, objects, gaps.max(), np.percentile(gaps, 99)))
        t, rss, w, o, worst, p99 = rows[-1]
        print(f"{t / 60:5.1f} min  RSS {rss:7.1f} MB  widgets {w:5d}  QObjects {o:6d}  gaps max {worst:6.1f} ms "
              f"p99 {p99:5.1f} ms  calls {calls}", flush=True)

    def check_finished() -> None:
        if window.state is RunState.IDLE:
            loop.quit()

    pokes, minutes, watcher = QTimer(interval=int(args.every * 1000)), QTimer(interval=60_000), QTimer(interval=500)
    pokes.timeout.connect(poke)
    minutes.timeout.connect(report)
    watcher.timeout.connect(check_finished)
    started = time.perf_counter()
    load = os.getloadavg()[0]
    window.start_action.trigger()
    for each in (timer, pokes, minutes, watcher):
        each.start()
    report()
    loop.exec()
    report()
    first, last = rows[1] if len(rows) > 2 else rows[0], rows[-1]
    print(f"load average {load:.2f} before, {os.getloadavg()[0]:.2f} after; from minute 1 to the end: "
          f"RSS {first[1]:.0f} -> {last[1]:.0f} MB, widgets {first[2]} -> {last[2]}, QObjects {first[3]} -> "
          f"{last[3]}; longest gap of any minute {max(r[4] for r in rows):.0f} ms, worst minute's p99 "
          f"{max(r[5] for r in rows):.1f} ms; {calls}")
    window.close()
    QTimer.singleShot(3000, loop.quit)  # the explorer's and the layout worker's threads end
    loop.exec()


if __name__ == "__main__":
    main()
