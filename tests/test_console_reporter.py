"""The headless progress: a bar redrawn in place on a terminal, plain timed lines into a log."""
from __future__ import annotations

import io

from engine import events
from engine.cli import ConsoleReporter


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def step(n: int) -> events.Step:
    return events.Step(step=n, epoch=0.0, steps=(n,), losses=(1.0 / n,), lr=1e-3, images_per_s=500.0,
                       elapsed_s=float(n), eta_s=100.0 - n)


def started() -> events.Started:
    return events.Started("/tmp/run", {"method": "simclr", "minutes": 0.0}, "cpu", 100, "shapes", 512, 16, 3)


def test_into_a_log_progress_is_a_plain_line_at_most_every_interval():
    now = [0.0]
    log = io.StringIO()
    reporter = ConsoleReporter(log, log_interval_s=10.0, clock=lambda: now[0])
    reporter(started())
    for n in range(1, 61):  # a step every half second: 30 s of training
        now[0] = n * 0.5
        reporter(step(n))
    reporter(events.Finished(60, "completed"))
    text = log.getvalue()
    assert "\r" not in text
    progress = [line for line in text.splitlines() if line.startswith("[")]
    # steps 1, 21, 41 (every 10 s), then the latest one before the closing line
    assert [line.split(" step ")[1].split()[0] for line in progress] == ["1", "21", "41", "60"]
    assert text.splitlines()[-1] == "Run completed at step 60." and "60%" in progress[-1]


def test_on_a_terminal_progress_is_one_bar_redrawn_in_place():
    terminal = Terminal()
    reporter = ConsoleReporter(terminal)
    reporter(started())
    for n in range(1, 6):
        reporter(step(n))
    reporter(events.Finished(5, "completed"))
    lines = terminal.getvalue().split("\n")[:-1]
    assert len(lines) == 3 and lines[1].count("\r") == 5 and lines[2] == "Run completed at step 5."
