"""Screenshots of the window as a user sees it: a short run of a method, then each tab raised, at a window size,
normal and presenter mode. Run it on a real display or under Xvfb (the xcb libraries installed, as on a user's
machine), one size per call:

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --size 1280x800 \\
        --method jigsaw --steps 150 --out /tmp/shots

Writes OUT/<method>-<size>-<normal|presenter>-<tab>.png and prints each path. With ``--method clip`` the tab
``clip`` gives two shots: the CLIP panel's live similarity matrix of the batch (clip-similarity) and a drag-in
zero-shot result, a rendered shapes image dropped with the shape names as prompts (clip-dropped):

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --method clip --tabs clip \\
        --steps 300 --out /tmp/shots

For a text method, the word map:

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --method word2vec \\
        --dataset captions --steps 3000 --tabs preview words --query red --hover blue --out /tmp/shots

For a pixel-level method, the Pixels panel after a simulated click: dense_descriptors' distance heat map of the
clicked pixel (``--click X,Y`` in the run's pixels; default the middle of the object), video_colorization's tracked
object (the first object of the first clip, shown at its middle frame):

    xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py --method dense_descriptors \
        --steps 60 --set dataset.train_size=1500 --set dataset.test_size=300 --tabs pixels --out /tmp/shots

The tab ``runs`` is the Evaluation dock with its Runs table raised: the runs in the same runs folder evaluated on
the same data. For the single-image lesson, train a run on all of shapes first, then one on one image's crops:

    PRETEXT_RUNS=/tmp/si .venv/bin/python main.py train --dataset shapes --steps 500
    PRETEXT_RUNS=/tmp/si xvfb-run -s "-screen 0 1920x1080x24" .venv/bin/python bench/screenshots.py \
        --dataset single_image --steps 500 --tabs runs --out /tmp/shots

``--open RUN_DIR`` shoots a run that exists (File > Open Run) instead of training a new one.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TABS = ("preview_dock", "attention_dock", "explorer_dock", "evaluation_dock", "clip_dock", "words_dock", "pixels_dock")
RUNS_TAB = "runs"  # the evaluation dock with its Runs table raised
PIXEL_METHODS = ("dense_descriptors", "video_colorization")
CLIP_TABS = {"clip-similarity": 0, "clip-dropped": 2}  # the CLIP panel's tabs shot for the "clip" tab


def dropped_scene(folder: Path) -> Path:
    """A shapes image (a held-out red star when CLIP holds them out) written as a PNG to drop on the panel."""
    import torch
    from PIL import Image

    from engine.data.shapes import render, sample_scenes

    scene = sample_scenes(1, torch.Generator().manual_seed(11), max_distractors=0)
    scene.shape, scene.color = torch.tensor([4]), torch.tensor([0])
    scene.rgb = torch.tensor([[0.9, 0.1, 0.1]])
    path = folder / "dropped-red-star.png"
    Image.fromarray(render(scene, 128)[0][0].permute(1, 2, 0).numpy()).save(path)
    return path



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


def show_pixels(view, click: str, wait) -> None:
    """A simulated click on the Pixels panel (a pixel of image A, or an object of frame 0), once its images are in."""
    import numpy as np
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    def click_at(panes, x: int, y: int) -> None:
        QTest.mouseClick(panes.viewport(), Qt.MouseButton.LeftButton, pos=panes.pixel_position(0, x, y))

    chosen = tuple(map(int, click.split(","))) if click else None
    if view.current is view.descriptors:
        explorer = view.descriptors
        wait(60, lambda: explorer.pair is not None)
        if explorer.pair is not None:
            seen = explorer.pair.images[0].float().sum(0) > 0  # the view's pixels inside the warped image
            click_at(explorer.panes, *(chosen or (int(np.median(a)) for a in np.nonzero(seen.numpy())[::-1])))
            wait(30, lambda: explorer.match is not None)
    elif view.current is view.tracking:
        tracking = view.tracking
        wait(60, lambda: tracking.clip is not None)
        if tracking.clip is not None and tracking.clip.instances is not None:
            ys, xs = np.nonzero((tracking.clip.instances[0] == 1).numpy())
            click_at(tracking.panes, *(chosen or (int(xs[len(xs) // 2]), int(ys[len(ys) // 2]))))
            wait(60, lambda: tracking.tracking is not None)
            tracking.slider.setValue(tracking.slider.maximum() // 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--method", default="simclr")
    parser.add_argument("--dataset", default="shapes")
    parser.add_argument("--backbone", default="", help="default: the method's (MAE: vit-tiny), else convnet")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--set", action="append", default=[], metavar="GROUP.NAME=VALUE")
    parser.add_argument("--tabs", nargs="+", choices=[t[:-5] for t in TABS] + [RUNS_TAB],
                        help="docks to shoot (default: all; the CLIP panel only for --method clip, the word map only "
                             "for a text method)")
    parser.add_argument("--modes", nargs="+", choices=("normal", "presenter"), default=["normal", "presenter"])
    parser.add_argument("--query", default="", help="words tab: a word or analogy typed into the word map")
    parser.add_argument("--hover", default="", help="words tab: the word whose point the mouse rests on")
    parser.add_argument("--click", default="", help="pixels tab: the pixel X,Y clicked (default: on the object)")
    parser.add_argument("--open", type=Path, help="a run folder opened as File > Open Run does, instead of a new run")
    parser.add_argument("--out", type=Path, default=Path("/tmp/pretext-shots"))
    args = parser.parse_args()
    text = args.method in ("word2vec", "masked_lm")
    args.tabs = args.tabs or [t[:-5] for t in TABS if (t != "clip_dock" or args.method == "clip")
                              and (t != "words_dock" or text) and (t != "pixels_dock" or args.method in PIXEL_METHODS)]
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

    run = {"method": args.method, "dataset": args.dataset, **({"backbone": args.backbone} if args.backbone else {}),
           "steps": args.steps, "minutes": 0.0, "eval_every_s": 5.0, "preview_every_s": 2.0, **parse_settings(args.set)}
    window = MainWindow()
    window.apply_preset(Preset(run))
    window.resize(width, height)
    window.show()
    window.explorer.start_layout_worker()
    wait(120, lambda: window.state is RunState.IDLE)
    if args.open:
        window.load_run(args.open)
        wait(60, lambda: window.run_dir is not None)
    else:
        window.start_run()
        wait(1800, lambda: window.state is RunState.IDLE and not window.training_alive)
    explorer = window.explorer
    for mode in args.modes:
        window.presenter_action.setChecked(mode == "presenter")
        for tab in args.tabs:
            getattr(window, f"{'evaluation' if tab == RUNS_TAB else tab}_dock").raise_()
            if tab in ("evaluation", RUNS_TAB):
                evaluation = window.explorer.evaluation
                evaluation.setCurrentWidget(evaluation.runs if tab == RUNS_TAB else evaluation.accuracy)
            wait(25 if tab == "words" and mode == "normal" else 3)  # the first view: PCA, then UMAP
            if tab == "words":
                show_words(window.word_map, args.query, args.hover)
                wait(1)
            if tab == "pixels":
                show_pixels(window.pixels_view, args.click, wait)
                wait(1)
            if tab == "explorer":
                wait(60, lambda: explorer.explored is not None and explorer.explored.layout == "UMAP")
                if explorer.explored is not None:
                    explorer.show_neighbours(0)  # as a click on the first training image's point
                    wait(10, lambda: not explorer.jobs["neighbours"].running)
                    wait(1)
            shots = {tab: None} if tab != "clip" else CLIP_TABS
            for name, index in shots.items():
                if name == "clip-dropped":
                    window.clip_view.set_prompts(["circle", "ring", "square", "triangle", "star", "red star",
                                                  "blue ring"], "a {}.")
                    window.clip_view.query([str(dropped_scene(args.out))])
                    wait(60, lambda: window.clip_view.cards_layout.count() > 1 and not any(
                        window.clip_view.jobs[job].running for job in ("model", "query")))
                if index is not None:
                    window.clip_view.tabs.setCurrentIndex(index)
                    wait(2)
                path = args.out / f"{args.method}-{args.size}-{mode}-{name}.png"
                window.grab().save(str(path))
                print(path, flush=True)
    QTimer.singleShot(0, window.close)
    wait(10)


if __name__ == "__main__":
    main()
