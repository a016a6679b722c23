"""Colours, line widths and font sizes: the normal look, presenter mode (readable from the back of a lecture hall)
and a light theme (dark plots wash out on many projectors)."""
from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QFont
from PySide6.QtWidgets import QApplication

PRESENTER_FONT_SCALE = 1.5
# Okabe & Ito's colour-blind-safe palette; each role has a shade for dark and one for light backgrounds.
COLORS = {
    "loss": ("#56B4E9", "#0072B2"),
    "lr": ("#E69F00", "#B36B00"),
    "knn": ("#2ECC9A", "#009E73"),
    "raw": ("#F07C3A", "#D55E00"),
    "random": ("#E39BC4", "#CC79A7"),
    "copy": ("#9A9A9A", "#6E6E6E"),  # tracking's baselines: the first frame's mask copied, the raw lightness
    "gray": ("#D8C8A0", "#8C7A4C"),
    "final": ("#F0E442", "#000000"),
    "pretext": ("#B9B9B9", "#5A5A5A"),  # the pretext task's own accuracy on training batches
    "nmi": ("#A99CF0", "#5B45B8"),  # pseudo-labels' agreement (NMI) with the classes and with the previous labels
    "health": ("#56B4E9", "#0072B2"),  # the collapse monitor's scores
    "collapse": ("#F07C3A", "#D55E00"),  # its thresholds and warning banner
}


@dataclass(frozen=True)
class Style:
    light: bool = False
    presenter: bool = False

    @property
    def background(self) -> QColor:
        return QColor("white" if self.light else "#141414")

    @property
    def foreground(self) -> QColor:
        return QColor("#202020" if self.light else "#E8E8E8")

    def color(self, role: str) -> QColor:
        return QColor(COLORS[role][self.light])

    @property
    def line_width(self) -> float:
        return 4.0 if self.presenter else 1.6

    @property
    def font_pt(self) -> int:
        return 16 if self.presenter else 10

    @property
    def symbol_size(self) -> int:
        return 16 if self.presenter else 8


class AppFont:
    """Scales the application font for presenter mode and back."""

    def __init__(self, app: QApplication):
        self.app = app
        self.normal = QFont(app.font())

    def apply(self, presenter: bool) -> None:
        font = QFont(self.normal)
        if presenter:
            font.setPointSizeF(self.normal.pointSizeF() * PRESENTER_FONT_SCALE)
        self.app.setFont(font)
