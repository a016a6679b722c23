"""The status bar: step, epoch, images/s, ETA, device and the latest checkpoint, beside transient messages."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

FIELDS = ("step", "epoch", "speed", "eta", "device", "checkpoint")


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class RunStatusBar(QStatusBar):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.labels = {name: QLabel() for name in FIELDS}
        self.rate_unit = "img"  # "words" for a text run (Started.unit)
        for label in self.labels.values():
            label.setContentsMargins(10, 0, 10, 0)
            self.addPermanentWidget(label)
        self.clear_run()

    def on_event(self, event: Any) -> None:
        """The run's progress in the fields, what it is doing in the message."""
        from engine import events

        match event:
            case events.Step():
                self.show_step(event.step, event.epoch, event.images_per_s, event.eta_s, self.rate_unit)
            case events.Checkpoint():
                self.show_checkpoint(event.step, event.path)
            case events.Status():
                self.showMessage(event.message + " ...")
            case events.Started():
                self.show_device(event.device)
                self.rate_unit = "img" if event.unit == "images" else event.unit
                self.showMessage(f"Training {event.config['method']} on {event.dataset} "
                                 f"({event.train_size:,} {event.unit}); run folder {event.run_dir}", 10000)
            case events.Warning():
                self.showMessage(f"Warning: {event.message}", 15000)
            case events.Collapsed():
                self.showMessage(f"Warning: step {event.step}: the representation has collapsed ({event.reason})",
                                 15000)
            case events.Eval(final=True) if "knn" in event.scores:
                scores = ", ".join(f"{k} {v:.1%}" for k, v in event.scores.items())
                raw = ", ".join(f"{name} {s.get('knn', 0):.1%}" for name, s in event.baselines.items())
                self.showMessage(f"Final evaluation: {scores} (kNN baselines: {raw})")
            case events.Eval(final=True):  # a text run's scores (engine.text.session)
                scores = ", ".join(f"{k} {v:.3g}" for k, v in event.scores.items())
                random = ", ".join(f"{k} {v:.3g}" for s in event.baselines.values() for k, v in s.items())
                self.showMessage(f"Final evaluation: {scores}" + (f" (random vectors: {random})" if random else ""))

    def clear_run(self) -> None:
        for name, text in (("step", "step -"), ("epoch", "epoch -"), ("speed", "- img/s"), ("eta", "ETA --:--"),
                           ("checkpoint", "no checkpoint")):
            self.labels[name].setText(text)

    def show_device(self, device: str) -> None:
        self.labels["device"].setText(f"device: {device}")

    def show_step(self, step: int, epoch: float, images_per_s: float, eta_s: float | None,
                  unit: str = "img") -> None:
        self.labels["step"].setText(f"step {step:,}")
        self.labels["epoch"].setText(f"epoch {epoch:.1f}")
        self.labels["speed"].setText(f"{images_per_s:,.0f} {unit}/s")
        self.labels["eta"].setText(f"ETA {clock(eta_s)}")

    def show_checkpoint(self, step: int, path: str) -> None:
        label = self.labels["checkpoint"]
        label.setText(f"checkpoint: step {step:,}, {time.strftime('%H:%M')}")
        label.setToolTip(str(Path(path)))
