"""The preview before training: a few dataset images beside their augmented views, for the current settings.

Loading a dataset and augmenting run off the GUI thread. Settings change faster than views render (a spin box
held down), so requests are debounced, one render runs at a time and only the newest waiting request follows
it. The random draws are fixed (until :meth:`AugmentPreviewer.reroll`), so moving one slider changes only what
that augmentation does.
"""
from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from gui.background import run_in_background

IMAGES = 4  # as many as the Session's own previews show
DEBOUNCE_MS = 200
SHOWN = ("dataset", "dataset_options", "method", "augment", "image_size", "crop_size", "seed")  # what views show


class AugmentPreviewer(QObject):
    rendered = Signal(object)  # engine.events.Tiles
    failed = Signal(object)  # the exception

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._timer = QTimer(self, singleShot=True, interval=DEBOUNCE_MS)
        self._timer.timeout.connect(self._start)
        self._wanted: dict[str, Any] | None = None
        self._shown_key: str | None = None
        self._busy = False
        self._generation = 0  # bumped by cancel(): results of older renders are dropped
        self._draw = 0
        self._dataset_key: str | None = None
        self._dataset = None  # the last dataset loaded, used only by the (single) render thread

    def request(self, values: dict[str, Any]) -> None:
        """Render ``values`` (a run dict, as the setup panel gives) unless the preview already shows them."""
        if self._key(values) == self._shown_key:
            return
        self._wanted = values
        self._timer.start()

    def reroll(self, values: dict[str, Any]) -> None:
        """New random views of the same images."""
        self._draw += 1
        self._shown_key = None
        self.request(values)

    def cancel(self) -> None:
        """Forget waiting requests and drop the running one's result (a training run now owns the preview)."""
        self._timer.stop()
        self._wanted, self._shown_key = None, None
        self._generation += 1

    def _key(self, values: dict[str, Any]) -> str:
        return json.dumps([self._draw, {k: values.get(k) for k in SHOWN}], sort_keys=True)

    def _start(self) -> None:
        if self._busy or self._wanted is None:
            return
        values, self._wanted = self._wanted, None
        key, generation, draw = self._key(values), self._generation, self._draw
        self._busy = True
        run_in_background(self, lambda: self._render(values, draw, generation),
                          lambda p: self._finish(p, key, generation), lambda e: self._finish(e, key, generation),
                          name="pretext-preview")

    def _finish(self, outcome: Any, key: str, generation: int) -> None:
        self._busy = False
        if generation == self._generation and self._wanted is None:
            self._shown_key = key if not isinstance(outcome, Exception) else None
            (self.failed if isinstance(outcome, Exception) else self.rendered).emit(outcome)
        self._start()

    def _render(self, values: dict[str, Any], draw: int, generation: int):
        """On the render thread: load (or reuse) the dataset, build the run's augmentation as training builds it,
        augment the first test images. A slow load stops (Cancelled) once ``cancel()`` has been called since."""
        import torch

        from engine.build import RunConfig, build
        from engine.data import load_dataset
        from engine.methods import METHODS
        from engine.methods.base import views_preview

        config = RunConfig.with_method_defaults(values)
        if METHODS[config.method].modality == "text":  # no images: the task on a few passages instead
            from engine.text.explore import preview_before_training

            return preview_before_training(config, draw)
        key = json.dumps([config.dataset, config.dataset_options], sort_keys=True)
        if key != self._dataset_key:
            self._dataset = load_dataset(config.dataset, config.dataset_options,
                                         cancelled=lambda: generation != self._generation)
            self._dataset_key = key
        built = build(config, self._dataset, with_method=False)
        images = built.dataset.test.images[:IMAGES]
        return views_preview(built.augment, images, torch.Generator().manual_seed(config.seed * 1000 + draw))
