"""The representation explorer: the embedding view and the evaluation panel of the run being trained or opened,
with dropped-image queries and exports.

Everything slow runs in background jobs (gui.jobs): snapshots and embeddings, colourings, neighbours, queries,
exports, and UMAP, which runs in the engine's UmapWorker process. The PCA view shows as soon as the embedding is
ready; UMAP replaces it, morphing, when its layout arrives. The window creates the explorer; ``gui.app`` starts
the UMAP worker once the engine has loaded (so tests that build windows start no process).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QApplication, QDockWidget, QFileDialog, QMainWindow

from engine.errors import describe
from gui import explore_steps as steps
from gui.drops import ImageDrops
from gui.embedding_view import EmbeddingView
from gui.eval_panel import EvalPanel
from gui.jobs import BackgroundJob
from gui.snapshots import LiveSource, SavedSource
from gui.theme import Style
from gui.thumbnails import Tile

MESSAGE_MS = 8000
PLOTS_MIN_WIDTH = 440  # what the widened embedding view leaves to the training plots (px)


class Explorer(QObject):
    def __init__(self, window: QMainWindow):
        super().__init__(window)
        self.window = window
        self.view = EmbeddingView()
        self.evaluation = EvalPanel()
        self.source: LiveSource | SavedSource | None = None
        self.explored: steps.Explored | None = None
        self.colouring = steps.LABEL
        self.groups: list[steps.NeighbourGroup] = []  # shown in the neighbours panel
        self.selection = np.empty(0, int)  # rows inside the last rectangle
        self.pending: list[str | bytes] = []  # dropped before there was an embedding to query
        self.queried: list[str | bytes] = []  # the last dropped items: asked again of every new snapshot
        self.prompts: list[str] = []  # a CLIP run's text prompts, shown as markers
        self.layout_worker = None  # engine UmapWorker, once started
        self.in_view = False  # whether the embedding view's dock is shown (not a tab behind another)
        self.jobs = {name: BackgroundJob(self, name) for name in
                     ("embedding", "layout", "colouring", "neighbours", "export", "prompts")}
        for name in ("embedding", "layout"):
            self.jobs[name].progress.connect(self.view.show_progress)
        self.drops = ImageDrops(self)
        for widget in (window, self.view):
            self.drops.watch(widget)

        self.drops.dropped.connect(self.query)
        self.view.pasted.connect(self.query)
        self.view.snapshot_button.clicked.connect(self.snapshot)
        self.view.colour_by.activated.connect(lambda _: self.colour_by(self.view.colour_by.currentData()))
        self.view.scatter.hovered.connect(self._hovered)
        self.view.scatter.clicked.connect(self.show_neighbours)
        self.view.scatter.selected.connect(self.select)
        self.view.selection.picked.connect(self.view.scatter.focus)
        self.view.neighbours.picked.connect(self.view.scatter.focus)

        self.export_embeddings_action = QAction("Export &Embeddings (TensorBoard, .npy, CSV)...", self)
        self.export_embeddings_action.triggered.connect(self.export_embeddings_dialog)
        self.export_scatter_action = QAction("Export Embedding P&lot (PNG, SVG)...", self)
        self.export_scatter_action.triggered.connect(self.export_scatter_dialog)
        self.actions = [self.export_embeddings_action, self.export_scatter_action]
        self._update_actions()

    # what is explored
    def start_layout_worker(self) -> None:
        """Start the UMAP process (it warms up while the user sets up); stopped when the application quits."""
        from engine.explore.umap_worker import UmapWorker

        if self.layout_worker is None:
            self.layout_worker = UmapWorker()
            QApplication.instance().aboutToQuit.connect(self.layout_worker.close)

    def follow(self, worker: Any) -> None:
        """Explore the run ``worker`` trains (its evaluations come through :meth:`on_event`)."""
        self._explore(LiveSource(worker))

    def show_run(self, run_dir: Path) -> None:
        """Explore a saved run folder."""
        self._explore(SavedSource(run_dir))
        self.evaluation.show_run(Path(run_dir))

    def _explore(self, source: LiveSource | SavedSource) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.source, self.explored, self.groups, self.selection = source, None, [], np.empty(0, int)
        self.queried = []
        self.evaluation.set_source(source)
        self.view.scatter.clear_points()
        self.view.scatter.show_prompts([], [])
        self.view.show_selection([], 0)
        self.view.neighbours.clear()
        self.view.show_progress(None)
        self.view.show_status("Press Snapshot to embed the data with this run's encoder.")
        self._update_actions()
        if self.in_view:
            self.snapshot()

    def on_event(self, event: Any) -> None:
        """The evaluation panel follows the run being trained."""
        from engine import events

        match event:
            case events.Started():
                self.evaluation.show_run(Path(event.run_dir))
            case events.Eval():
                self.evaluation.add_eval(event)

    def _view_shown(self, shown: bool) -> None:
        """The first time a run's view is shown, its embedding is computed."""
        self.in_view = shown
        if shown and self.source is not None and self.explored is None and not self.jobs["embedding"].running:
            self.snapshot()

    # the embedding and its layouts
    def snapshot(self) -> None:
        """Embed the data with the encoder as it is now; the PCA view first, then UMAP."""
        if self.source is None:
            self.view.show_status("Nothing to explore yet: start a run, or open one with File > Open Run.")
            return
        source, previous, colouring = self.source, self.explored, self.colouring
        self.jobs["layout"].cancel()
        self.view.show_status("Embedding the training images ...")
        self.view.show_progress(0.0)

        def work(cancelled, progress):
            explored = steps.embed_subject(source, previous, cancelled, progress)
            keys = [key for key, _ in steps.colouring_choices(explored)]
            key = colouring if colouring in keys else keys[0]
            return explored, key, steps.compute_colouring(explored, key, cancelled, progress)

        self.jobs["embedding"].start(work, self._embedded, self._failed)

    def _embedded(self, outcome: tuple[steps.Explored, str, steps.Colouring]) -> None:
        explored, key, colouring = outcome
        previous, self.explored, self.colouring = self.explored, explored, key
        follows = explored.follows(previous)
        self.view.scatter.set_points(explored.coordinates, colouring.categories, colouring.names,
                                     animate_from=previous.coordinates if follows else None)
        self._fill_colourings()
        self.groups = []  # neighbours of the previous snapshot: out of date, asked again below
        self.view.neighbours.clear()
        self.select(self.selection if follows else np.empty(0, int))
        self._update_actions()
        self._shown_layout()
        self._place_prompts()
        if self.pending or self.queried:
            pending, self.pending = self.pending or self.queried, []
            self.query(pending)
        self._start_umap(previous)

    def _start_umap(self, previous: steps.Explored | None) -> None:
        explored, worker = self.explored, self.layout_worker
        if worker is None or len(explored.embedding) <= 15:
            self.view.show_progress(None)
            return
        waiting = "" if worker.ready else " (after the UMAP process's warm-up)"
        self.view.show_status(f"{self._title()}: {explored.layout} now, UMAP in a few seconds{waiting} ...")
        self.view.show_progress(0.0)
        self.jobs["layout"].start(lambda cancelled, progress: steps.umap_layout(worker, explored, previous,
                                                                                cancelled, progress),
                                  lambda xy: self._laid_out(explored, xy), self._failed)

    def _laid_out(self, explored: steps.Explored, coordinates: np.ndarray) -> None:
        if explored is not self.explored:
            return
        explored.coordinates, explored.layout = coordinates, steps.UMAP
        self.groups = steps.placed(self.groups, coordinates)
        self.view.scatter.move_to(coordinates)
        self.view.scatter.show_queries(self._query_positions())
        self.view.show_progress(None)
        self._shown_layout()
        self._place_prompts()

    def _shown_layout(self) -> None:
        self.view.show_status(f"{self._title()}: {self.explored.layout} of {len(self.explored.embedding):,} images")

    def _title(self) -> str:
        return self.explored.subject.title if self.explored else ""

    def _failed(self, error: Exception) -> None:
        self.view.show_progress(None)
        self.view.show_status(f"Could not compute the view: {describe(error)}")

    # colourings
    def _fill_colourings(self) -> None:
        combo = self.view.colour_by
        combo.clear()
        for key, text in steps.colouring_choices(self.explored):
            combo.addItem(text, key)
        combo.setCurrentIndex(max(0, combo.findData(self.colouring)))

    def colour_by(self, key: str) -> None:
        explored = self.explored
        if explored is None:
            return
        self.colouring = key
        self.view.show_progress(0.0)
        self.jobs["colouring"].start(lambda cancelled, progress: steps.compute_colouring(explored, key, cancelled,
                                                                                         progress),
                                     lambda colouring: self._coloured(explored, colouring), self._failed)

    def _coloured(self, explored: steps.Explored, colouring: steps.Colouring) -> None:
        self.view.show_progress(None)
        if explored is self.explored:
            self.view.scatter.set_categories(colouring.categories, colouring.names)

    # points: hover, click, rectangle
    def describe_row(self, row: int) -> str:
        """A point's class name (or its row in the split when unlabelled)."""
        embedding = self.explored.embedding
        if embedding.labels is not None and 0 <= (label := int(embedding.labels[row])) < len(embedding.class_names):
            return embedding.class_names[label]
        return f"#{int(embedding.indices[row])}"

    def caption(self, row: int) -> str:
        """What is known about a point: its row in the training split, its label and attributes."""
        columns = self.explored.metadata
        known = ", ".join(f"{name} {values[row]}" for name, values in columns.items() if name != "index")
        return f"<b>training image {columns['index'][row]}</b><br>{known}"

    def _hovered(self, row: int) -> None:
        if row >= 0 and self.explored is not None:
            self.view.hover.show_point(row, self.explored.images[row], self.caption(row))

    def select(self, rows: np.ndarray) -> None:
        """Show the images of ``rows`` in the selection grid and ring them on the scatter."""
        explored = self.explored
        if explored is None:
            return
        self.selection = np.asarray(rows, int)
        self.view.scatter.highlight(rows)
        self.view.scatter.focus([])
        self.view.show_selection([Tile(explored.images[r], self.describe_row(r), int(r)) for r in rows[:600]],
                                 len(rows))
        if len(rows):
            self.view.tabs.setCurrentIndex(0)

    def show_neighbours(self, row: int) -> None:
        explored = self.explored
        if explored is None:
            return
        self.view.scatter.focus([row])
        self.jobs["neighbours"].start(lambda cancelled, progress: steps.point_neighbours(explored, row),
                                      lambda group: self._neighbours_found(explored, [group], []), self._failed)

    # queries
    def query(self, sources: list[str | bytes]) -> None:
        """Dropped or pasted images: each one's neighbours, and its place on the scatter."""
        if self.source is None:
            self.view.show_status("Start a run or open one (File > Open Run) before dropping images.")
            return
        if self.explored is None:
            self.pending += sources
            if not self.jobs["embedding"].running:
                self.snapshot()
            self.view.show_status("Embedding the training images first; the dropped images follow ...")
            return
        explored, self.queried = self.explored, list(sources)
        self.view.show_status(f"Looking up {len(sources)} dropped item(s) ...")
        self.jobs["neighbours"].start(lambda cancelled, progress: steps.run_queries(explored, sources),
                                      lambda found: self._neighbours_found(explored, *found), self._failed)

    def _neighbours_found(self, explored: steps.Explored, groups: list[steps.NeighbourGroup],
                          rejected: list[tuple[str, str]]) -> None:
        if explored is not self.explored:
            return
        self.groups = steps.placed(groups, explored.coordinates)
        self._show_groups(rejected)
        self.view.tabs.setCurrentIndex(1)
        if rejected:
            self.window.statusBar().showMessage(
                f"{len(rejected)} dropped file(s) could not be used: " +
                "; ".join(f"{name} ({reason})" for name, reason in rejected[:3]), MESSAGE_MS)
        if any(g.row is None for g in groups) or rejected:
            self._shown_layout()

    def _show_groups(self, rejected: list[tuple[str, str]]) -> None:
        self.view.neighbours.show_groups(self.groups, self.explored.images, self.describe_row, rejected)
        self.view.scatter.highlight(sorted({r for g in self.groups for r in g.rows}))
        self.view.scatter.show_queries(self._query_positions())

    def _query_positions(self) -> np.ndarray:
        return np.array([g.position for g in self.groups if g.position is not None], np.float32).reshape(-1, 2)

    # a CLIP run's prompts
    def show_prompts(self, prompts: list[str]) -> None:
        """Text prompts as markers on the scatter, each where its most similar images lie (CLIP runs only)."""
        self.prompts = list(prompts)
        self._place_prompts()

    def _place_prompts(self) -> None:
        explored, prompts = self.explored, self.prompts
        if explored is None or not prompts or not hasattr(explored.subject.snapshot.method, "embed_texts"):
            self.jobs["prompts"].cancel()
            self.view.scatter.show_prompts([], [])
            return
        self.jobs["prompts"].start(lambda cancelled, progress: steps.prompt_positions(explored, prompts),
                                   lambda xy: self._prompts_placed(explored, prompts, xy), self._failed)

    def _prompts_placed(self, explored: steps.Explored, prompts: list[str], positions: np.ndarray) -> None:
        if explored is self.explored:
            self.view.scatter.show_prompts(positions, prompts)

    # exports
    def _update_actions(self) -> None:
        for action in self.actions:
            action.setEnabled(self.explored is not None)

    def export_embeddings_dialog(self) -> None:
        default = self.explored.subject.run_dir / "embeddings" if self.explored.subject.run_dir else Path("embeddings")
        folder = QFileDialog.getExistingDirectory(self.window, "Export embeddings into a folder", str(default.parent))
        if folder:
            self.export_embeddings(Path(folder))

    def export_embeddings(self, folder: Path) -> None:
        """TensorBoard projector files, .npy arrays and a CSV of the coordinates shown, written off the GUI
        thread; the status bar says when they are written."""
        from engine.explore.export import export_all

        explored, coordinates = self.explored, self.view.scatter.target.copy()
        self.jobs["export"].start(
            lambda cancelled, progress: export_all(folder, explored.embedding, explored.images, coordinates),
            lambda written: self.window.statusBar().showMessage(f"Wrote {len(written)} files into {folder}",
                                                                MESSAGE_MS),
            lambda error: self.window.statusBar().showMessage(f"Cannot export: {describe(error)}", MESSAGE_MS))

    def export_scatter_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.window, "Export the embedding plot (a .png and an .svg)",
                                              "embedding.png", "PNG (*.png)")
        if path:
            try:
                written = self.view.scatter.export(Path(path))
            except OSError as e:
                self.window.statusBar().showMessage(f"Cannot export the plot: {e}", MESSAGE_MS)
                return
            self.window.statusBar().showMessage("Saved " + " and ".join(map(str, written)), MESSAGE_MS)

    # look
    def apply_style(self, style: Style) -> None:
        self.view.apply_style(style)
        self.evaluation.apply_style(style)

    def arrange(self, beside: QDockWidget, view_dock: QDockWidget, evaluation_dock: QDockWidget) -> None:
        """The explorer's docks as tabs beside ``beside`` (which stays in front); the embedding view's dock
        widens when raised (:meth:`widen_when_shown`)."""
        self.window.tabifyDockWidget(beside, view_dock)
        self.window.tabifyDockWidget(view_dock, evaluation_dock)
        beside.raise_()
        self.widen_when_shown(view_dock)
        view_dock.visibilityChanged.connect(self._view_shown)

    def widen_when_shown(self, dock: QDockWidget) -> None:
        """``dock`` widens towards half the window whenever it is raised narrower (a scatter needs room), leaving
        the training plots in the middle at least ``PLOTS_MIN_WIDTH``."""

        def widen(visible: bool) -> None:
            if not visible or dock.isFloating():
                return
            room = dock.width() + self.window.centralWidget().width() - PLOTS_MIN_WIDTH
            width = min(self.window.width() // 2, room)
            if dock.width() < width:
                self.window.resizeDocks([dock], [width], Qt.Orientation.Horizontal)

        dock.visibilityChanged.connect(widen)
