"""The main window: setup on the left, live plots in the middle, the preview on the right, run status below.

The GUI thread only draws: training runs in a :class:`TrainingWorker` (or in a torchrun job a
:class:`TorchrunWorker` follows through its run folder), the engine import, dataset loading for
the preview and run-folder reading in background threads. Nothing here imports the engine at module level
(PyTorch takes seconds to import); engine modules are imported inside methods that run once the catalog has
loaded, when they are already in ``sys.modules``.
"""
from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSize, Qt, QTimer, Signal, Slot
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QMainWindow,
    QMessageBox,
    QStyle,
    QTabBar,
    QToolBar,
    QWidget,
)

from engine.errors import describe
from gui.attention_view import AttentionView
from gui.augment_preview import AugmentPreviewer
from gui.background import run_in_background
from gui.catalog import Catalog, load_catalog
from gui.clip_view import ClipView
from gui.explorer import Explorer
from gui.garbage import collect_on_gui_thread, freeze_what_is_loaded
from gui.health_view import HealthView
from gui.history import RunHistory, load_history
from gui.pixels_view import PixelsView
from gui.plots import TrainingPlots
from gui.presets import ASSETS, Preset, View, load_preset, save_preset
from gui.preview import PreviewGrid
from gui.setup_panel import SetupPanel
from gui.status_bar import RunStatusBar
from gui.theme import AppFont, Style
from gui.torchrun_dialog import TorchrunDialog
from gui.word_map import WordMap
from gui.worker import TorchrunWorker, TrainingWorker

CLOSE_TIMEOUT_MS = 4500  # closing waits this long for the run to finish its step and write its checkpoint
PRESENTER_VIEW_SHARE = 0.62  # of the window's width for the tabbed views (preview, embeddings, ...) in presenter mode


class RunState(enum.Enum):
    LOADING = "loading the engine"
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"


class MainWindow(QMainWindow):
    engine_ready = Signal()  # the pickers are filled and Start is enabled

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        collect_on_gui_thread()  # training and background threads never delete Qt objects in a garbage cycle
        self.setWindowTitle("Pretext")
        self.resize(1280, 800)
        self.catalog: Catalog | None = None
        self.worker: TrainingWorker | TorchrunWorker | None = None
        self.torchrun_dialog: TorchrunDialog | None = None
        self.run_dir: Path | None = None  # the run shown (started or opened), which Continue trains further
        self.state = RunState.LOADING
        self.preset_title = ""
        self._pending_run: dict[str, Any] | None = None  # a preset's run, applied when the engine has loaded
        self._closing = self._close_forced = False
        self._run_started = False  # the current run's Started came (its data loaded, its folder written)
        self._engine_requested = False
        self.app_font = AppFont(QApplication.instance())
        self._normal_layout: QByteArray | None = None  # the panels before presenter mode, restored after it

        self.plots = TrainingPlots()
        self.setCentralWidget(self.plots)
        self.setup = SetupPanel()
        self.preview = PreviewGrid()
        self.setup_dock = self._dock("Setup", self.setup, Qt.DockWidgetArea.LeftDockWidgetArea)
        self.preview_dock = self._dock("Preview", self.preview, Qt.DockWidgetArea.RightDockWidgetArea)
        # the tabbed column wide enough for its four tab names at 1280 x 800
        self.resizeDocks([self.setup_dock, self.preview_dock], [330, 380], Qt.Orientation.Horizontal)
        self.attention_view, self.health_view = AttentionView(lambda: self.worker), HealthView()
        self.attention_dock = self._dock("Attention", self.attention_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.preview_dock, self.attention_dock)  # a tab: the overlays need the column's height
        self.health_dock = self._dock("Collapse Health", self.health_view, Qt.DockWidgetArea.BottomDockWidgetArea)
        self.explorer = Explorer(self)  # the embedding view, dropped-image queries, evaluations and their exports
        self.explorer_dock = self._dock("Embeddings", self.explorer.view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.evaluation_dock = self._dock("Evaluation", self.explorer.evaluation, Qt.DockWidgetArea.RightDockWidgetArea)
        self.explorer.arrange(self.preview_dock, self.explorer_dock, self.evaluation_dock)
        self.clip_view = ClipView()  # prompts, zero-shot, the batch's similarity matrix and text search
        self.clip_dock = self._dock("CLIP", self.clip_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.evaluation_dock, self.clip_dock)
        self.explorer.drops.dropped.connect(self.clip_view.window_query)
        self.explorer.view.pasted.connect(self.clip_view.window_query)
        self.clip_view.prompts_changed.connect(self.explorer.show_prompts)
        self.word_map = WordMap(lambda: self.worker, lambda: self.explorer.layout_worker)  # a text run's words
        self.words_dock = self._dock("Words", self.word_map, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.evaluation_dock, self.words_dock)
        self.words_dock.visibilityChanged.connect(self.word_map.set_shown)
        self.explorer.widen_when_shown(self.words_dock)
        self.pixels_view = PixelsView(lambda: self.worker)  # a pixel-level run: descriptor matches, tracking
        self.pixels_dock = self._dock("Pixels", self.pixels_view, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.preview_dock, self.pixels_dock)  # beside the preview: its images need the height
        self.pixels_dock.visibilityChanged.connect(self.pixels_view.set_shown)
        self.preview_dock.raise_()
        self._show_method_docks()  # none until the engine has loaded
        self.status = RunStatusBar()
        self.setStatusBar(self.status)
        # every view takes the engine events it shows through its on_event, in this order
        self.event_views = (self.plots, self.status, self.preview, self.attention_view, self.health_view,
                            self.explorer, self.clip_view, self.word_map, self.pixels_view)
        self.previewer = AugmentPreviewer(self)
        self._build_actions()

        self.setup.changed.connect(self._settings_changed)
        self.previewer.rendered.connect(self._show_augment_preview)
        self.previewer.failed.connect(lambda e: self.preview.show_message(describe(e)))
        self._set_state(RunState.LOADING)
        self.status.showMessage("Loading the engine (PyTorch) ...")

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable
                         | QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)
        return dock

    def _action(self, menu, text: str, slot: Callable, shortcuts: tuple[str, ...] = (), icon=None,
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        menu.addAction(action)
        return action

    def _build_actions(self) -> None:
        pixmap = QStyle.StandardPixmap
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self.open_preset_action = self._action(file, "Open &Preset...", self.open_preset, ("Ctrl+O",))
        self.save_preset_action = self._action(file, "&Save Preset...", self.save_preset_dialog, ("Ctrl+S",))
        file.addSeparator()
        self.open_run_action = self._action(file, "Open &Run...", self.open_run_dialog, ("Ctrl+Shift+O",))
        self.demo_menu = file.addMenu("Open &Demo Run")
        self.demo_menu.aboutToShow.connect(self._list_demo_runs)
        self.export_action = self._action(file, "&Export Plots (PNG, SVG)...", self.export_dialog, ("Ctrl+E",))
        file.addActions(self.explorer.actions)
        file.addSeparator()
        self._action(file, "&Quit", self.close, ("Ctrl+Q",))

        run = bar.addMenu("&Run")
        self.start_action = self._action(run, "&Start", self.start_run, ("Ctrl+Return", "Ctrl+Enter"),
                                         pixmap.SP_MediaPlay)
        self.pause_action = self._action(run, "&Pause", self.toggle_pause, ("Space",), pixmap.SP_MediaPause)
        self.stop_action = self._action(run, "S&top", self.stop_run, ("Ctrl+.",), pixmap.SP_MediaStop)
        self.continue_action = self._action(run, "&Continue Run", self.continue_run, ("Ctrl+Shift+Return",),
                                            pixmap.SP_MediaSeekForward)
        self.continue_action.setToolTip("Train the opened or last run further from its checkpoint, "
                                        "with the budget set under Training")
        self.torchrun_action = self._action(run, "Run with &torchrun...", self.run_with_torchrun)
        self.torchrun_action.setToolTip("Train these settings on several processes (and machines) with torchrun, "
                                        "following the run folder that rank 0 writes")
        run.addSeparator()
        self.preview_action = self._action(run, "New &Preview", self.new_preview, ("Ctrl+R", "F5"),
                                           pixmap.SP_BrowserReload)

        view = bar.addMenu("&View")
        self.dock_actions: dict[QDockWidget, QAction] = {}
        for dock, key in ((self.setup_dock, "Ctrl+1"), (self.preview_dock, "Ctrl+2"),
                          (self.attention_dock, "Ctrl+Shift+A"), (self.health_dock, "Ctrl+Shift+H"),
                          (self.explorer_dock, "Ctrl+3"), (self.evaluation_dock, "Ctrl+4"),
                          (self.clip_dock, "Ctrl+5"), (self.words_dock, "Ctrl+6"), (self.pixels_dock, "Ctrl+7")):
            action = self._action(view, f"{dock.windowTitle()} Panel", lambda _=False, d=dock: self.show_or_hide(d),
                                  (key,))
            action.setCheckable(True)  # checked: on screen (a tab behind another is not)
            action.setChecked(not dock.isHidden())
            dock.visibilityChanged.connect(action.setChecked)
            self.dock_actions[dock] = action
        view.addSeparator()
        self.presenter_action = self._action(view, "P&resenter Mode", self._restyle, ("F11",), checkable=True)
        self.presenter_action.toggled.connect(self._arrange_for_presenter)
        self.light_action = self._action(view, "&Light Theme", self._restyle, ("Ctrl+L",), checkable=True)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About Pretext", self._about)

        self.toolbar = QToolBar("Run")
        self.toolbar.setObjectName("Run")
        self.toolbar.setMovable(False)
        self.toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        for action in (self.start_action, self.pause_action, self.stop_action, self.continue_action,
                       self.preview_action):
            self.toolbar.addAction(action)
        self.addToolBar(self.toolbar)

    def show_or_hide(self, dock: QDockWidget) -> None:
        """A panel's shortcut: a closed panel opens, a tab behind another comes to the front, and only the panel
        in front closes."""
        if dock.isHidden():
            dock.show()
            dock.raise_()
        elif dock.visibleRegion().isEmpty():  # present, as a tab behind another (Qt moves it off screen)
            dock.raise_()
        else:
            dock.hide()

    # state
    def _set_state(self, state: RunState) -> None:
        self.state = state
        idle, busy = state is RunState.IDLE, state in (RunState.RUNNING, RunState.PAUSED)
        self.start_action.setEnabled(idle)
        self.torchrun_action.setEnabled(idle)
        self.continue_action.setEnabled(idle and self.run_dir is not None)
        self.pause_action.setEnabled(busy and self.worker.pausable)
        self.pause_action.setText("&Resume" if state is RunState.PAUSED else "&Pause")
        self.pause_action.setIcon(self.style().standardIcon(
            QStyle.StandardPixmap.SP_MediaPlay if state is RunState.PAUSED else QStyle.StandardPixmap.SP_MediaPause))
        self.stop_action.setEnabled(busy)
        self.preview_action.setEnabled(idle or busy)
        for action in (self.open_preset_action, self.open_run_action):
            action.setEnabled(idle)
        self.save_preset_action.setEnabled(state is not RunState.LOADING)
        self.setup.set_editable(idle)

    def showEvent(self, event) -> None:  # noqa: N802  (Qt override)
        super().showEvent(event)
        if not self._engine_requested:  # after the first frame: the import competes for the GIL
            self._engine_requested = True
            QTimer.singleShot(0, self, self._load_engine)

    def _load_engine(self) -> None:
        run_in_background(self, load_catalog, self._engine_loaded, self._engine_failed, "pretext-engine-import")

    def _engine_loaded(self, catalog: Catalog) -> None:
        self.catalog = catalog
        freeze_what_is_loaded()  # later garbage collections skip the half million objects of the libraries
        self.setup.set_catalog(catalog)
        self._set_state(RunState.IDLE)
        self.preview.show_message("Loading the dataset for the preview ...")
        self.status.showMessage("Ready: press Start (Ctrl+Enter)")
        if self._pending_run is not None:
            run, self._pending_run = self._pending_run, None
            self._show_run_settings(run, "The preset's settings")
        self._settings_changed()
        self.engine_ready.emit()

    def _engine_failed(self, error: Exception) -> None:
        self.status.showMessage("The engine could not load")
        self.show_error("The engine could not load", f"{type(error).__name__}: {error}")

    # settings and the preview
    def _settings_changed(self) -> None:
        self._show_method_docks()
        if self.state is RunState.IDLE:
            self.previewer.request(self.setup.values())

    def _show_method_docks(self) -> None:
        """The panels that serve some methods only (CLIP, Words, Pixels) show while the setup's method is one of
        them, so that the tabs' names fit at 1280 x 800; the View menu brings any of them back."""
        method = self.catalog.methods.get(self.setup.method.currentText()) if self.catalog else None
        for dock, view in ((self.clip_dock, self.clip_view), (self.words_dock, self.word_map),
                           (self.pixels_dock, self.pixels_view)):
            dock.setVisible(method is not None and view.serves(method))
        for bar in self.findChildren(QTabBar, options=Qt.FindChildOption.FindDirectChildrenOnly):
            bar.setElideMode(Qt.TextElideMode.ElideNone)  # whole names; arrows scroll the tabs that do not fit

    def _show_augment_preview(self, preview: Any) -> None:
        if self.state is RunState.IDLE:
            self.preview.show_tiles(f"{preview.title} (before training)", preview.rows, preview.captions)

    def new_preview(self) -> None:
        """During a run: the method's preview now. Before: new random augmented views."""
        if self.worker is not None and self.worker.alive:
            self.worker.request_preview()
        else:
            self.previewer.reroll(self.setup.values())

    def _show_run_settings(self, run: dict[str, Any], origin: str) -> bool:
        try:
            self.setup.check(run)
            self.setup.set_values(run)
        except ValueError as e:
            self.show_error("Settings not applied", f"{origin} could not be applied: {e}")
            return False
        self._show_method_docks()
        return True

    # runs
    def _config_to_start(self) -> Any:
        """The setup's RunConfig when the window is idle and the settings are valid; else None (a refusal shown)."""
        from engine.build import RunConfig

        if self.state is not RunState.IDLE:
            return None
        try:
            return RunConfig.with_method_defaults(self.setup.values())
        except ValueError as e:
            self.show_error("Cannot start", str(e))
            return None

    def start_run(self) -> None:
        if (config := self._config_to_start()) is None:
            return
        self.plots.reset()
        self.status.clear_run()
        worker = TrainingWorker()
        self._launch(worker, lambda: worker.start_new(config))

    def run_with_torchrun(self) -> None:
        """The torchrun dialog for the settings; its Start launches the job and the window follows it."""
        from engine.run import new_run_dir

        if (config := self._config_to_start()) is None:
            return
        self.torchrun_dialog = dialog = TorchrunDialog(config, new_run_dir(config), self)
        dialog.accepted.connect(lambda: self._start_torchrun(dialog))
        dialog.open()

    def _start_torchrun(self, dialog: TorchrunDialog) -> None:
        if self.state is not RunState.IDLE:
            return
        self.plots.reset()
        self.status.clear_run()
        worker = TorchrunWorker()
        self._launch(worker, lambda: worker.start(dialog.config, dialog.torchrun(), dialog.run_dir))

    def continue_run(self) -> None:
        from engine.runfolder import RunFolder

        if self.state is not RunState.IDLE or self.run_dir is None:
            return
        budget = self.setup.budget.values()
        try:
            state = RunFolder(self.run_dir).checkpoint_state()
            if state is None:
                raise ValueError(f"{self.run_dir} has no checkpoint to continue from")
        except ValueError as e:
            self.show_error("Cannot continue", describe(e))
            return
        if (budget["steps"] and state["step"] >= budget["steps"]) or \
                (budget["minutes"] and state["elapsed"] >= 60 * budget["minutes"]):
            self.show_error("Nothing left to train", f"The run has trained {state['step']:,} steps "
                            f"({state['elapsed'] / 60:.1f} minutes): raise the budget under Training to continue it.")
            return
        self.status.clear_run()
        worker = TrainingWorker()
        self._launch(worker, lambda: worker.start_continued(self.run_dir, **budget))

    def _launch(self, worker: TrainingWorker | TorchrunWorker, start: Callable[[], None]) -> None:
        self.previewer.cancel()
        worker.event.connect(self._on_event, Qt.ConnectionType.QueuedConnection)
        try:
            start()
        except (ValueError, OSError) as e:  # a run folder that cannot be continued, torchrun that cannot start
            self.show_error("Cannot start", describe(e))
            return
        self.worker, self._run_started = worker, False
        self.explorer.follow(worker)
        self.clip_view.follow(worker)
        self._set_state(RunState.RUNNING)
        self.status.showMessage("Starting ...")

    def toggle_pause(self) -> None:
        if self.state is RunState.RUNNING and self.worker.pausable:
            self.worker.pause()
            self._set_state(RunState.PAUSED)
            self.status.showMessage("Paused: Space resumes")
        elif self.state is RunState.PAUSED:
            self.worker.resume()
            self._set_state(RunState.RUNNING)
            self.status.showMessage("Training", 3000)

    def stop_run(self) -> None:
        if self.state in (RunState.RUNNING, RunState.PAUSED):
            self.worker.stop()
            self._set_state(RunState.STOPPING)
            self.status.showMessage("Stopping: finishing the step and writing the checkpoint ..." if self._run_started
                                    else "Stopping while the data loads ...")

    @Slot(object)
    def _on_event(self, event: Any) -> None:
        from engine import events

        for view in self.event_views:
            view.on_event(event)
        match event:
            case events.Started():
                self.run_dir, self._run_started = Path(event.run_dir), True
            case events.Error() if self.plots.steps_received == 0:  # refused while setting up: nothing trained
                self.show_error("Cannot start", event.message, event.details)
            case events.Error():
                self.show_error("Training failed", event.message + "\n\nThe run folder keeps what was learnt "
                                "up to the failure.", event.details)
            case events.Finished():
                self._finished(event)

    def _finished(self, event: Any) -> None:
        self.worker.wait(1.0)  # the thread returns right after its last event
        self._set_state(RunState.IDLE)
        if not self._run_started and event.reason == "stopped":
            self.status.showMessage("Stopped while the data loaded: nothing was trained or written")
        elif event.reason != "completed" or not event.scores:
            self.status.showMessage(f"Run {event.reason} at step {event.step:,}; run folder {self.run_dir}")
        if self._closing:
            QTimer.singleShot(0, self, self.close)

    def _show_history(self, history: RunHistory) -> None:
        if self.state is not RunState.IDLE:
            return
        self.plots.reset()
        self.status.clear_run()
        self.plots.add_losses(history.steps, history.losses)
        self.plots.add_lr(history.steps, history.lrs)
        for record in history.evals:
            scores, baselines = record["eval"], record.get("baselines", {})
            if "knn" in scores:
                self.plots.add_accuracy(record["step"], scores["knn"],
                                        {k: v["knn"] for k, v in baselines.items() if "knn" in v}, record.get("final"))
        self.health_view.show_history(history.run_dir, history.evals)
        self.run_dir = history.run_dir if history.checkpoint_step is not None else None
        self.explorer.show_run(history.run_dir)
        self.clip_view.show_run(history.run_dir)
        self.word_map.show_run(history.run_dir, history.config)
        self.pixels_view.show_run(history.run_dir, history.config)
        config = dict(history.config)
        if config.get("device") not in ("auto", *self.catalog.devices):
            config.pop("device", None)  # trained elsewhere (on a GPU): keep this machine's choice
        self._show_run_settings(config, "The run's settings")
        self._set_state(RunState.IDLE)
        steps = f"{int(history.steps[-1]):,} steps" if len(history.steps) else "no steps"
        hint = "; Run > Continue trains it further" if self.run_dir else "; it has no checkpoint to continue from"
        self.status.showMessage(f"Opened {history.run_dir.name} ({steps}){hint}")

    def load_run(self, run_dir: Path) -> None:
        """Show a finished or stopped run's curves and settings, ready to continue it."""
        run_in_background(self, lambda: load_history(run_dir), self._show_history,
                          lambda e: self.show_error("Cannot open the run", describe(e)), name="pretext-history")

    # presets
    def current_preset(self) -> Preset:
        view = View(setup=self.setup_dock.toggleViewAction().isChecked(),
                    preview=self.preview_dock.toggleViewAction().isChecked(),
                    presenter=self.presenter_action.isChecked(), light=self.light_action.isChecked())
        return Preset(self.setup.values(), view, self.preset_title)

    def apply_preset(self, preset: Preset) -> None:
        """The view at once; the run settings now, or when the engine has loaded."""
        self.presenter_action.setChecked(preset.view.presenter)  # first: presenter mode rearranges the panels
        self.setup_dock.setVisible(preset.view.setup)
        self.preview_dock.setVisible(preset.view.preview)
        self.light_action.setChecked(preset.view.light)
        self.preset_title = preset.title
        self.setWindowTitle(f"Pretext - {preset.title}" if preset.title else "Pretext")
        if self.catalog is None:
            self._pending_run = preset.run
        else:
            self._show_run_settings(preset.run, "The preset's settings")

    def open_preset(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open preset", str(ASSETS), "Pretext presets (*.json)")
        if path:
            self.open_preset_file(Path(path))

    def open_preset_file(self, path: Path) -> None:
        try:
            self.apply_preset(load_preset(path))
        except ValueError as e:
            self.show_error("Cannot open the preset", str(e))

    def save_preset_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save preset", "preset.json", "Pretext presets (*.json)")
        if path:
            try:
                save_preset(Path(path), self.current_preset())
            except OSError as e:
                self.show_error("Cannot save the preset", str(e))
                return
            self.status.showMessage(f"Saved the preset {path}", 5000)

    def open_run_dialog(self) -> None:
        from engine.runfolder import runs_root

        folder = QFileDialog.getExistingDirectory(self, "Open run folder", str(runs_root()))
        if folder:
            self.load_run(Path(folder))

    def _list_demo_runs(self) -> None:
        """The demo runs bench/demo_runs.py trained, each labelled with how it was made."""
        from engine.demo import demo_root, demo_runs

        self.demo_menu.clear()
        for demo in demo_runs():
            action = self.demo_menu.addAction(f"{demo.title}  [{demo.made}]")
            action.triggered.connect(lambda _=False, path=demo.path: self.load_run(path))
        if self.demo_menu.isEmpty():
            none = self.demo_menu.addAction(f"None yet: python bench/demo_runs.py trains them into {demo_root()}")
            none.setEnabled(False)

    def export_dialog(self) -> None:
        default = (self.run_dir / "plots.png") if self.run_dir else Path("plots.png")
        path, _ = QFileDialog.getSaveFileName(self, "Export plots (a .png and an .svg)", str(default), "PNG (*.png)")
        if path:
            try:
                written = self.plots.export(Path(path))
            except OSError as e:
                self.show_error("Cannot export the plots", str(e))
                return
            self.status.showMessage("Saved " + " and ".join(str(p) for p in written), 8000)

    # look
    def _restyle(self) -> None:
        style = Style(light=self.light_action.isChecked(), presenter=self.presenter_action.isChecked())
        self.app_font.apply(style.presenter)
        self.plots.apply_style(style)
        self.preview.apply_style(style)
        self.attention_view.apply_style(style)
        self.health_view.apply_style(style)
        self.explorer.apply_style(style)
        self.clip_view.apply_style(style)
        self.word_map.apply_style(style)
        self.pixels_view.apply_style(style)
        self.toolbar.setIconSize(QSize(32, 32) if style.presenter else QSize(20, 20))

    def _arrange_for_presenter(self, on: bool) -> None:
        """Presenter mode keeps what a lecture shows: the setup form and the health panel go (their shortcuts bring
        them back) and the tabbed views take most of the width beside the curves; leaving it puts the panels and
        their sizes back as they were."""
        if on:
            self._normal_layout = self.saveState()
            self.setup_dock.hide()
            self.health_dock.hide()
            QTimer.singleShot(0, lambda: self.resizeDocks(  # once the layout has let the hidden panels go
                [self.preview_dock], [round(PRESENTER_VIEW_SHARE * self.width())], Qt.Orientation.Horizontal))
        elif self._normal_layout is not None:
            layout, self._normal_layout = self._normal_layout, None
            self.restoreState(layout)
            QTimer.singleShot(0, lambda: self.restoreState(layout))  # sizes again, once the panels are back

    def _about(self) -> None:
        QMessageBox.about(self, "About Pretext", "Pretext: a desktop lab for self-supervised representation "
                          "learning. Pick a dataset and a method, press Start (Ctrl+Enter), and watch it learn.")

    def show_error(self, title: str, message: str, details: str = "") -> None:
        """A window-modal message box that does not block the event loop (training events keep arriving)."""
        box = QMessageBox(QMessageBox.Icon.Critical, title, message, QMessageBox.StandardButton.Ok, self)
        box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # closing
    def closeEvent(self, event) -> None:  # noqa: N802  (Qt override)
        """A run is stopped first (its step finishes and its checkpoint is written); if that takes longer than
        CLOSE_TIMEOUT_MS the window closes anyway and the previous checkpoint stays on disk."""
        if self.worker is not None and self.worker.alive and not self._close_forced:
            event.ignore()
            if not self._closing:
                self._closing = True
                self.worker.stop()
                self._set_state(RunState.STOPPING)
                self.status.showMessage("Closing: finishing the step and writing the checkpoint ...")
                QTimer.singleShot(CLOSE_TIMEOUT_MS, self, self._force_close)
            return
        self.previewer.cancel()
        event.accept()

    def _force_close(self) -> None:
        self._close_forced = True
        self.close()

    @property
    def training_alive(self) -> bool:
        return self.worker is not None and self.worker.alive
