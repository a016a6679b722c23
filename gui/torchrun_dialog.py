"""Run > Run with torchrun: the processes on each machine and the machines (a form of engine.launch.TorchrunConfig),
and the command to paste on each other machine; Start launches the job on this one, which the window follows."""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QApplication,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.forms import ConfigForm

ONE_MACHINE = "On one machine there is nothing to run elsewhere."


class TorchrunDialog(QDialog):
    def __init__(self, config: Any, run_dir: Path, parent: QWidget | None = None):
        """``config``: the engine RunConfig to train; ``run_dir``: the run folder its rank 0 writes here."""
        from engine.launch import TorchrunConfig, default_processes

        super().__init__(parent)
        self.setWindowTitle("Run with torchrun")
        self.config, self.run_dir = config, Path(run_dir)
        self.form = ConfigForm(TorchrunConfig, defaults={"processes": default_processes(config.device),
                                                         "address": socket.gethostname()})
        folder = QLabel(f"Run folder (written by rank 0, on this machine): {self.run_dir}")
        folder.setWordWrap(True)
        self.commands = QPlainTextEdit()
        self.commands.setReadOnly(True)
        self.copy_button = QPushButton("Copy")
        self.copy_button.clicked.connect(lambda: QApplication.clipboard().setText(self.commands.toPlainText()))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.form)
        layout.addWidget(folder)
        layout.addWidget(QLabel("On each other machine, in its Pretext folder (it loads the dataset itself):"))
        layout.addWidget(self.commands, 1)
        layout.addWidget(self.copy_button)
        layout.addWidget(buttons)
        self.form.changed.connect(self._show_commands)
        self._show_commands()

    def torchrun(self) -> Any:
        """The form's engine TorchrunConfig."""
        from engine.config import from_dict
        from engine.launch import TorchrunConfig

        return from_dict(TorchrunConfig, self.form.values())

    def _show_commands(self) -> None:
        from engine.launch import remote_commands

        commands = remote_commands(self.config, self.torchrun(), self.run_dir)
        self.commands.setPlainText("\n\n".join(commands) if commands else ONE_MACHINE)
        self.copy_button.setEnabled(bool(commands))
