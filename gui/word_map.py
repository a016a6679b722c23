"""The word map: a text run's words (or a masked_lm's sentence vectors) as points, a PCA view at once and UMAP when
it arrives, coloured by attribute (captions) or by frequency. Hovering a point shows its word and nearest words;
typing a word or an analogy ("king - man + woman") lists its neighbours and marks them on the map; a click looks
up the clicked word; Export writes TensorBoard Projector files. The loss curve is the training plots'.

The map follows the run a window trains when it is a text run (``on_event``), or a saved text run
(``show_run``); snapshots come from ``TrainingWorker.take_text_snapshot`` and everything slow runs in background
jobs, as in the image explorer.
"""
from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from engine.errors import describe
from gui.jobs import BackgroundJob
from gui.scatter import EmbeddingScatter
from gui.theme import Style

HINT = "Train a text method (word2vec, masked_lm) or open a text run to see its words here."
WORDS = "words"
KINDS = {WORDS: "words", "cls": "sentences ([CLS])", "mean": "sentences (mean of tokens)"}
LABELLED = 40  # the most frequent words written on the map
LABEL_CELL_PX = (90, 18)  # words drawn closer than this on screen (pixels) share a label
RESULTS = 12
HOVER_NEIGHBOURS = 6
ERROR_COLOUR = "#e15759"


def is_word(label: str) -> bool:
    return any(c.isalnum() for c in label)


class WordMap(QWidget):
    def __init__(self, worker_of: Callable[[], Any], layout_worker_of: Callable[[], Any],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.worker_of, self.layout_worker_of = worker_of, layout_worker_of
        self.source: Any = None  # a TrainingWorker (a live run) or the Path of a saved run
        self.saved: Any = None  # a saved run's TextSnapshot, loaded once
        self.snapshot: Any = None  # the engine TextSnapshot shown
        self.points: Any = None  # engine.text.explore.Points
        self.coordinates = np.empty((0, 2), np.float32)
        self.layout_name = ""
        self.shown = False  # whether the map's dock is on screen
        self.style = Style()
        self.labels: list[tuple[int, pg.TextItem]] = []  # (row, label) written on the map
        self.labelled: list[int] = []  # the rows labelled whatever is asked (the most frequent words)
        self.hovered_row = -1
        self.jobs = {name: BackgroundJob(self, f"words-{name}") for name in ("points", "layout", "export")}

        self.kind = QComboBox()
        self.kind.addItem(KINDS[WORDS], WORDS)
        self.kind.setToolTip("Words, or (masked_lm) each passage's sentence vector")
        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.setToolTip("Map the vectors as they are now (during training too)")
        self.fit_button = QPushButton("Fit")
        self.export_button = QPushButton("Export...")
        self.export_button.setToolTip("Write the vectors and words as TensorBoard Projector files (and a CSV of "
                                      "the view)")
        self.status = QLabel(HINT)
        self.status.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setMaximumWidth(90)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.scatter = EmbeddingScatter()
        self.scatter.setToolTip("Hover: the word and its nearest words; click: look it up")
        self.hover = QLabel("Hover a point to see its word and nearest words.")
        self.hover.setWordWrap(True)
        self.hover.setTextFormat(Qt.TextFormat.RichText)
        self.hover.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.query = QLineEdit()
        self.query.setPlaceholderText("a word, or an analogy: king - man + woman")
        self.query.setClearButtonEnabled(True)
        self.results = QListWidget()
        self.message = QLabel("Type a word and press Enter for its nearest words.")
        self.message.setWordWrap(True)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.hover)
        side_layout.addWidget(self.query)
        side_layout.addWidget(self.message)
        side_layout.addWidget(self.results, 1)
        side.setMinimumWidth(200)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.scatter)
        splitter.addWidget(side)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        bar = QHBoxLayout()
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.kind)
        for widget in (self.snapshot_button, self.fit_button, self.export_button):
            bar.addWidget(widget)
        bar.addWidget(self.status, 1)
        bar.addWidget(self.progress)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(bar)
        layout.addWidget(splitter, 1)

        for job in ("points", "layout"):
            self.jobs[job].progress.connect(self.show_progress)
        self.snapshot_button.clicked.connect(self.refresh)
        self.fit_button.clicked.connect(lambda: self.scatter.view.autoRange(padding=0.05))
        self.export_button.clicked.connect(self.export_dialog)
        self.kind.activated.connect(lambda _: self.refresh())
        self.query.returnPressed.connect(lambda: self.ask(self.query.text()))
        self.scatter.hovered.connect(self.show_hover)
        self.scatter.clicked.connect(self._clicked)
        self._update_buttons()

    # what is shown
    def on_event(self, event: Any) -> None:
        """A text run the window starts is followed; when it ends, a shown map is redrawn."""
        from engine import events

        match event:
            case events.Started(unit="words"):
                self.follow(self.worker_of())
            case events.Finished() if self.source is not None and not isinstance(self.source, Path) and self.shown:
                self.refresh()

    def follow(self, worker: Any) -> None:
        self._explore(worker)

    @staticmethod
    def serves(method: type) -> bool:
        """Whether runs of ``method`` (an engine Method class) have anything to show here: a text method's."""
        return method.modality == "text"

    def show_run(self, run_dir: Path, config: dict[str, Any]) -> None:
        """A saved run: its map when it is a text run, else the hint."""
        from engine.methods import METHODS

        method = METHODS.get(config.get("method"))
        if method is not None and method.modality == "text":
            self._explore(Path(run_dir))
        else:
            self._explore(None)

    def _explore(self, source: Any) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.source, self.saved, self.snapshot, self.points = source, None, None, None
        self.scatter.clear_points()
        self._clear_labels()
        self.results.clear()
        self.show_progress(None)
        self.status.setText(HINT if source is None else "Press Snapshot (or show this panel) to map the words.")
        self._update_buttons()
        if self.shown and source is not None:
            self.refresh()

    def set_shown(self, shown: bool) -> None:
        """The first time a run's map is on screen, it is computed."""
        self.shown = shown
        if shown and self.source is not None and self.points is None and not self.jobs["points"].running:
            self.refresh()

    def refresh(self) -> None:
        """The vectors as they are now: the PCA view first, then UMAP."""
        if self.source is None:
            self.status.setText(HINT)
            return
        from engine.explore.layout import pca_2d
        from engine.text.explore import sentence_points, word_points
        from engine.text.session import load_text_run

        source, saved, kind = self.source, self.saved, self.kind.currentData() or WORDS
        self.jobs["layout"].cancel()
        self.status.setText("Mapping the words ..." if kind == WORDS else "Embedding the passages ...")
        self.show_progress(0.0)

        def work(cancelled, progress):
            snapshot = (saved or load_text_run(source)) if isinstance(source, Path) else \
                source.take_text_snapshot(cancelled)
            if kind in snapshot.method.sentence_poolings:
                points = sentence_points(snapshot, kind)
            else:
                groups = snapshot.corpus.attribute_words if snapshot.corpus is not None else {}
                points = word_points(snapshot.word_vectors(), groups)
            return snapshot, points, pca_2d(points.vectors)

        self.jobs["points"].start(work, self._mapped, self._failed)

    def _mapped(self, outcome: tuple[Any, Any, np.ndarray]) -> None:
        snapshot, points, coordinates = outcome
        if isinstance(self.source, Path):
            self.saved = snapshot
        self.snapshot, self.points = snapshot, points
        self._fill_kinds(snapshot.method.sentence_poolings)
        self.results.clear()
        self._place(coordinates, "PCA")
        self._update_buttons()
        worker = self.layout_worker_of()
        if worker is None or len(points.labels) <= 15:
            self.show_progress(None)
            return
        from engine.explore.layout import align_2d, umap_2d

        self.status.setText(f"{self._title()}: PCA now, UMAP in a few seconds ...")
        vectors, shown = points.vectors, coordinates
        self.jobs["layout"].start(lambda cancelled, progress: align_2d(
            umap_2d(worker, vectors, cancelled=cancelled, progress=progress), shown),
            lambda xy: self._place(xy, "UMAP") if points is self.points else None, self._failed)

    def _place(self, coordinates: np.ndarray, layout: str) -> None:
        points = self.points
        self.coordinates, self.layout_name = np.asarray(coordinates, np.float32), layout
        self.scatter.set_points(self.coordinates, points.categories, points.names)
        self.show_progress(None)
        self.labelled = ([r for r, label in enumerate(points.labels) if is_word(label)][:LABELLED]
                         if points.kind == WORDS else [])
        self._write_labels()
        self.status.setText(f"{self._title()}: {layout} of {len(points.labels):,} {KINDS[points.kind]}")

    def _fill_kinds(self, poolings: tuple[str, ...]) -> None:
        wanted = [WORDS, *poolings]
        if [self.kind.itemData(i) for i in range(self.kind.count())] != wanted:
            current = self.kind.currentData()
            self.kind.clear()
            for key in wanted:
                self.kind.addItem(KINDS[key], key)
            self.kind.setCurrentIndex(max(0, self.kind.findData(current)))

    def _title(self) -> str:
        return self.snapshot.title if self.snapshot is not None else ""

    def _failed(self, error: Exception) -> None:
        self.show_progress(None)
        self.status.setText(f"Could not map the words: {describe(error)}")

    def show_progress(self, fraction: float | None) -> None:
        self.progress.setVisible(fraction is not None)
        if fraction is not None:
            self.progress.setValue(round(100 * fraction))

    def _update_buttons(self) -> None:
        self.export_button.setEnabled(self.points is not None)
        self.snapshot_button.setEnabled(self.source is not None)

    # labels on the map
    def _write_labels(self, named: list[int] = ()) -> None:
        """Write the most frequent words and the ``named`` rows (bold, highlighted) on the map; words drawn close
        together on screen share one label (named words first, in their order)."""
        self._clear_labels()
        named = list(dict.fromkeys(named))
        rows = named + [r for r in self.labelled if r not in named]
        if not rows:
            return
        width, height = (max(abs(v), 1e-12) * px for v, px in zip(self.scatter.view.viewPixelSize(), LABEL_CELL_PX))
        spots: dict[tuple[int, int], list[int]] = {}
        for row in rows:
            x, y = self.coordinates[row].tolist()
            spots.setdefault((round(x / width), round(y / height)), []).append(row)
        for together in spots.values():
            words = [self.points.labels[r] for r in together]
            text = ", ".join(words[:3]) + (f" +{len(words) - 3}" if len(words) > 3 else "")
            bold = together[0] in named
            colour = (self.style.color("final") if bold else self.style.foreground).name()
            item = pg.TextItem(html=f"<span style='color:{colour};font-weight:{700 if bold else 400}'>"
                                    f"{escape(text)}</span>", anchor=(0.5, 1.2))
            item.setPos(*map(float, self.coordinates[together].mean(0)))
            item.setZValue(20 if bold else 5)
            self.scatter.plot.addItem(item)
            self.labels.append((together[0], item))

    def _clear_labels(self) -> None:
        for _, item in self.labels:
            self.scatter.plot.removeItem(item)
        self.labels = []

    # hover, click and typed queries
    def show_hover(self, row: int) -> None:
        """The hovered point's word (or passage) and its nearest ones."""
        if row < 0 or self.points is None:
            return
        points = self.points
        found = points.neighbours(row, HOVER_NEIGHBOURS)
        count = f" (seen {points.counts[row]:,} times)" if points.counts is not None else ""
        self.hover.setText(f"<b>{escape(points.labels[row])}</b>{count}<br>{escape(points.names[points.categories[row]])}"
                           "<br>nearest: " + ", ".join(f"{escape(w)} {s:.2f}" for w, s in found))
        self.hovered_row = row

    def _clicked(self, row: int) -> None:
        if self.points is not None and self.points.kind == WORDS:
            self.query.setText(self.points.labels[row])
            self.ask(self.points.labels[row])

    def ask(self, text: str) -> None:
        """A word or an analogy (words: their nearest words in the whole vocabulary), or a sentence (sentence maps:
        the nearest passages); the results are listed and marked on the map."""
        from engine.text.evaluation import parse_query

        self.results.clear()
        if self.points is None:
            self.message.setText("Nothing to look up yet: map a text run first.")
            return
        points = self.points
        try:
            if points.kind == WORDS:
                found = points.words.neighbours(text, RESULTS)
                asked = [word for sign, word in parse_query(text) if sign > 0]
            else:
                found, asked = self._nearest_passages(text), []
        except ValueError as e:
            self.message.setText(f"<span style='color:{ERROR_COLOUR}'>{escape(str(e), quote=False)}</span>")
            return
        for word, similarity in found:
            self.results.addItem(QListWidgetItem(f"{similarity:.2f}  {word}"))
        row_of = {label: r for r, label in enumerate(points.labels)}
        marked = [row_of[w] for w, _ in found if w in row_of]
        self.scatter.highlight(marked)
        self.scatter.focus([row_of[w] for w in asked if w in row_of])
        self._write_labels([row_of[w] for w in asked if w in row_of] + marked)  # the asked words lead their labels
        off_map = len(found) - len(marked)
        self.message.setText(f"Nearest to <b>{escape(text)}</b> (cosine)" +
                             (f"; {off_map} of them are beyond the map's words" if off_map else ""))

    def _nearest_passages(self, text: str) -> list[tuple[str, float]]:
        import torch
        import torch.nn.functional as F

        snapshot, points = self.snapshot, self.points
        query = snapshot.method.sentence_vectors(snapshot.vocabulary.encode([text]), points.kind)[0]
        similarity = F.normalize(points.vectors, dim=1) @ F.normalize(query, dim=0)
        values, rows = torch.topk(similarity, min(RESULTS, len(points.labels)))
        return [(points.labels[r], float(v)) for r, v in zip(rows.tolist(), values.tolist())]

    # exports
    def export_dialog(self) -> None:
        default = self.snapshot.run_dir if self.snapshot is not None and self.snapshot.run_dir else Path.cwd()
        folder = QFileDialog.getExistingDirectory(self, "Export the words into a folder", str(default))
        if folder:
            self.export(Path(folder))

    def export(self, folder: Path) -> None:
        """TensorBoard Projector files of the points and a CSV of the view, written off the GUI thread."""
        from engine.text.explore import export_points

        points, coordinates = self.points, self.coordinates.copy()
        self.jobs["export"].start(lambda cancelled, progress: export_points(folder, points, coordinates),
                                  lambda written: self.status.setText(f"Wrote {len(written)} files into {folder}"),
                                  lambda error: self.status.setText(f"Cannot export: {describe(error)}"))

    # look
    def apply_style(self, style: Style) -> None:
        self.style = style
        self.scatter.apply_style(style)
