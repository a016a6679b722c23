"""The status bar: step, epoch, images/s, ETA, device and the latest checkpoint, beside transient messages."""
from __future__ import annotations

import time
from pathlib import Path

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
        for label in self.labels.values():
            label.setContentsMargins(10, 0, 10, 0)
            self.addPermanentWidget(label)
        self.clear_run()

    def clear_run(self) -> None:
        for name, text in (("step", "step -"), ("epoch", "epoch -"), ("speed", "- img/s"), ("eta", "ETA --:--"),
                           ("checkpoint", "no checkpoint")):
            self.labels[name].setText(text)

    def show_device(self, device: str) -> None:
        self.labels["device"].setText(f"device: {device}")

    def show_step(self, step: int, epoch: float, images_per_s: float, eta_s: float | None) -> None:
        self.labels["step"].setText(f"step {step:,}")
        self.labels["epoch"].setText(f"epoch {epoch:.1f}")
        self.labels["speed"].setText(f"{images_per_s:,.0f} img/s")
        self.labels["eta"].setText(f"ETA {clock(eta_s)}")

    def show_checkpoint(self, step: int, path: str) -> None:
        label = self.labels["checkpoint"]
        label.setText(f"checkpoint: step {step:,}, {time.strftime('%H:%M')}")
        label.setToolTip(str(Path(path)))
