"""Shared fixtures.

- ``sync_jobs``: run every JobPanel job in the test's thread (deterministic widget tests).
- ``rng``: a seeded numpy Generator.
- ``cli``: run ``segsuite`` in-process and capture (exit status, stdout, stderr).
"""

from __future__ import annotations

import io
import os
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

os.environ.setdefault("QT_API", "pyqt5")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def sync_jobs():
    from napari_segsuite.widgets._worker import set_synchronous

    set_synchronous(True)
    yield
    set_synchronous(False)


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:  # shows up in assertion messages
        return f"CliResult(code={self.code}, out={self.out[-500:]!r}, err={self.err[-500:]!r})"


@pytest.fixture
def cli():
    """``cli("growcut", "a.nii.gz", ...)`` -> CliResult(code, out, err), run in-process."""
    from napari_segsuite.cli import main

    def run(*argv: str) -> CliResult:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:  # argparse --help / usage errors
                code = exc.code if isinstance(exc.code, int) else 2
        return CliResult(code, out.getvalue(), err.getvalue())

    return run
