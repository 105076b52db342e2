"""Shared fixtures.

- ``sync_jobs``: run every JobPanel job in the test's thread (deterministic widget tests).
- ``rng``: a seeded numpy Generator.
- ``cli``: run ``segsuite`` in-process and capture (exit status, stdout, stderr).

The tests mirror the package: ``tests/core`` (algorithms, metrics: no Qt, no napari),
``tests/io``, ``tests/cli``, ``tests/widgets`` (napari + Qt), ``tests/samples``.
``python -m pytest tests/core`` imports neither Qt nor napari: the two pytest plugins that would
(pytest-qt and napari's fixtures) are switched off in pyproject.toml (``-p no:...``) and loaded
here unless every path given on the command line lies under ``tests/core``
(tests/core/test_qt_free.py checks it).
"""

from __future__ import annotations

import io
import os
import sys
from contextlib import redirect_stderr, redirect_stdout

from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("QT_API", "pyqt5")

_CORE = Path(__file__).resolve().parent / "core"


def _qt_free_run(argv) -> bool:
    """True when every path named on the pytest command line lies under tests/core."""
    paths = [a.split("::")[0] for a in argv[1:] if not a.startswith("-")]
    paths = [Path(p).resolve() for p in paths if Path(p).exists()]
    return bool(paths) and all(p == _CORE or _CORE in p.parents for p in paths)


QT_FREE = _qt_free_run(sys.argv)
pytest_plugins = [] if QT_FREE else ["pytestqt.plugin", "napari.utils._testsupport"]


#: the tests that take a minute or more on the 2-core VM (``--durations``, 2026-12-02): run first,
#: so that with ``-n auto`` no worker starts one of them when the others are nearly done.
LONG_FIRST = (
    "tests/widgets/test_click_everything.py::",
    "tests/cli/test_cli_batch.py::test_batch_on_a_local_cluster_equals_the_single_commands",
    "tests/core/test_qt_free.py::",
    "tests/widgets/test_qt_bindings.py::",
    "tests/core/test_numba_cache.py::",
    "tests/cli/test_cli_cluster.py::test_each_method_keeps_geometry",
)


def pytest_collection_modifyitems(config, items):
    """Long tests first (a stable sort: every xdist worker collects the same order)."""
    def rank(item):
        return next((i for i, p in enumerate(LONG_FIRST) if item.nodeid.startswith(p)),
                    len(LONG_FIRST))
    items.sort(key=rank)


def pytest_addoption(parser):
    if QT_FREE:  # pytest-qt's ini key, set in pyproject.toml, unknown without the plugin
        parser.addini("qt_api", "Qt binding (pytest-qt; not loaded for tests/core)")


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
