"""The Pixels panel: what a pixel-level method has learnt, one pixel at a time.

For a ``dense_descriptors`` run (Florence, Manuelli & Tedrake 2018, "Dense Object Nets", sec. V-A, fig. 4): two
images, a test image's two warped views (the true correspondence known) or two test images, and their descriptor
images as RGB (the first three principal components, fitted over both); a click on a pixel of A shows the distance
of its descriptor to every pixel of B as a heat map and marks the best match (the nearest descriptor), beside the
true location when B is a warp of A. For a ``video_colorization`` run, the tracking view
(:class:`gui.tracking_view.TrackingView`).

The network comes as the image explorer's does (``gui.snapshots``: the live run's copy between two steps, or a saved
run's checkpoint); descriptor images and distance maps are computed in background jobs, the GUI thread only draws.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import describe
from gui.image_panes import ImagePanes
from gui.jobs import BackgroundJob
from gui.snapshots import LiveSource, SavedSource
from gui.theme import Style
from gui.tracking_view import TrackingView

DESCRIPTORS, TRACKING = "dense_descriptors", "video_colorization"
HINT = ("The Pixels panel explores pixel-level methods: train or open a dense_descriptors run (click a pixel, see "
        "its best match) or a video_colorization run (click an object, see it tracked).")
WARPED, OTHER = "warped", "other"
A, B, HEAT, DESC_A, DESC_B = range(5)
QUERY, MATCH, TRUTH = "#ffffff", "#2ecc40", "#00bfff"


@dataclass(frozen=True)
class DescribedPair:
    """Two images at the run's size and their descriptors (no Qt: made on a background thread)."""

    images: Any  # uint8 (2, C, S, S): A and B
    descriptors: Any  # float (2, D, S, S)
    rgb: Any  # uint8 (2, 3, S, S): the descriptors' first three principal components, fitted over both
    b_from_a: Any  # (1, 3, 3) affine map of A's pixels to B's when B is a warp of A, else None
    title: str
    test_count: int  # images in the test split


def describe_pair(subject: Any, index: int, other: str) -> DescribedPair:
    """Test image ``index`` as two warped views (seeded by the index: the same pair every time) when ``other`` is
    WARPED, else it and the next test image, with their descriptors from the snapshot's network."""
    import torch

    from engine.eval.correspondence import descriptor_rgb

    method, test = subject.snapshot.method, subject.dataset.test
    if other == WARPED:
        masks = None if test.masks is None else test.masks[index:index + 1]
        pair = method.pairs(test.images[index:index + 1], masks, torch.Generator().manual_seed(index))
        images = (torch.cat([pair.view_a, pair.view_b]) * 255).round().to(torch.uint8)
        b_from_a = pair.b_from_a.cpu()
    else:
        images, b_from_a = test.images[[index, (index + 1) % len(test)]], None
    descriptors = method.descriptor_images(images.to(subject.snapshot.device)).cpu()
    return DescribedPair(images.cpu(), descriptors, descriptor_rgb(descriptors), b_from_a, subject.title,
                         len(test))


@dataclass(frozen=True)
class Match:
    """A clicked pixel of A: its descriptor's distances over B (H, W), the best match and (for a warp) the truth."""

    query: tuple[int, int]
    distances: np.ndarray
    best: tuple[int, int]
    heat: Any  # uint8 (3, H, W)
    truth: tuple[float, float] | None


def match_pixel(pair: DescribedPair, x: int, y: int) -> Match:
    import torch

    from engine.data.warp_pairs import transform
    from engine.eval.correspondence import distance_map, heat_tile

    distances, best = distance_map(pair.descriptors[0], pair.descriptors[1], x, y)
    truth = None
    if pair.b_from_a is not None:
        tx, ty = transform(pair.b_from_a, torch.tensor([[[float(x), float(y)]]]))[0, 0].tolist()
        size = distances.shape[-1]
        truth = (tx, ty) if 0 <= tx <= size - 1 and 0 <= ty <= size - 1 else None
    return Match((x, y), distances.numpy(), best, heat_tile(distances), truth)


class DescriptorExplorer(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.source: Any = None  # gui.snapshots LiveSource or SavedSource
        self.pair: DescribedPair | None = None
        self.match: Match | None = None
        self.jobs = {name: BackgroundJob(self, f"pixels-{name}") for name in ("describe", "match")}

        self.index = QSpinBox()
        self.index.setToolTip("The test image")
        self.other = QComboBox()
        self.other.addItem("B: a warped view of it", WARPED)
        self.other.addItem("B: the next test image", OTHER)
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("The descriptors of the network as it is now (during training too)")
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.panes = ImagePanes([["A: click a pixel", "B", "distance over B"], ["A descriptors", "B descriptors"]])
        self.panes.setToolTip("Click a pixel of A (or of its descriptor image): its descriptor's distance over B, "
                              "yellow where near; green: the best match, blue: the true location (a warp of A). "
                              "Descriptor images: their first three principal components as RGB")
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Test image"))
        bar.addWidget(self.index)
        bar.addWidget(self.other)
        bar.addWidget(self.snapshot_button)
        bar.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(self.status)
        layout.addWidget(self.panes, 1)

        self.index.valueChanged.connect(lambda _: self.refresh())
        self.other.activated.connect(lambda _: self.refresh())
        self.snapshot_button.clicked.connect(self.refresh)
        self.panes.clicked.connect(self._clicked)

    def show_source(self, source: Any) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.source, self.pair, self.match = source, None, None
        for pane in range(len(self.panes.images)):
            self.panes.clear_image(pane)
        self.status.setText("Computing the descriptor images ...")

    def refresh(self) -> None:
        """Describe the chosen images with the network as it is now."""
        if self.source is None:
            return
        source, index, other = self.source, self.index.value(), self.other.currentData()
        self.status.setText("Computing the descriptor images ...")
        self.jobs["describe"].start(lambda cancelled, progress: describe_pair(source.take(cancelled), index, other),
                                    self._described, self._failed)

    def _described(self, pair: DescribedPair) -> None:
        self.pair, self.match = pair, None
        self.index.blockSignals(True)
        self.index.setMaximum(pair.test_count - 1)
        self.index.blockSignals(False)
        for pane, tile in ((A, pair.images[0]), (B, pair.images[1]), (DESC_A, pair.rgb[0]), (DESC_B, pair.rgb[1])):
            self.panes.set_image(pane, tile)
            self.panes.marks[pane].clear()
        self.panes.clear_image(HEAT)
        self.status.setText(f"{pair.title}: click a pixel of A to see its best match in B (descriptors as RGB: "
                            "their first three principal components).")

    def _clicked(self, pane: int, x: int, y: int) -> None:
        if pane in (A, DESC_A):
            self.click(x, y)

    def click(self, x: int, y: int) -> None:
        """The distances of A's pixel (x, y) over B, computed off the GUI thread."""
        if self.pair is None:
            return
        pair = self.pair
        self.jobs["match"].start(lambda cancelled, progress: match_pixel(pair, x, y),
                                 lambda match: self._matched(pair, match), self._failed)

    def _matched(self, pair: DescribedPair, match: Match) -> None:
        if pair is not self.pair:
            return
        self.match = match
        self.panes.set_image(HEAT, match.heat)
        for pane in (A, DESC_A):
            self.panes.mark(pane, [match.query], [QUERY])
        found, colours = [match.best], [MATCH]
        if match.truth is not None:
            found, colours = [match.truth, match.best], [TRUTH, MATCH]
        for pane in (B, DESC_B, HEAT):
            self.panes.mark(pane, found, colours)
        text = (f"Pixel {match.query} of A: best match (green) {match.best} in B, distance "
                f"{match.distances.min():.2f}")
        if match.truth is not None:
            off = float(np.hypot(match.best[0] - match.truth[0], match.best[1] - match.truth[1]))
            text += f", {off:.1f} px from the true location (blue) ({match.truth[0]:.1f}, {match.truth[1]:.1f})"
        self.status.setText(text + ".")

    def _failed(self, error: Exception) -> None:
        self.status.setText(f"Cannot show the descriptors: {describe(error)}")

    def apply_style(self, style: Style) -> None:
        self.panes.apply_style(style)


class PixelsView(QWidget):
    """The descriptor explorer for a dense_descriptors run, the tracking view for a video_colorization run, a
    sentence otherwise."""

    def __init__(self, worker_of: Callable[[], Any], parent: QWidget | None = None):
        super().__init__(parent)
        self.worker_of = worker_of
        self.shown = False
        self.pending = False  # a source waits for the panel to be on screen
        self.hint = QLabel(HINT)
        self.hint.setWordWrap(True)
        self.descriptors = DescriptorExplorer()
        self.tracking = TrackingView()
        self.views = {DESCRIPTORS: self.descriptors, TRACKING: self.tracking}
        self.stack = QStackedWidget()
        for widget in (self.hint, *self.views.values()):
            self.stack.addWidget(widget)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.stack)

    @property
    def current(self) -> Any:
        widget = self.stack.currentWidget()
        return None if widget is self.hint else widget

    def on_event(self, event: Any) -> None:
        """A pixel-level run the window starts is followed; when it ends, the shown view is recomputed."""
        from engine import events

        match event:
            case events.Started():
                self._show(event.config.get("method"), LiveSource(self.worker_of()))
            case events.Finished() if self.current is not None and self.shown:
                self.current.refresh()

    def serves(self, method: type) -> bool:
        """Whether runs of ``method`` (an engine Method class) have anything to show here."""
        return method.name in self.views

    def show_run(self, run_dir: Path, config: dict[str, Any]) -> None:
        self._show(config.get("method"), SavedSource(Path(run_dir)))

    def _show(self, method: str | None, source: Any) -> None:
        view = self.views.get(method)
        if view is None:
            self.stack.setCurrentWidget(self.hint)
            return
        self.stack.setCurrentWidget(view)
        view.show_source(source)
        self.pending = True
        self.set_shown(self.shown)

    def set_shown(self, shown: bool) -> None:
        """The first time a run's view is on screen, it is computed."""
        self.shown = shown
        if shown and self.pending and self.current is not None:
            self.pending = False
            self.current.refresh()

    def apply_style(self, style: Style) -> None:
        for view in self.views.values():
            view.apply_style(style)
