"""Fixtures for the widget tests (napari + Qt).

``_isolated_settings`` (autouse): every widget test reads and writes the widgets' remembered
values (``widgets._params.settings()``, QSettings in INI format) in its own temporary folder,
never the user's real settings, and starts from the declared defaults. ``XDG_CONFIG_HOME``
points there too, so the subprocesses some tests start (a fresh viewer per sample, the launcher)
are isolated the same way.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory, monkeypatch):
    from qtpy.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qsettings"))
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, folder)
    monkeypatch.setenv("XDG_CONFIG_HOME", folder)
    yield folder
