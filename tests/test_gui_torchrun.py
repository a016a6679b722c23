"""Run > Run with torchrun: the dialog's commands, and the window following a job through its run folder (a stand-in
job that writes a run folder as rank 0 does, without training: the real job is tests/test_distributed.py's)."""
from __future__ import annotations

import json
import shlex
import sys

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from engine import launch
from engine.config import to_dict
from gui.main_window import RunState
from gui.torchrun_dialog import ONE_MACHINE
from tests.test_run_folder import cli_config, trained_as

TIMEOUT_MS = 30_000
# what rank 0 writes: run.json, a preview, a step record every 50 ms until the stop request, then the checkpoint
STAND_IN_JOB = r"""
import json, sys, time
from pathlib import Path

import numpy as np
from safetensors.numpy import save_file

run_dir, mode, config = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
if mode == "fails":
    print("Traceback (most recent call last):\n  File 'main.py', line 1", file=sys.stderr)
    sys.exit("error: batch_size 31 is the global batch and must split evenly over the 2 processes of this run")

def save(name, tensors, state):
    save_file(tensors, str(run_dir / ".tmp"), {"format": "pretext-checkpoint", "version": "1",
                                               "state": json.dumps(state)})
    (run_dir / ".tmp").replace(run_dir / name)

run_dir.mkdir(parents=True)
(run_dir / ".tmp").write_text(json.dumps({"config": config, "device": "cpu", "dataset": {
    "name": "shapes", "train": 512, "test": 256, "classes": [], "image_size": 16, "channels": 3}}))
(run_dir / ".tmp").replace(run_dir / "run.json")  # atomically, as RunFolder writes it
save("preview.safetensors", {"tile.0.0": np.full((3, 16, 16), 200, np.uint8)},
     {"step": 0, "kind": "Tiles", "shape": [1], "fields": {"title": "stand-in views", "captions": [["a view"]]}})
step = 0
with open(run_dir / "metrics.jsonl", "a") as metrics:
    while not (run_dir / "stop").exists():
        step += 1
        metrics.write(json.dumps({"step": step, "loss": 1 / step, "lr": 0.1}) + "\n")
        metrics.flush()
        time.sleep(0.05)
save("checkpoint.safetensors", {"w": np.zeros(1, np.float32)}, {"step": step})
"""


@pytest.fixture
def stand_in_job(monkeypatch):
    """Run > Run with torchrun starts the stand-in instead of torchrun; ``mode`` "fails" makes it fail."""
    mode = {"value": "trains"}
    monkeypatch.setattr(launch, "local_command", lambda config, torchrun, run_dir: [
        sys.executable, "-c", STAND_IN_JOB, str(run_dir), mode["value"], json.dumps(to_dict(config))])
    return mode


def test_the_dialog_builds_the_job_from_the_settings_and_the_commands_for_other_machines(window):
    from engine.build import RunConfig

    window.run_with_torchrun()
    dialog = window.torchrun_dialog
    assert dialog.commands.toPlainText() == ONE_MACHINE and not dialog.copy_button.isEnabled()
    here = launch.local_command(dialog.config, dialog.torchrun(), dialog.run_dir)
    assert here[here.index("--nproc_per_node") + 1] == str(launch.default_processes("cpu"))
    assert trained_as(cli_config(here[here.index("train") + 1:-3])) == \
        trained_as(RunConfig.with_method_defaults(window.setup.values()))
    dialog.form.set_values({"machines": 3, "address": "lab-1"})
    other = dialog.commands.toPlainText().split("\n\n")
    assert [shlex.split(c)[shlex.split(c).index("--node_rank") + 1] for c in other] == ["1", "2"]
    assert all("--master_addr lab-1 --master_port 29500" in c for c in other)
    dialog.copy_button.click()
    assert QApplication.clipboard().text() == dialog.commands.toPlainText()
    dialog.reject()
    assert window.state is RunState.IDLE


def test_the_window_follows_the_job_and_its_stop_ends_it_with_a_checkpoint(window, qtbot, stand_in_job):
    window.run_with_torchrun()
    window.torchrun_dialog.accept()
    qtbot.waitUntil(lambda: window.plots.steps_received >= 5, timeout=TIMEOUT_MS)
    assert window.state is RunState.RUNNING and not window.pause_action.isEnabled()
    assert window.preview.title == "stand-in views" and window.preview.captions == [["a view"]]
    assert window.run_dir == window.torchrun_dialog.run_dir
    window.stop_run()
    qtbot.waitUntil(lambda: window.state is RunState.IDLE, timeout=TIMEOUT_MS)
    assert "Run stopped at step" in window.status.currentMessage()
    assert window.continue_action.isEnabled() and (window.run_dir / "checkpoint.safetensors").exists()
    assert window.plots.steps_received == len((window.run_dir / "metrics.jsonl").read_text().splitlines())


def test_a_job_that_fails_says_why_in_one_sentence(window, qtbot, stand_in_job):
    stand_in_job["value"] = "fails"
    window.run_with_torchrun()
    window.torchrun_dialog.accept()
    qtbot.waitUntil(lambda: window.state is RunState.IDLE and bool(window.findChildren(QMessageBox)),
                    timeout=TIMEOUT_MS)
    box = window.findChildren(QMessageBox)[-1]
    assert box.text() == ("the torchrun job ended with exit code 1: batch_size 31 is the global batch and must split "
                          "evenly over the 2 processes of this run")
    assert "Traceback" not in box.text() + box.detailedText()

