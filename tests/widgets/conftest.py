"""Fixtures for the widget tests (napari + Qt).

``_isolated_settings`` (autouse): every widget test reads and writes the widgets' remembered
values (``widgets._params.settings()``, QSettings in INI format) in its own temporary folder,
never the user's real settings, and starts from the declared defaults.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _isolated_settings(tmp_path_factory):
    from qtpy.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qsettings"))
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, folder)
    yield folder
