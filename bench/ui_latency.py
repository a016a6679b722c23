"""UI responsiveness while training: the gaps between ticks of a 10 ms timer on the GUI thread during a SimCLR
run in the window (from Start until the run has finished: data loading, baselines, evaluations and previews
included), and training throughput in the window against the headless CLI on the same settings.

    .venv/bin/python bench/ui_latency.py [--seconds 60] [--repeats 1]

Targets: longest gap under 100 ms, 99th percentile under 30 ms; throughput within 10 % of the CLI's. Throughput
is steps x batch / training seconds from each run's checkpoint (evaluations excluded the same way in both).
Each run is a fresh process, CLI and window alternating; Qt's offscreen platform unless DISPLAY is set.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TICK_MS = 10
BATCH = 256


def throughput(run_dir: Path) -> float:
    from engine.checkpoint import read_state

    state = read_state(run_dir / "checkpoint.safetensors")
    return state["step"] * BATCH / state["elapsed"]


def window_child(seconds: float) -> None:
    """Train in the window with a 10 ms timer ticking on the GUI thread; print the gaps and the throughput."""
    sys.path.insert(0, str(ROOT))
    from PySide6.QtCore import QEventLoop, Qt, QTimer

    import main  # noqa: F401  (its environment settings, as the app starts)
    from gui.app import open_window
    from gui.main_window import RunState

    app, window = open_window([])
    loop = QEventLoop()
    window.engine_ready.connect(loop.quit)
    loop.exec()
    window.setup.set_values({"dataset": "shapes", "method": "simclr", "batch_size": BATCH, "device": "cpu",
                             "minutes": seconds / 60, "steps": 0})
    ticks: list[float] = []
    timer = QTimer(timerType=Qt.TimerType.PreciseTimer, interval=TICK_MS)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))

    def check_finished() -> None:
        if window.state is RunState.IDLE:
            loop.quit()

    watcher = QTimer(interval=200)
    watcher.timeout.connect(check_finished)
    window.start_action.trigger()
    timer.start()
    watcher.start()
    loop.exec()
    timer.stop()
    gaps = np.diff(ticks) * 1000
    worst = np.argsort(gaps)[-5:][::-1]
    print(json.dumps({"gaps_ms": {"max": gaps.max(), "p99": np.percentile(gaps, 99), "p95": np.percentile(gaps, 95),
                                  "median": np.median(gaps), "ticks": len(ticks)},
                      "worst_at_s": [(round(ticks[i] - ticks[0], 1), round(gaps[i], 1)) for i in worst],
                      "images_per_s": throughput(window.run_dir)}))


def cli_run(seconds: float, out: Path, env: dict[str, str]) -> float:
    subprocess.run([sys.executable, "main.py", "train", "--method", "simclr", "--dataset", "shapes", "--device", "cpu",
                    "--batch-size", str(BATCH), "--minutes", str(seconds / 60), "--out", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return throughput(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget of each run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--window-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.window_child:
        return window_child(args.seconds)
    scratch = Path(tempfile.mkdtemp(prefix="pretext-ui-latency-"))
    env = {**os.environ, "PRETEXT_RUNS": str(scratch / "runs"), "OMP_WAIT_POLICY": "PASSIVE"}
    if "DISPLAY" not in env:
        env["QT_QPA_PLATFORM"] = "offscreen"
    cli, gui = [], []
    for repeat in range(args.repeats):
        load = os.getloadavg()[0]
        cli.append(cli_run(args.seconds, scratch / f"cli-{repeat}", env))
        result = json.loads(subprocess.run([sys.executable, __file__, "--window-child", "--seconds", str(args.seconds)],
                                           cwd=ROOT, env=env, check=True, capture_output=True, text=True)
                            .stdout.splitlines()[-1])
        gui.append(result["images_per_s"])
        g = result["gaps_ms"]
        print(f"run {repeat + 1} (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after): "
              f"timer gaps max {g['max']:.1f} ms, p99 {g['p99']:.1f} ms, p95 {g['p95']:.1f} ms, "
              f"median {g['median']:.1f} ms over {g['ticks']} ticks; worst at (s, ms) {result['worst_at_s']}; "
              f"images/s window {gui[-1]:.0f} vs CLI {cli[-1]:.0f}")
    ratio = statistics.mean(gui) / statistics.mean(cli)
    print(f"throughput in the window: {ratio:.1%} of the headless CLI's (mean of {args.repeats} run(s) each)")


if __name__ == "__main__":
    main()
