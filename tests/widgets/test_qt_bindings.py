"""The launcher on both Qt bindings, each in a fresh process: PyQt6 (the README's, and the
launcher's choice when both are installed: no deprecation toast) and PyQt5 (still supported; the
rest of the suite runs on it)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import napari_segsuite

SCRIPT = r"""
import json, os, sys
from napari_segsuite import _launch
rc = _launch.main(["--screenshot", sys.argv[1]])
import qtpy
from napari.utils.notifications import notification_manager
notes = [str(n.message) for n in notification_manager.records]
print(json.dumps({"rc": rc, "api": qtpy.API_NAME, "notes": notes}))
"""


def _launch(tmp_path, qt_api):
    root = str(Path(napari_segsuite.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    env.pop("QT_API", None)
    if qt_api:
        env["QT_API"] = qt_api
    png = tmp_path / "shot.png"
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(png)], capture_output=True,
                          text=True, env=env, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["rc"] == 0 and png.stat().st_size > 10_000
    return out


def _need(module):
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (the testing extra installs it)")


def test_launch_on_pyqt6_by_default_without_a_deprecation_toast(tmp_path):
    _need("PyQt6")
    out = _launch(tmp_path, None)
    assert out["api"] == "PyQt6", out
    assert not any("deprecated" in n for n in out["notes"]), out


def test_launch_on_pyqt5_still_works(tmp_path):
    _need("PyQt5")
    out = _launch(tmp_path, "pyqt5")
    assert out["api"] == "PyQt5", out
