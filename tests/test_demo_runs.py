"""Demo runs: bench/demo_runs.py trains a recipe with the project's Session and labels it with how it was made;
engine.demo lists only finished demos; File > Open Demo Run names each and opens it."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from conftest import TINY_RUN

from engine.demo import demo_runs, write_demo_json

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import demo_runs as script  # noqa: E402  (bench/demo_runs.py)


def tiny_demo(root: Path) -> Path:
    settings = {k: v for k, v in TINY_RUN.items() if k not in ("steps", "minutes", "device")}
    line = script.train(script.Recipe("tiny", "SimCLR, tiny", 0.02, settings), root, minutes=0.02, device="cpu")
    assert "steps in 0.02 min on cpu" in line, line
    return root / "tiny"


def test_a_trained_demo_is_a_run_folder_labelled_with_how_it_was_made_and_the_rest_are_not_listed(tmp_path):
    run_dir = tiny_demo(tmp_path)
    (tmp_path / "no-demo-json").mkdir()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "demo.json").write_text("{not json")
    unfinished = tmp_path / "still-training"  # demo.json but no checkpoint yet
    unfinished.mkdir()
    write_demo_json(unfinished, "Unfinished", "nothing yet")
    (tmp_path / "a-file.txt").write_text("not a folder")
    [demo] = demo_runs(tmp_path)
    assert demo.path == run_dir and demo.title == "SimCLR, tiny"
    assert "on cpu" in demo.made and "bench/demo_runs.py" in demo.made
    assert json.loads((run_dir / "run.json").read_text())["config"]["method"] == "simclr"
    assert demo_runs(tmp_path / "absent") == []


def test_the_file_menu_names_each_demo_and_opens_it(window, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_DEMO_RUNS", str(tmp_path))
    window._list_demo_runs()
    [none] = window.demo_menu.actions()
    assert not none.isEnabled() and "bench/demo_runs.py" in none.text()
    run_dir = tiny_demo(tmp_path)
    window._list_demo_runs()
    [action] = window.demo_menu.actions()
    assert action.text().startswith("SimCLR, tiny  [") and "on cpu" in action.text()
    action.trigger()
    qtbot.waitUntil(lambda: window.run_dir == run_dir and window.plots.steps_received > 0, timeout=30_000)
