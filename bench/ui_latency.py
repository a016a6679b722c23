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
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TICK_MS = 10
BATCH = 256


def throughput(run_dir: Path) -> float:
    from engine.checkpoint import read_state

    state = read_state(run_dir / "checkpoint.safetensors")
    return state["step"] * BATCH / state["elapsed"]


class StallSampler(threading.Thread):
    """Every 2 ms, look at the GUI thread's timer: when it has not ticked for over `threshold_ms`, keep the innermost
    frames of every thread's Python stack (the GUI thread's: the slot that holds it, or the event loop's frame for
    a stall in C++; another thread's: what it did while it held the GIL, or what it waits in)."""

    def __init__(self, ticks: list[float], threshold_ms: float = 25.0):
        super().__init__(daemon=True)
        self.ticks, self.threshold = ticks, threshold_ms / 1000
        self.samples: collections.Counter[str] = collections.Counter()
        self.running = True

    def run(self) -> None:
        self.own = threading.get_ident()
        while self.running:
            time.sleep(0.002)
            if self.ticks and time.perf_counter() - self.ticks[-1] > self.threshold:
                frames = sys._current_frames()
                names = {thread.ident: thread.name for thread in threading.enumerate()}
                for ident, frame in frames.items():
                    if ident != self.own:
                        stack = traceback.extract_stack(frame)[-4:]
                        self.samples[f"[{names.get(ident, ident)}] " + " < ".join(
                            f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in stack[::-1])] += 1


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def window_child(seconds: float, stacks: bool) -> None:
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
    sampler = StallSampler(ticks)
    gui_cpu, process_cpu = time.thread_time(), time.process_time()
    umap_cpu = cpu_seconds(window.explorer.layout_worker._process.pid)
    window.start_action.trigger()
    timer.start()
    watcher.start()
    if stacks:
        sampler.start()
    loop.exec()
    timer.stop()
    gui_cpu, process_cpu = time.thread_time() - gui_cpu, time.process_time() - process_cpu
    umap_cpu = cpu_seconds(window.explorer.layout_worker._process.pid) - umap_cpu
    sampler.running = False
    if stacks:
        for stack, count in sampler.samples.most_common(12):
            print(f"{count * 2:6d} ms stalled in {stack}", file=sys.stderr)
    gaps = np.diff(ticks) * 1000
    worst = np.argsort(gaps)[-5:][::-1]
    print(json.dumps({"gaps_ms": {"max": gaps.max(), "p99": np.percentile(gaps, 99), "p95": np.percentile(gaps, 95),
                                  "median": np.median(gaps), "ticks": len(ticks)},
                      "worst_at_s": [(round(ticks[i] - ticks[0], 1), round(gaps[i], 1)) for i in worst],
                      "images_per_s": throughput(window.run_dir), "gui_cpu_s": gui_cpu,
                      "process_cpu_s": process_cpu, "umap_cpu_s": umap_cpu,
                      "wall_s": ticks[-1] - ticks[0]}))


def cli_run(seconds: float, out: Path, env: dict[str, str]) -> float:
    subprocess.run([sys.executable, "main.py", "train", "--method", "simclr", "--dataset", "shapes", "--device", "cpu",
                    "--batch-size", str(BATCH), "--minutes", str(seconds / 60), "--out", str(out)],
                   cwd=ROOT, env=env, check=True, capture_output=True)
    return throughput(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="training budget of each run")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--stacks", action="store_true",
                        help="print where each thread's Python stack was while the GUI timer stalled over 25 ms")
    parser.add_argument("--window-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.window_child:
        return window_child(args.seconds, args.stacks)
    scratch = Path(tempfile.mkdtemp(prefix="pretext-ui-latency-"))
    env = {**os.environ, "PRETEXT_RUNS": str(scratch / "runs"), "OMP_WAIT_POLICY": "PASSIVE"}
    if "DISPLAY" not in env:
        env["QT_QPA_PLATFORM"] = "offscreen"
    cli, gui = [], []
    for repeat in range(args.repeats):
        load = os.getloadavg()[0]
        cli.append(cli_run(args.seconds, scratch / f"cli-{repeat}", env))
        child = subprocess.run([sys.executable, __file__, "--window-child", "--seconds", str(args.seconds)]
                               + ["--stacks"] * args.stacks, cwd=ROOT, env=env, check=True, capture_output=True,
                               text=True)
        if args.stacks:
            print("\n".join(line for line in child.stderr.splitlines() if " stalled in " in line))
        result = json.loads(child.stdout.splitlines()[-1])
        gui.append(result["images_per_s"])
        g = result["gaps_ms"]
        print(f"run {repeat + 1} (load average {load:.2f} before, {os.getloadavg()[0]:.2f} after): "
              f"timer gaps max {g['max']:.1f} ms, p99 {g['p99']:.1f} ms, p95 {g['p95']:.1f} ms, "
              f"median {g['median']:.1f} ms over {g['ticks']} ticks; worst at (s, ms) {result['worst_at_s']}; "
              f"CPU s in {result['wall_s']:.0f} s: GUI thread {result['gui_cpu_s']:.1f}, window process "
              f"{result['process_cpu_s']:.1f}, UMAP process {result['umap_cpu_s']:.1f}; "
              f"images/s window {gui[-1]:.0f} vs CLI {cli[-1]:.0f}")
    ratio = statistics.mean(gui) / statistics.mean(cli)
    print(f"throughput in the window: {ratio:.1%} of the headless CLI's (mean of {args.repeats} run(s) each)")


if __name__ == "__main__":
    main()
