"""The tracking view of the Pixels panel (Vondrick et al. 2018, "Tracking Emerges by Colorizing Videos", sec. 4 and
fig. 1): a held-out clip; a click on an object in its first frame picks it (its instance in the clip's ground truth,
or without one the region of the clicked colour); its mask and keypoints are propagated through the clip by the
run's learnt attention (``engine.video.tracking.track_clip``) and drawn over every frame, with play / pause and a
scrub slider, and the region similarity J per frame beside the first frame's mask copied unchanged.

The clip is read and tracked in background jobs; the GUI thread only draws the frames they return.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.errors import describe
from gui.eval_reports import style_plot
from gui.image_panes import ImagePanes
from gui.jobs import BackgroundJob
from gui.theme import Style

FIRST, CURRENT = 0, 1
FRAMES_PER_S = 6
COLOUR_TOLERANCE = 40.0  # RGB distance within which a pixel belongs to the clicked colour region (clips without truth)
J_AXIS_TOP = 1.4  # J is at most 1: the room above holds the legend


@dataclass(frozen=True)
class Clip:
    """A held-out clip at the run's size and its ground truth (None for clips without)."""

    frames: Any  # uint8 (T, 3, S, S)
    instances: Any  # uint8 (T, S, S): 0 background, k object k; or None
    keypoints: Any  # float (T, K, 2) or None
    keypoint_objects: Any  # int64 (K,): the object of each keypoint, or None
    count: int  # clips in the test split
    title: str


def read_clip(subject: Any, index: int) -> Clip:
    dataset = subject.dataset
    clips = dataset.clips(dataset.test)
    index = min(index, len(clips) - 1)
    truth = dataset.test_truth
    if truth is None:
        return Clip(clips[index], None, None, None, len(clips), subject.title)
    return Clip(clips[index], truth.instances[index], truth.keypoints[index], truth.keypoint_objects, len(clips),
                subject.title)


def colour_region(frame: Any, x: int, y: int, tolerance: float = COLOUR_TOLERANCE) -> Any:
    """bool (S, S): the pixels of ``frame`` (uint8 (3, S, S)) connected to (x, y) through pixels whose colour lies
    within ``tolerance`` of the clicked one's."""
    import torch
    import torch.nn.functional as F

    similar = (frame.float() - frame[:, y, x].float()[:, None, None]).norm(dim=0) <= tolerance
    region = torch.zeros_like(similar)
    region[y, x] = True
    while True:
        grown = F.max_pool2d(region[None, None].float(), 3, 1, 1)[0, 0].bool() & similar
        if bool((grown == region).all()):
            return region
        region = grown


@dataclass(frozen=True)
class Tracking:
    """One object tracked through a clip."""

    overlays: Any  # uint8 (T, 3, S, S): the frames with the propagated mask and keypoints drawn
    masks: Any  # uint8 (T, S, S): 1 on the object
    j: np.ndarray | None  # (T,) J per frame (frame 0, given, is 1); None without ground truth
    j_copied: np.ndarray | None  # the same for the first frame's mask copied to every frame
    description: str


def track_object(method: Any, clip: Clip, x: int, y: int) -> Tracking:
    """Track the object under pixel (x, y) of the clip's first frame with ``method``'s attention."""
    import torch

    from engine.video.track_cli import overlay
    from engine.video.tracking import copied, region_similarity, track_clip

    keypoints = truth_masks = truth_keypoints = None
    if clip.instances is not None:
        k = int(clip.instances[0, y, x])
        if k == 0:
            raise ValueError("that is the background: click an object in the first frame")
        first = clip.instances[0] == k
        mine = clip.keypoint_objects == k
        keypoints, truth_keypoints = clip.keypoints[0, mine], clip.keypoints[:, mine]
        truth_masks = (clip.instances == k).to(first.dtype)
        description = f"object {k} ({int(first.sum())} pixels in frame 0)"
    else:
        first = colour_region(clip.frames[0], x, y)
        description = f"the colour region at ({x}, {y}) ({int(first.sum())} pixels)"
    tracked = track_clip(method, clip.frames, first, keypoints, truth_masks, truth_keypoints)
    overlays = [overlay(frame, mask, None if tracked.keypoints is None else tracked.keypoints[t])
                for t, (frame, mask) in enumerate(zip(clip.frames, tracked.masks))]
    j = j_copied = None
    if truth_masks is not None:
        j = tracked.j_per_frame.numpy()
        j_copied = region_similarity(copied(first.to(torch.uint8), None, len(clip.frames)).masks, truth_masks,
                                     1).numpy()
    return Tracking(torch.stack(overlays), tracked.masks, j, j_copied, description)


class TrackingView(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source: Any = None  # gui.snapshots LiveSource or SavedSource
        self.subject: Any = None  # its snapshot, which tracks the clicked object
        self.clip: Clip | None = None
        self.tracking: Tracking | None = None
        self.style = Style()
        self.jobs = {name: BackgroundJob(self, f"tracking-{name}") for name in ("clip", "track")}
        self.timer = QTimer(self)
        self.timer.setInterval(1000 // FRAMES_PER_S)

        self.index = QSpinBox()
        self.index.setToolTip("The held-out clip")
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("Track with the network as it is now (during training too)")
        self.play_button = QPushButton("Play")
        self.play_button.setCheckable(True)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setToolTip("Scrub through the clip")
        self.frame_label = QLabel("frame 0")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.panes = ImagePanes([["frame 0: click an object", "frame 0"]])
        self.panes.setToolTip("Click an object in the first frame to track it through the clip")
        self.plot = pg.PlotWidget()
        self.plot.setToolTip("J per frame: the IoU of the propagated and the true mask")
        self.plot.setYRange(0, J_AXIS_TOP)
        self.legend = self.plot.addLegend(offset=(-10, 5), colCount=2)  # one row, above J = 1: it covers no point
        self.j_curve = self.plot.plot([], [], name="propagated", symbol="o")
        self.copy_curve = self.plot.plot([], [], name="first frame copied", symbol="t")
        self.cursor = pg.InfiniteLine(0, movable=False)
        self.plot.addItem(self.cursor)

        bar = QHBoxLayout()
        bar.addWidget(QLabel("Test clip"))
        bar.addWidget(self.index)
        bar.addWidget(self.snapshot_button)
        bar.addWidget(self.play_button)
        bar.addWidget(self.slider, 1)
        bar.addWidget(self.frame_label)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.panes)
        splitter.addWidget(self.plot)
        splitter.setStretchFactor(0, 2)
        splitter.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(splitter, 1)

        self.index.valueChanged.connect(lambda _: self.refresh())
        self.snapshot_button.clicked.connect(self.refresh)
        self.play_button.toggled.connect(self.play)
        self.timer.timeout.connect(self.advance)
        self.slider.valueChanged.connect(self.show_frame)
        self.panes.clicked.connect(self._clicked)
        self.apply_style(self.style)

    def show_source(self, source: Any) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.source, self.subject, self.clip, self.tracking = source, None, None, None
        self.play_button.setChecked(False)
        for pane in (FIRST, CURRENT):
            self.panes.clear_image(pane)
        self._show_curves()
        self.status.setText("Reading the held-out clips ...")

    def refresh(self) -> None:
        """The chosen clip, with the network as it is now."""
        if self.source is None:
            return
        source, index = self.source, self.index.value()
        self.status.setText("Reading the clip ...")

        def work(cancelled, progress):
            subject = source.take(cancelled)
            return subject, read_clip(subject, index)

        self.jobs["clip"].start(work, self._read, self._failed)

    def _read(self, outcome: tuple[Any, Clip]) -> None:
        self.subject, self.clip = outcome
        self.tracking = None
        self.index.blockSignals(True)
        self.index.setMaximum(self.clip.count - 1)
        self.index.blockSignals(False)
        self.panes.set_image(FIRST, self.clip.frames[0])
        self.panes.marks[FIRST].clear()
        self.slider.setRange(0, len(self.clip.frames) - 1)
        self._show_curves()
        self.show_frame(self.slider.value())
        self.status.setText(f"{self.clip.title}: click an object in frame 0 to track it.")

    def _clicked(self, pane: int, x: int, y: int) -> None:
        if pane == FIRST:
            self.click(x, y)

    def click(self, x: int, y: int) -> None:
        """Track the object under (x, y) of frame 0, off the GUI thread."""
        if self.clip is None:
            return
        method, clip = self.subject.snapshot.method, self.clip
        self.status.setText("Tracking ...")
        self.panes.mark(FIRST, [(x, y)], ["#ffffff"])
        self.jobs["track"].start(lambda cancelled, progress: track_object(method, clip, x, y),
                                 lambda tracking: self._tracked(clip, tracking), self._failed)

    def _tracked(self, clip: Clip, tracking: Tracking) -> None:
        if clip is not self.clip:
            return
        self.tracking = tracking
        self.panes.set_image(FIRST, tracking.overlays[0])
        self._show_curves()
        self.show_frame(self.slider.value())
        text = f"Tracking {tracking.description} through {len(clip.frames)} frames"
        if tracking.j is not None:
            text += (f": mean J {tracking.j[1:].mean():.2f} after frame 0, the first frame copied "
                     f"{tracking.j_copied[1:].mean():.2f}")
        else:
            text += " (no ground truth: J is not scored)"
        self.status.setText(text + ". Play or scrub to follow it.")

    def _show_curves(self) -> None:
        tracking = self.tracking
        if tracking is None or tracking.j is None:
            self.j_curve.setData([], [])
            self.copy_curve.setData([], [])
            return
        frames = np.arange(1, len(tracking.j))
        self.j_curve.setData(frames, tracking.j[1:])
        self.copy_curve.setData(frames, tracking.j_copied[1:])

    def show_frame(self, t: int) -> None:
        if self.clip is None:
            return
        frames = self.clip.frames if self.tracking is None else self.tracking.overlays
        self.panes.set_image(CURRENT, frames[t])
        self.panes.set_title(CURRENT, f"frame {t}" + (": tracked" if self.tracking is not None else ""))
        self.frame_label.setText(f"frame {t} / {len(frames) - 1}")
        self.cursor.setValue(t)

    def play(self, on: bool) -> None:
        self.play_button.setText("Pause" if on else "Play")
        if on and self.clip is not None:
            self.timer.start()
        else:
            self.timer.stop()

    def advance(self) -> None:
        """The next frame, from the last back to the first."""
        if self.clip is not None:
            self.slider.setValue((self.slider.value() + 1) % len(self.clip.frames))

    def _failed(self, error: Exception) -> None:
        self.status.setText(f"Cannot track: {describe(error)}")

    def apply_style(self, style: Style) -> None:
        self.style = style
        self.panes.apply_style(style)
        self.plot.setBackground(style.background)
        style_plot(self.plot.getPlotItem(), style, "frame", "J")
        for curve, role, line in ((self.j_curve, "knn", Qt.PenStyle.SolidLine),
                                  (self.copy_curve, "raw", Qt.PenStyle.DashLine)):
            curve.setPen(pg.mkPen(style.color(role), width=style.line_width, style=line))
            curve.setSymbolBrush(style.color(role))
            curve.setSymbolSize(style.symbol_size)
        self.cursor.setPen(pg.mkPen(style.foreground, width=1))
        self.legend.setLabelTextColor(style.foreground)
        self.legend.setLabelTextSize(f"{style.font_pt}pt")
        for _, label in self.legend.items:
            label.setText(label.text)  # the two calls above set defaults that only the next setText applies
        self.legend.setBrush(pg.mkBrush(style.background.red(), style.background.green(), style.background.blue(), 200))
