"""``python -m pytest tests/core`` runs without importing Qt or napari (the core's promise)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CORE_TESTS = Path(__file__).resolve().parent
ROOT = CORE_TESTS.parents[1]
GUI = ("napari", "qtpy", "PyQt5", "PyQt6", "PySide2", "PySide6", "vispy", "pytestqt")

PROBE = f"""
import sys, pytest
sys.argv = ["pytest", {str(CORE_TESTS)!r}, "--collect-only", "-q", "-p", "no:cacheprovider"]
rc = pytest.main(sys.argv[1:])
print("GUI-MODULES", sorted({{m.split('.')[0] for m in sys.modules}} & set({GUI!r})))
sys.exit(int(rc))
"""


def test_collecting_the_core_tests_imports_no_qt_and_no_napari():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("GUI-MODULES")][-1]
    assert line == "GUI-MODULES []", line


def test_no_core_test_asks_for_qt_fixtures():
    for path in sorted(p for p in CORE_TESTS.glob("*.py") if p.name != Path(__file__).name):
        text = path.read_text()
        for word in ("qtbot", "make_napari_viewer", "import napari\n", "from napari ", "qtpy"):
            assert word not in text, f"{path.name} uses {word.strip()}: it belongs in tests/widgets"
