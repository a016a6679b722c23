"""Screenshots of the window as a user sees it: a short run of a method, then each tab raised, at a window size,
normal and presenter mode. Run it on a real display or under Xvfb (the xcb libraries installed, as on a user's
machine), one size per call:

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --size 1280x800 \\
        --method jigsaw --steps 150 --out /tmp/shots

Writes OUT/<method>-<size>-<normal|presenter>-<tab>.png and prints each path. For a text method the word map:

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --method word2vec \
        --dataset captions --steps 3000 --tabs preview words --query red --hover blue --out /tmp/shots
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABS = ("preview_dock", "attention_dock", "explorer_dock", "evaluation_dock", "words_dock")


def show_words(word_map, query: str, hover: str) -> None:
    """Type ``query`` into the word map and rest the mouse on ``hover``'s point."""
    from PySide6.QtTest import QTest

    if word_map.points is None:
        return
    if query:
        word_map.query.setText(query)
        word_map.ask(query)
    if hover in word_map.points.labels:
        scatter, row = word_map.scatter, word_map.points.labels.index(hover)
        QTest.mouseMove(scatter.viewport(), scatter.mapFromScene(scatter.scene_pos_of(row)))
        word_map.show_hover(row)  # as the hover does (a window manager may hold the pointer elsewhere)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--backbone", default="convnet")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--tabs", nargs="+", choices=[t[:-5] for t in TABS], default=[t[:-5] for t in TABS])
    parser.add_argument("--modes", nargs="+", choices=("normal", "presenter"), default=["normal", "presenter"])
    parser.add_argument("--query", default="", help="words tab: a word or analogy typed into the word map")
    parser.add_argument("--hover", default="", help="words tab: the word whose point the mouse rests on")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pretext-shots"))
    args = parser.parse_args()
    width, height = map(int, args.size.split("x"))
    args.out.mkdir(parents=True, exist_ok=True)

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from engine.cli import parse_settings
    from gui.main_window import MainWindow, RunState
    from gui.presets import Preset

    app = QApplication(sys.argv[:1])

    def wait(seconds: float, until=lambda: False) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
            time.sleep(0.02)

    run = {"method": args.method, "dataset": args.dataset, "backbone": args.backbone, "steps": args.steps,
           "minutes": 0.0, "eval_every_s": 5.0, "preview_every_s": 2.0, **parse_settings(args.set)}
    window = MainWindow()
    window.apply_preset(Preset(run))
    window.resize(width, height)
    window.show()
    window.explorer.start_layout_worker()
    wait(120, lambda: window.state is RunState.IDLE)
    window.start_run()
    wait(1800, lambda: window.state is RunState.IDLE and not window.training_alive)
    for mode in args.modes:
        window.presenter_action.setChecked(mode == "presenter")
        for tab in args.tabs:
            getattr(window, f"{tab}_dock").raise_()
            wait(25 if tab in ("explorer", "words") and mode == "normal" else 3)  # the first view: PCA, then UMAP
            if tab == "words":
                show_words(window.word_map, args.query, args.hover)
                wait(1)
            path = args.out / f"{args.method}-{args.size}-{mode}-{tab}.png"
            window.grab().save(str(path))
            print(path, flush=True)
    QTimer.singleShot(0, window.close)
    wait(10)


if __name__ == "__main__":
    main()
