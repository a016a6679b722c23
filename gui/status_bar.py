"""The status bar: step, epoch, images/s, ETA, device and the latest checkpoint, beside transient messages."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

from gui.plots import HEADLINES

FIELDS = ("step", "epoch", "speed", "eta", "device", "checkpoint")


def clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def final_evaluation(scores: dict[str, float], baselines: dict[str, dict[str, float]]) -> str:
    """The final scores and each baseline's headline score (kNN, mean J, ...), the baselines named as the plot's
    legend names them; fractions in percent, distances (``*_px``) in pixels."""
    headline = next((name for name in HEADLINES if name in scores), None)
    names = HEADLINES[headline][1] if headline else {}

    def shown(name: str, value: float) -> str:
        return f"{name} {value:.2f} px" if name.endswith("_px") else f"{name} {value:.1%}"

    text = "Final evaluation: " + ", ".join(shown(k, v) for k, v in scores.items())
    compared = [f"{names.get(name, name)} {shown(headline, s[headline]).removeprefix(headline + ' ')}"
                for name, s in baselines.items() if headline in s]
    return text + (f"; baselines' {headline}: {', '.join(compared)}" if compared else "")


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
                self.show_rate_fields(True)
                self.rate_unit = "img" if event.unit == "images" else event.unit
                self.showMessage(f"Training {event.config['method']} on {event.dataset} "
                                 f"({event.train_size:,} {event.unit}); run folder {event.run_dir}", 10000)
            case events.Warning():
                self.showMessage(f"Warning: {event.message}", 15000)
            case events.Collapsed():
                self.showMessage(f"Warning: step {event.step}: the representation has collapsed ({event.reason})",
                                 15000)
            case events.Eval(final=True):
                self.showMessage(final_evaluation(event.scores, event.baselines))
            case events.Finished():  # the fields a finished run no longer needs give their room to its sentence
                self.show_rate_fields(False)

    def clear_run(self) -> None:
        self.show_rate_fields(False)  # until a run starts
        for name, text in (("step", "step -"), ("epoch", "epoch -"), ("speed", "- img/s"), ("eta", "ETA --:--"),
                           ("checkpoint", "no checkpoint")):
            self.labels[name].setText(text)

    def show_rate_fields(self, shown: bool) -> None:
        """Speed, time left, epoch and device: shown while a run trains (its step and checkpoint always)."""
        for name in ("speed", "eta", "epoch", "device"):
            self.labels[name].setVisible(shown)

    def show_device(self, device: str) -> None:
        self.labels["device"].setText(f"device: {device}")

    def show_step(self, step: int, epoch: float, images_per_s: float, eta_s: float | None,
                  unit: str = "img") -> None:
        self.labels["step"].setText(f"step {step:,}")
        self.labels["epoch"].setText(f"epoch {epoch:.1f}")
        self.labels["speed"].setText(f"{images_per_s:,.0f} {unit}/s" if images_per_s > 0 else f"- {unit}/s")
        self.labels["eta"].setText(f"ETA {clock(eta_s)}")

    def show_checkpoint(self, step: int, path: str) -> None:
        label = self.labels["checkpoint"]
        label.setText(f"checkpoint: step {step:,}, {time.strftime('%H:%M')}")
        label.setToolTip(str(Path(path)))
