"""The window's first frame needs no PyTorch: the GUI modules import the engine only after it has loaded."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_opening_the_window_does_not_import_torch():
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
            "from gui.app import open_window\n"
            "app, window = open_window([])\n"
            "light = ('engine', 'engine.config', 'engine.errors')\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'engine') and m not in light))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
