"""The CLIP panel: prompts (one per line, or class names with a template), the live image-text similarity matrix of
the current batch (the paper's Figure 1), the zero-shot accuracy curve, dropped or pasted images' prompt
probabilities beside their nearest images, and text-to-image search.

Its model is the CLIP run being trained or opened (a snapshot of its method, retaken after each evaluation) or a
pretrained Hugging Face CLIP folder, for the user's own photos (drop a folder to search it). Every model computation
runs in a :class:`gui.jobs.BackgroundJob`; the GUI thread only draws. The engine is imported inside the jobs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QPainter, QPalette
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.errors import describe
from gui.drops import ImageDrops
from gui.eval_reports import style_plot
from gui.jobs import BackgroundJob
from gui.preview import to_qimage
from gui.snapshots import LiveSource, SavedSource
from gui.theme import Style
from gui.thumbnails import ThumbnailGrid, Tile, pixmap

PROMPT_HINT = "One prompt per line, e.g.\na red star\na blue ring\n(or class names, with a template below)"
BARS_SHOWN = 8
CURVES = {"zero_shot": ("zero-shot: labels", "knn"), "zero_shot_unseen": ("zero-shot: unseen compositions", "raw"),
          "binding": ("binding (one-attribute swaps)", "random")}
PROMPTS_DEBOUNCE_MS = 600


def heat_colour(similarity: float) -> QColor:
    """The preview tiles' ramp (engine.methods.clip.similarity_tile): dark blue at -1 to yellow at +1."""
    t = min(max((similarity + 1) / 2, 0.0), 1.0)
    return QColor.fromRgbF(min(1.0, 0.12 + 0.85 * t), min(1.0, 0.10 + 0.80 * t), max(0.0, 0.45 - 0.35 * t))


class SimilarityMap(QWidget):
    """Images down the left, their captions T1..Tn across the top, each cell the cosine similarity I_i . T_j; the
    true pairs outlined, each row's best caption in bold."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.images: list[Any] = []
        self.texts: list[str] = []
        self.matrix = None
        self.title = "The similarity matrix of the current batch appears once a CLIP run trains."
        self.background, self.foreground = QColor("black"), QColor("white")
        self.setMinimumSize(220, 220)

    def show_matrix(self, step: int, images: list, texts: list[str], matrix) -> None:
        self.images = [to_qimage(image) for image in images]
        self.texts, self.matrix = list(texts), matrix.float()
        self.title = f"Step {step:,}: cosine similarity of each image (row) to each caption of the batch (column)"
        self.update()

    def apply_style(self, style: Style) -> None:
        self.background, self.foreground = style.background, style.foreground
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt override)
        painter = QPainter(self)
        painter.fillRect(self.rect(), self.background)
        painter.setPen(self.foreground)
        area = self.rect().adjusted(6, 6, -6, -6)
        title = painter.drawText(area, Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, self.title)
        if self.matrix is None:
            return
        n, line = len(self.texts), painter.fontMetrics().height()
        top = area.top() + title.height() + 6
        height = area.bottom() - top
        beside = area.width() > 1.6 * height  # the captions' legend right of the matrix, else below it
        matrix_room = min(area.width() * (0.55 if beside else 1.0), height - (0 if beside else n * line + 6))
        cell = max(8, int(matrix_room) // (n + 1))
        left = area.left() + (0 if beside else (area.width() - (n + 1) * cell) // 2)
        for j in range(n):
            painter.drawText(QRect(left + (j + 1) * cell, top, cell, cell), Qt.AlignmentFlag.AlignCenter, f"T{j + 1}")
        bold = QFont(painter.font())
        bold.setBold(True)
        numbers = painter.fontMetrics().horizontalAdvance("-0.00") < cell - 2
        for i in range(n):
            y = top + (i + 1) * cell
            painter.drawImage(QRect(left + 2, y + 2, cell - 4, cell - 4), self.images[i])
            best = int(self.matrix[i].argmax())
            for j in range(n):
                value = float(self.matrix[i, j])
                box = QRect(left + (j + 1) * cell, y, cell - 1, cell - 1)
                colour = heat_colour(value)
                painter.fillRect(box, colour)
                painter.setPen(QColor("black") if colour.lightnessF() > 0.5 else QColor("white"))
                painter.setFont(bold if j == best else self.font())
                if numbers:
                    painter.drawText(box, Qt.AlignmentFlag.AlignCenter, f"{value:.2f}")
                if self.texts[i] == self.texts[j]:
                    painter.setPen(self.foreground)
                    painter.drawRect(box.adjusted(1, 1, -1, -1))
        painter.setFont(self.font())
        painter.setPen(self.foreground)
        x = left + (n + 1) * cell + 10 if beside else area.left()
        y = top + cell if beside else top + (n + 1) * cell + 6
        width = area.right() - x
        for j, text in enumerate(self.texts):
            painter.drawText(QRect(x, y + j * max(line, cell if beside else line), width, line),
                             Qt.AlignmentFlag.AlignLeft, painter.fontMetrics().elidedText(
                                 f"T{j + 1}: {text}", Qt.TextElideMode.ElideRight, width))


class ProbabilityBars(QWidget):
    """The most probable prompts of one image as horizontal bars with their percentages."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.items: list[tuple[str, float]] = []
        self.bar = QColor("#2ECC9A")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)

    def show_probabilities(self, prompts: list[str], probabilities) -> None:
        order = probabilities.argsort(descending=True)[:BARS_SHOWN].tolist()
        self.items = [(prompts[k], float(probabilities[k])) for k in order]
        self.setMinimumHeight(len(self.items) * (self.fontMetrics().height() + 4) + 4)
        self.update()

    def apply_style(self, style: Style) -> None:
        self.bar = style.color("knn")
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt override)
        painter = QPainter(self)  # on the panel's own background: its text colour
        metrics = painter.fontMetrics()
        line = metrics.height() + 4
        label_width = min(self.width() // 2, max((metrics.horizontalAdvance(t) for t, _ in self.items), default=0) + 8)
        percent_width = metrics.horizontalAdvance("100.0 %") + 6
        room = max(10, self.width() - label_width - percent_width)
        painter.setPen(self.palette().color(QPalette.ColorRole.WindowText))
        right, left = (Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                       Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for r, (text, p) in enumerate(self.items):
            y = r * line + 2
            painter.drawText(QRect(0, y, label_width - 6, line), right,
                             metrics.elidedText(text, Qt.TextElideMode.ElideRight, label_width - 6))
            painter.fillRect(QRect(label_width, y + 2, max(1, round(room * p)), line - 4), self.bar)
            painter.drawText(QRect(label_width + round(room * p) + 4, y, percent_width, line), left, f"{p:.1%}")


class QueryCard(QWidget):
    """A dropped image, its prompt probabilities beside it and its nearest images below."""

    def __init__(self, title: str, image, prompts: list[str], probabilities, neighbours: list[Tile], style: Style):
        super().__init__()
        picture = QLabel()
        picture.setPixmap(pixmap(image, 96))
        picture.setToolTip(title)
        self.bars = ProbabilityBars()
        self.bars.apply_style(style)
        self.bars.show_probabilities(prompts, probabilities)
        self.neighbours = ThumbnailGrid(40)
        self.neighbours.setWrapping(False)  # one row, scrolled sideways
        self.neighbours.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.neighbours.show_tiles(neighbours)
        self.neighbours.setFixedHeight(self.neighbours.gridSize().height()
                                       + self.neighbours.horizontalScrollBar().sizeHint().height() + 8)
        top = QHBoxLayout()
        top.addWidget(picture, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.bars, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 8)
        heading = QLabel(f"<b>{title}</b>: prompt probabilities; below, its nearest images")
        heading.setWordWrap(True)
        layout.addWidget(heading)
        layout.addLayout(top)
        layout.addWidget(self.neighbours)


class ZeroShotCurves(pg.PlotWidget):
    """Zero-shot accuracy on the standard labels and on the unseen compositions, and the binding score, at each
    evaluation, with their chance levels dashed, beside the final linear probe of the same image tower."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setMenuEnabled(False)
        self.legend = self.addLegend(offset=(5, 5))
        self.points: dict[str, tuple[list[float], list[float]]] = {key: ([], []) for key in CURVES}
        self.curves = {key: self.plot(symbol="o", name=text) for key, (text, _) in CURVES.items()}
        self.probe = self.plot(pen=None, symbol="star", name="linear probe, same image tower (final)")
        self.chance: dict[str, pg.InfiniteLine] = {}
        self.apply_style(Style())

    def clear_points(self) -> None:
        self.points = {key: ([], []) for key in CURVES}
        for curve in (*self.curves.values(), self.probe):
            curve.setData([], [])
        for line in self.chance.values():
            self.removeItem(line)
        self.chance = {}

    def add(self, step: int, scores: dict[str, float]) -> None:
        for key in CURVES:
            if key in scores and scores[key] == scores[key]:  # not NaN
                xs, ys = self.points[key]
                xs.append(step)
                ys.append(100 * scores[key])
                self.curves[key].setData(xs, ys)
            if f"{key}_chance" in scores and key not in self.chance:
                line = pg.InfiniteLine(100 * scores[f"{key}_chance"], angle=0, pen=self.curves[key].opts["pen"])
                line.setPen(pg.mkPen(self.curves[key].opts["pen"].color(), style=Qt.PenStyle.DashLine))
                self.addItem(line)
                self.chance[key] = line
        if "probe" in scores:
            self.probe.setData([step], [100 * scores["probe"]])
        self.setYRange(0, 100, padding=0.02)

    def apply_style(self, style: Style) -> None:
        self.setBackground(style.background)
        style_plot(self.getPlotItem(), style, "step", "accuracy (%)")
        for key, (_, role) in CURVES.items():
            colour = style.color(role)
            self.curves[key].setPen(pg.mkPen(colour, width=style.line_width))
            self.curves[key].setSymbolBrush(colour)
            self.curves[key].setSymbolSize(style.symbol_size)
            if key in self.chance:
                self.chance[key].setPen(pg.mkPen(colour, style=Qt.PenStyle.DashLine))
        self.probe.setSymbolBrush(style.color("final"))
        self.probe.setSymbolSize(2 * style.symbol_size)


class ClipView(QWidget):
    prompts_changed = Signal(object)  # list[str]: the prompts as they now read (for the embedding view's markers)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.style_ = Style()
        self.source: LiveSource | SavedSource | None = None
        self.run_method = ""  # the method of the run followed ("clip" for one this panel can query)
        self.pretrained: Path | None = None
        self.model = self.bank = self.cache = None  # the model now used, its bank of images and prompt cache
        self.model_step: int | None = None
        self.stale = True  # a newer snapshot of a live run is due
        self.queried: list[str | bytes] = []  # the last dropped images, asked again when the prompts change
        self.class_names: list[str] = []
        self.jobs = {name: BackgroundJob(self, name) for name in ("model", "query", "search", "history")}

        self.model_label = QLabel("Model: none yet (train or open a clip run, or open a pretrained CLIP folder)")
        self.model_label.setWordWrap(True)
        self.pretrained_button = QPushButton("Open CLIP Folder...")
        self.pretrained_button.setToolTip("A Hugging Face CLIP folder you downloaded (config.json, model.safetensors, "
                                          "tokenizer files): zero-shot and search on your own photos, offline")
        self.run_button = QPushButton("Use the Run")
        self.run_button.setToolTip("Query the clip run being trained or opened again")
        self.prompt_box = QPlainTextEdit()
        self.prompt_box.setPlaceholderText(PROMPT_HINT)
        self.prompt_box.setMaximumHeight(110)
        self.template = QLineEdit()
        self.template.setPlaceholderText("template for class names, e.g. a drawing of a {}.  (empty: lines as written)")
        self.class_names_button = QPushButton("Class Names")
        self.class_names_button.setToolTip("Fill the box with the dataset's class names and the template 'a {}.'")
        self.status = QLabel("Drop or paste an image to see its prompt probabilities.")
        self.status.setWordWrap(True)

        self.similarity = SimilarityMap()
        self.curves = ZeroShotCurves()
        self.cards = QWidget()
        self.cards_layout = QVBoxLayout(self.cards)
        self.cards_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.cards)
        self.search_box = QLineEdit()
        self.search_box.setPlaceholderText("Type a prompt and press Enter: the images that match it best")
        self.results = ThumbnailGrid(56)
        search = QWidget()
        search_layout = QVBoxLayout(search)
        search_layout.setContentsMargins(0, 0, 0, 0)
        search_layout.addWidget(self.search_box)
        search_layout.addWidget(self.results, 1)
        self.tabs = QTabWidget()
        for widget, title in ((self.similarity, "Batch Similarity"), (self.curves, "Zero-Shot Curve"),
                              (scroll, "Dropped Images"), (search, "Search")):
            self.tabs.addTab(widget, title)

        buttons = QHBoxLayout()
        buttons.addWidget(self.pretrained_button)
        buttons.addWidget(self.run_button)
        buttons.addStretch(1)
        template_row = QHBoxLayout()
        template_row.addWidget(self.template, 1)
        template_row.addWidget(self.class_names_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.model_label)
        layout.addLayout(buttons)
        layout.addWidget(self.prompt_box)
        layout.addLayout(template_row)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, 1)

        self.drops = ImageDrops(self)
        self.drops.watch(self)
        self.drops.dropped.connect(self.query)
        self.debounce = QTimer(self, singleShot=True, interval=PROMPTS_DEBOUNCE_MS)
        self.debounce.timeout.connect(self._prompts_edited)
        self.prompt_box.textChanged.connect(self.debounce.start)
        self.template.textChanged.connect(self.debounce.start)
        self.class_names_button.clicked.connect(self.fill_class_names)
        self.pretrained_button.clicked.connect(self.open_pretrained_dialog)
        self.run_button.clicked.connect(self.use_run)
        self.search_box.returnPressed.connect(self.search)

    # prompts
    def prompts(self) -> list[str]:
        """The box's lines, each filled into the template when it has one {} (ValueError in one sentence)."""
        from engine.eval.zero_shot import check_prompts, class_prompts

        lines = check_prompts(self.prompt_box.toPlainText().splitlines())
        template = self.template.text().strip()
        return class_prompts(lines, template) if template else lines

    def set_prompts(self, lines: list[str], template: str = "") -> None:
        self.prompt_box.setPlainText("\n".join(lines))
        self.template.setText(template)
        self._prompts_edited()

    def fill_class_names(self) -> None:
        if not self.class_names:
            self.status.setText("This data has no class names: write prompts instead.")
            return
        from engine.eval.zero_shot import readable_name

        self.set_prompts([readable_name(name) for name in self.class_names], "a {}.")

    def _prompts_edited(self) -> None:
        try:
            prompts = self.prompts()
        except ValueError as e:
            self.status.setText(f"Prompts: {e}.")
            self.prompts_changed.emit([])
            return
        self.prompts_changed.emit(prompts)
        if self.queried:
            self.query(self.queried)

    # where the model comes from
    def follow(self, worker: Any) -> None:
        """The run ``worker`` trains (queries use a snapshot of its method, retaken after each evaluation)."""
        self._use(LiveSource(worker))
        self.curves.clear_points()

    @staticmethod
    def serves(method: type) -> bool:
        """Whether runs of ``method`` (an engine Method class) have anything to show here."""
        return method.name == "clip"

    def show_run(self, run_dir: Path) -> None:
        """A saved run folder: its zero-shot curve from its metrics, queries from its checkpoint."""
        from engine.runfolder import RunFolder

        self._use(SavedSource(run_dir))
        self.curves.clear_points()
        try:
            self.run_method = RunFolder(run_dir).read_config().get("method", "")
        except ValueError:
            self.run_method = ""
        self.jobs["history"].start(lambda cancelled, progress: list(RunFolder(run_dir).records(evals_only=True)),
                                   self._show_history, lambda error: None)

    def _use(self, source: LiveSource | SavedSource) -> None:
        for job in self.jobs.values():
            job.cancel()
        self.source, self.pretrained = source, None
        self.model = self.bank = self.cache = self.model_step = None
        self.stale, self.queried = True, []
        self.model_label.setText("Model: the run's clip method (a snapshot, taken when you query)")

    def use_run(self) -> None:
        if self.source is None:
            self.status.setText("No run yet: start one or open one (File > Open Run).")
            return
        self._use(self.source)

    def open_pretrained_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a Hugging Face CLIP folder", str(Path.home()))
        if folder:
            self.open_pretrained(Path(folder))

    def open_pretrained(self, folder: Path) -> None:
        """A pretrained CLIP folder for zero-shot on the user's photos (loaded in the background)."""
        from engine.eval.pretrained_clip import load_pretrained_clip
        from engine.explore.clip_queries import PromptCache

        self.status.setText(f"Loading {folder} ...")

        def loaded(model: Any) -> None:
            self.pretrained, self.model, self.bank, self.cache = folder, model, None, PromptCache(model)
            self.model_step, self.stale, self.queried = None, False, []
            self.model_label.setText(f"Model: pretrained CLIP from {folder} ({model.image_size} px)")
            self.status.setText("Drop photos for zero-shot; drop a folder to search its images.")

        self.jobs["model"].start(lambda cancelled, progress: load_pretrained_clip(folder), loaded, self._failed)

    def _with_model(self, then) -> None:
        """``then()`` once a model (and, for a run, its bank of test images) is ready: at once, or after a fresh
        snapshot of a live run computed in the background."""
        if self.model is not None and (self.pretrained is not None or not self.stale):
            then()
            return
        if self.source is None:
            self.status.setText("Start or open a clip run, or open a pretrained CLIP folder, then drop images.")
            return
        from engine.eval.pretrained_clip import MethodModel
        from engine.explore.clip_queries import PromptCache, run_bank

        source = self.source
        self.status.setText("Taking a snapshot of the run's clip model and embedding its test images ...")

        def work(cancelled, progress):
            subject = source.take(cancelled)
            if not hasattr(subject.snapshot.method, "embed_texts"):
                raise ValueError(f"{subject.title} has no text tower: zero-shot needs a clip run or a pretrained "
                                 "CLIP folder (Open CLIP Folder...)")
            model = MethodModel(subject.snapshot.method, subject.snapshot.channels, subject.run_dir)
            return model, run_bank(model, subject.dataset), subject.snapshot.step, list(subject.dataset.class_names)

        def ready(outcome) -> None:
            if source is not self.source or self.pretrained is not None:
                return
            self.model, self.bank, self.model_step, self.class_names = outcome
            self.cache, self.stale = PromptCache(self.model), False
            self.model_label.setText(f"Model: the run's clip method at step {self.model_step:,}; neighbours and "
                                     f"search over {len(self.bank):,} test images")
            then()

        self.jobs["model"].start(work, ready, self._failed)

    # queries
    def window_query(self, sources: list[str | bytes]) -> None:
        """Images dropped onto the window or pasted into the embedding view: answered here too when there is a
        CLIP model to answer them (the explorer shows their neighbours either way)."""
        if self.pretrained is not None or self.run_method == "clip":
            self.query(sources)

    def query(self, sources: list[str | bytes]) -> None:
        """Dropped or pasted images: their prompt probabilities and nearest images. With a pretrained CLIP, a
        dropped folder becomes the bank that search and neighbours use."""
        try:
            prompts = self.prompts()
        except ValueError as e:
            self.status.setText(f"Prompts: {e}.")
            return
        if self.pretrained is not None and any(not isinstance(s, bytes) and Path(s).is_dir() for s in sources):
            self._load_folder_bank(sources)
            return
        self.queried = list(sources)
        self._with_model(lambda: self._run_queries(prompts, list(sources)))

    def _run_queries(self, prompts: list[str], sources: list[str | bytes]) -> None:
        from engine.explore.clip_queries import zero_shot_queries

        model, cache, bank = self.model, self.cache, self.bank
        self.status.setText(f"Zero-shot on {len(sources)} image(s) with {len(prompts)} prompt(s) ...")

        def work(cancelled, progress):
            return zero_shot_queries(model, cache, prompts, sources, bank), model.unknown_words(prompts)

        self.jobs["query"].start(work, lambda outcome: self._show_queries(prompts, bank, *outcome), self._failed)

    def _show_queries(self, prompts: list[str], bank: Any, results: list, unknown: list[str]) -> None:
        from engine.explore.clip_queries import ZeroShot

        while self.cards_layout.count() > 1:
            item = self.cards_layout.takeAt(0)
            item.widget().deleteLater()
        found = [r for r in results if isinstance(r, ZeroShot)]
        for result in found:
            neighbours = [] if bank is None else [Tile(bank.images[row], f"{sim:.2f} {bank.names[row]}", row)
                                                  for row, sim in zip(result.neighbours, result.similarities)]
            card = QueryCard(Path(result.source).name, result.image, prompts, result.probabilities, neighbours,
                             self.style_)
            self.cards_layout.insertWidget(self.cards_layout.count() - 1, card)
        rejected = [f"{Path(r.source).name} ({r.reason})" for r in results if not isinstance(r, ZeroShot)]
        notes = []
        if rejected:
            notes.append("Not used: " + "; ".join(rejected[:3]))
        if unknown:
            notes.append("Words the text tower never saw (read as unknown): " + ", ".join(unknown[:8]))
        self.status.setText(" ".join(notes) or f"{len(found)} image(s), {len(prompts)} prompt(s).")
        self.tabs.setCurrentIndex(2)

    def _load_folder_bank(self, sources: list[str | bytes]) -> None:
        from engine.explore.clip_queries import file_bank

        model = self.model
        paths = [s for s in sources if not isinstance(s, bytes)]
        self.status.setText("Embedding the dropped folder's images ...")

        def loaded(outcome) -> None:
            if model is not self.model:
                return
            self.bank, rejected = outcome
            self.status.setText(f"Search and neighbours now use the {len(self.bank):,} dropped images"
                                + (f" ({len(rejected)} could not be read)" if rejected else ""))
            self.tabs.setCurrentIndex(3)

        self.jobs["model"].start(lambda cancelled, progress: file_bank(model, paths), loaded, self._failed)

    def search(self) -> None:
        """The images of the bank that match the typed prompt best."""
        text = self.search_box.text()

        def run() -> None:
            from engine.explore.clip_queries import text_search

            model, bank = self.model, self.bank
            if bank is None:
                self.status.setText("Drop a folder of images to search them.")
                return
            self.jobs["search"].start(lambda cancelled, progress: text_search(model, bank, text),
                                      lambda found: self._show_found(bank, text, *found), self._failed)

        self._with_model(run)

    def _show_found(self, bank: Any, text: str, rows: list[int], similarities: list[float]) -> None:
        self.results.show_tiles([Tile(bank.images[r], f"{s:.2f} {bank.names[r]}", r)
                                 for r, s in zip(rows, similarities)])
        self.status.setText(f"The {len(rows)} images most similar to '{text}'")
        self.tabs.setCurrentIndex(3)

    def _failed(self, error: Exception) -> None:
        self.status.setText(describe(error))

    # the run's events
    def on_event(self, event: Any) -> None:
        from engine import events

        match event:
            case events.Started():
                self.run_method = event.config.get("method", "")
                self.curves.clear_points()
                self.stale = True
            case events.Eval():
                self.curves.add(event.step, event.scores)
                self.stale = True
            case events.Preview(tiles=events.SimilarityTiles() as tiles):
                self.similarity.show_matrix(event.step, [row[0] for row in tiles.rows], tiles.texts, tiles.matrix)

    def _show_history(self, records: list[dict]) -> None:
        for record in records:
            self.curves.add(record["step"], record.get("eval", {}))

    def apply_style(self, style: Style) -> None:
        self.style_ = style
        self.similarity.apply_style(style)
        self.curves.apply_style(style)
