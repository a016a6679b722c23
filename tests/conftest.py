"""Test setup: Qt offscreen, and run folders and caches in a temporary directory."""
from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as main.py sets it for the app
_scratch = Path(tempfile.mkdtemp(prefix="pretext-tests-"))
os.environ.setdefault("PRETEXT_CACHE", str(_scratch / "cache"))
os.environ.setdefault("PRETEXT_RUNS", str(_scratch / "runs"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
