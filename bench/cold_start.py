"""Cold start: seconds from launching the app to the window's first paint, and to the engine loaded (pickers
filled, Start enabled), each in a fresh interpreter; ``import torch`` alone for comparison.

    .venv/bin/python bench/cold_start.py [--repeats 5]

Uses Qt's offscreen platform unless DISPLAY is set. The clock starts just before the process is spawned, so
interpreter start-up counts. Target: first paint under 3 s.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def child(t0: float) -> None:
    """What ``python main.py`` does, plus two clocks: the first paint and the engine being ready."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEvent, QObject

    import main  # noqa: F401  (its environment settings, as the app starts)
    from gui.app import open_window

    marks: dict[str, float] = {}

    class FirstPaint(QObject):
        def eventFilter(self, watched, event):  # noqa: N802  (Qt override)
            if event.type() == QEvent.Type.Paint and "shown" not in marks:
                marks["shown"] = time.time() - t0
            return False

    app, window = open_window([])
    paints = FirstPaint()
    app.installEventFilter(paints)

    def ready() -> None:
        marks["ready"] = time.time() - t0
        app.quit()

    window.engine_ready.connect(ready)
    app.exec()
    print(json.dumps(marks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child)
    env = dict(os.environ)
    if "DISPLAY" not in env:
        env["QT_QPA_PLATFORM"] = "offscreen"
    shown, ready, torch_import = [], [], []
    for _ in range(args.repeats):
        t0 = time.time()
        marks = json.loads(subprocess.run([sys.executable, __file__, "--child", repr(t0)], cwd=ROOT, env=env,
                                          capture_output=True, text=True, check=True).stdout.splitlines()[-1])
        shown.append(marks["shown"])
        ready.append(marks["ready"])
        t0 = time.time()
        subprocess.run([sys.executable, "-c", "import torch"], cwd=ROOT, env=env, check=True)
        torch_import.append(time.time() - t0)
    platform = env.get("QT_QPA_PLATFORM") or f"xcb (DISPLAY={env['DISPLAY']})"
    print(f"platform {platform}, {args.repeats} runs, load average {os.getloadavg()[0]:.2f}")
    for name, values in (("window shown (first paint)", shown), ("engine ready (Start enabled)", ready),
                         ("python -c 'import torch'", torch_import)):
        print(f"  {name:<30} median {statistics.median(values):5.2f} s   max {max(values):5.2f} s")


if __name__ == "__main__":
    main()
