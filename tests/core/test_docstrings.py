"""Every docstring example of the core and io runs (numpydoc "Examples" sections are tests).

Each module of ``napari_segsuite.core`` and ``napari_segsuite.io`` is imported and its examples
run with :mod:`doctest`; a module that needs an optional package which is not installed (the
Triton kernels without ``triton``) is skipped. Keep examples small: this runs in the default
suite.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import napari_segsuite.core
import napari_segsuite.io

OPTIONAL = {"triton"}  # packages some kernel modules need at import; skip them when absent
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules():
    names = []
    for pkg in (napari_segsuite.core, napari_segsuite.io):
        names.append(pkg.__name__)
        names += [m.name for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]
    return sorted(names)


MODULES = _modules()


def test_every_core_and_io_module_is_collected():
    assert "napari_segsuite.core.base.params" in MODULES
    assert "napari_segsuite.io" in MODULES and len(MODULES) > 20


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, capsys):
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name in OPTIONAL:
            pytest.skip(f"{name} needs {exc.name}")
        raise
    result = doctest.testmod(module, optionflags=FLAGS, report=False)
    report = capsys.readouterr().out
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed:\n{report}"
