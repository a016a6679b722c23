"""Pretext: ``python main.py`` opens the window; ``python main.py train|eval|attention|track ...`` runs headless."""
from __future__ import annotations

import os
import sys

# OpenMP threads that spin while waiting steal the CPU from the window and from other processes on a
# small laptop; sleeping waiters keep the app responsive (must be set before torch loads OpenMP).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("train", "eval", "attention", "track"):
        from engine.cli import main as cli_main

        return cli_main(argv)
    if sys.platform == "win32":
        import torch  # noqa: F401  (before PySide6: the other order clashes over DLLs on Windows)
    from gui.app import main as gui_main

    return gui_main(argv)


if __name__ == "__main__":
    sys.exit(main())
