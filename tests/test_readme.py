"""The README stays true: every ``segsuite ...`` command it shows runs, in order, in a fresh
folder (the launch, ``napari-segsuite``, is test_first_hour.py's; the test command is CI's)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_commands():
    """The README's shell lines that start with ``segsuite`` (indented code), in order."""
    return [line.strip() for line in README.read_text().splitlines()
            if re.match(r"^\s{4,}segsuite\s", line)]


def test_readme_shows_segsuite_commands():
    cmds = readme_commands()
    assert any(c.startswith("segsuite growcut") for c in cmds), cmds


def test_every_segsuite_command_in_the_readme_runs(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for cmd in readme_commands():
        argv = shlex.split(cmd, comments=True)[1:]
        r = cli(*argv, "--quiet") if argv[0] != "metrics" else cli(*argv)
        assert r.code == 0, (cmd, r)
        if argv[0] == "metrics":  # the GrowCut result is a sensible segmentation
            assert "dice" in r.out
