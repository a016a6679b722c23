"""The engine runs headless: it must never import Qt (checked on the import graph and in a fresh process)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QT_MODULES = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "shiboken6", "gui")


def test_engine_imports_no_qt_module():
    imports = ("engine.run, engine.cli, engine.data, engine.methods, engine.nets, engine.eval.protocol, engine.follow, "
               "engine.launch")
    code = (f"import sys, {imports}\nfrom engine.data import dataset_sources; dataset_sources()\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {QT_MODULES!r}]\n"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_linter_contract_holds():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_code_passes_the_linter():
    """ruff with the configuration in pyproject.toml (line length 120, pyflakes, pycodestyle, isort, bugbear)."""
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
