"""Before the window opens on Linux: missing xcb libraries or no display are named in one sentence (exit code 2)
instead of Qt's abort."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gui.app
from gui.app import XCB_LIBRARIES, platform_problem

DESKTOP = {"DISPLAY": ":0"}


def test_a_missing_library_is_named_by_its_package_with_the_headless_alternative(monkeypatch):
    monkeypatch.setattr(gui.app, "library_loads", lambda soname: soname not in ("libxcb-cursor.so.0", "libEGL.so.1"))
    problem = platform_problem(DESKTOP, "linux")
    assert "apt-get install libxcb-cursor0 libegl1 (" in problem and "python main.py train" in problem
    assert problem.count(". ") == 0 and problem.endswith(".")  # one sentence


def test_the_check_runs_only_where_qt_would_use_xcb(monkeypatch):
    monkeypatch.setattr(gui.app, "library_loads", lambda soname: False)
    assert platform_problem(DESKTOP, "linux") is not None
    assert platform_problem({**DESKTOP, "QT_QPA_PLATFORM": "xcb"}, "linux") is not None
    assert platform_problem({**DESKTOP, "QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert platform_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert platform_problem(DESKTOP, "darwin") is None and platform_problem(DESKTOP, "win32") is None
    monkeypatch.setattr(gui.app, "library_loads", lambda soname: True)
    assert platform_problem(DESKTOP, "linux") is None
    assert "DISPLAY is not set" in platform_problem({}, "linux")


def test_main_prints_the_sentence_and_exits_2_without_opening_the_window(monkeypatch, capsys):
    monkeypatch.setattr(gui.app, "platform_problem", lambda: "The window needs x; y.")
    monkeypatch.setattr(gui.app, "open_window", lambda argv: pytest.fail("the window was opened"))
    assert gui.app.main([]) == 2
    assert capsys.readouterr().err == "The window needs x; y.\n"


@pytest.mark.skipif(sys.platform != "linux", reason="the xcb check is Linux's")
def test_main_py_without_a_display_says_so_in_one_line():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    done = subprocess.run([sys.executable, "main.py"], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("The window needs") and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.skipif(sys.platform != "linux" or shutil.which("readelf") is None, reason="reads Linux ELF files")
def test_the_table_lists_every_system_library_the_xcb_plugin_needs():
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    files = [qt / "plugins/platforms/libqxcb.so", *(qt / "lib" / f"libQt6{m}.so.6" for m in ("XcbQpa", "Gui", "DBus"))]
    needed = set()
    for path in files:
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True, check=True).stdout
        needed |= {line.split("[")[1].split("]")[0] for line in dynamic.splitlines() if "(NEEDED)" in line}
    runtime = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libglib-2.0.so.0",
               "libgthread-2.0.so.0"}
    system = {name for name in needed if not name.startswith("libQt6")} - runtime
    assert system == set(XCB_LIBRARIES)


def test_the_readme_launch_command_installs_every_package_in_the_table():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    launch = next(line for line in readme.splitlines() if line.endswith(".venv/bin/python main.py"))
    packages = launch.split("apt-get install -y ")[1].split(" || true")[0].split()
    assert sorted(packages) == sorted(XCB_LIBRARIES.values())
