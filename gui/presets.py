"""Lecture presets: the whole setup in a small JSON file, so a slide can link to an exact demo.

    {"format": "pretext-preset", "version": 1, "title": "SimCLR on shapes",
     "run": {"dataset": "shapes", "method": "simclr", "augment": {"hue": 0.3}, "minutes": 3.0},
     "view": {"setup": true, "preview": true, "presenter": false, "light": false}}

``run`` is what ``RunConfig.with_method_defaults`` reads: the settings that differ from the defaults (the
method's, then the fields'). ``view`` says which panels show and how the window looks.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "pretext-preset"
VERSION = 1
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "presets"


class PresetError(ValueError):
    """The file is not a readable preset; the message says why."""


@dataclass
class View:
    setup: bool = True  # the setup panel
    preview: bool = True  # the preview panel
    presenter: bool = False  # large fonts, thick lines
    light: bool = False  # light plots


@dataclass
class Preset:
    run: dict[str, Any]
    view: View = field(default_factory=View)
    title: str = ""


def load_preset(path: Path) -> Preset:
    """Parse a preset file; the run settings are checked when the window applies them."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise PresetError(f"cannot read the preset {path}: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise PresetError(f"{path} is not a Pretext preset (no \"format\": \"{FORMAT}\")")
    if data.get("version", 0) > VERSION:
        raise PresetError(f"{path} was written by a newer Pretext (preset version {data['version']})")
    run, view = data.get("run", {}), data.get("view", {})
    if not isinstance(run, dict) or not isinstance(view, dict):
        raise PresetError(f"{path}: \"run\" and \"view\" must be JSON objects")
    try:
        return Preset(run, View(**view), str(data.get("title", "")))
    except TypeError as e:
        raise PresetError(f"{path}: unknown view setting ({e})") from None


def save_preset(path: Path, preset: Preset) -> None:
    data = {"format": FORMAT, "version": VERSION, "title": preset.title, "run": preset.run,
            "view": asdict(preset.view)}
    Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
