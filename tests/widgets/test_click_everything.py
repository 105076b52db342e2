"""Every sample, every widget, every button: clicked in turn in a fresh viewer (issue 11).

Each sample runs in its own Python process (``_click_everything.py``), so that a crash or abort
(an exception in a Qt slot can abort PyQt) fails this test instead of killing the suite.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import napari_segsuite
from napari_segsuite.samples import SAMPLES

HERE = Path(__file__).resolve().parent


#: the sample clicked through in the default run (2D: about 2.5 CPU-minutes); the others are
#: marked slow (deselected by default): ``python -m pytest -m slow tests/widgets/test_click_everything.py``
DEFAULT_SAMPLE = "nuclei"


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("sample", [s if s == DEFAULT_SAMPLE else pytest.param(
    s, marks=pytest.mark.slow) for s in SAMPLES])
def test_click_every_button_of_every_widget(sample):
    root = str(Path(napari_segsuite.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    proc = subprocess.run([sys.executable, str(HERE / "_click_everything.py"), sample],
                          capture_output=True, text=True, env=env, timeout=1700)
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-4000:]}"
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not out["problems"], "\n".join(out["problems"])
    assert len(out["clicked"]) >= 10, out  # the buttons really were there and clicked
