"""Demo runs: longer runs than a lecture can wait for, trained beforehand by ``bench/demo_runs.py`` with the
project's own code (on a GPU when there is one), that the window opens at once (File > Open Demo Run).

Each is a run folder (:mod:`engine.runfolder`) under :func:`demo_root`, plus ``demo.json``:
``{"title": str, "made": str}``, ``made`` saying how it was trained (the steps it reached, its budget, the device,
the date, the script), which the menu shows beside the title.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from engine.runfolder import CHECKPOINT, RUN_JSON, runs_root, write_atomically

DEMO_JSON = "demo.json"


def demo_root() -> Path:
    """``PRETEXT_DEMO_RUNS``, else ``demo`` in the runs folder."""
    return Path(os.environ.get("PRETEXT_DEMO_RUNS", runs_root() / "demo"))


@dataclass(frozen=True)
class DemoRun:
    path: Path
    title: str
    made: str  # how it was trained


def write_demo_json(run_dir: Path, title: str, made: str) -> None:
    write_atomically(Path(run_dir) / DEMO_JSON, json.dumps({"title": title, "made": made}, indent=2))


def demo_runs(root: Path | None = None) -> list[DemoRun]:
    """The finished demo runs under ``root`` (default :func:`demo_root`), by title. A folder without a readable
    ``demo.json``, ``run.json`` or checkpoint (a demo still training, or something else) is not one."""
    root = demo_root() if root is None else Path(root)
    found = []
    for folder in root.iterdir() if root.is_dir() else []:
        try:
            info = json.loads((folder / DEMO_JSON).read_text(encoding="utf-8"))
            demo = DemoRun(folder, str(info["title"]), str(info["made"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if (folder / RUN_JSON).is_file() and (folder / CHECKPOINT).is_file():
            found.append(demo)
    return sorted(found, key=lambda demo: demo.title)
