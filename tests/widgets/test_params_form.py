"""widgets._params.ParamForm: controls built from a job's parameter declarations, remembered
between sessions, advanced options folded away, reset to defaults."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QLabel, QLineEdit, QSpinBox)

import napari_segsuite
from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.params import param
from napari_segsuite.widgets._params import ParamForm, settings


@dataclass(frozen=True)
class Job:
    k: int = param(3, "number of classes", minimum=2, maximum=20)
    sigma: float = param(1.5, "Gaussian sigma, physical units", minimum=0.0, maximum=10.0,
                         step=0.05)
    min_distance: Optional[int] = param(None, "peak distance in voxels", minimum=1, maximum=100)
    threshold: Optional[float] = param(None, "intensity threshold", minimum=0.0, maximum=1.0,
                                       step=0.01, none_text="Otsu")
    level: Optional[float] = param(None, "a level of either sign")
    method: str = param("otsu", "how to threshold", choices=("otsu", "li", "yen"))
    connectivity: int = param(1, "neighbourhood", choices=(1, 2, 3), advanced=True)
    spacing: Tuple[float, ...] = param((1.0, 1.0), "voxel size", advanced=True)
    fast: bool = param(False, "go fast", advanced=True, label="Fast path")


def _form(qtbot, names=None, key="test"):
    form = ParamForm(Job, names, settings_key=key)
    qtbot.addWidget(form)
    return form


def _retype(qtbot, widget, text):
    """Select the control's text and type ``text`` as a user would."""
    line = widget if isinstance(widget, QLineEdit) else widget.lineEdit()
    widget.setFocus()
    line.selectAll()
    qtbot.keyClicks(line, text)


def test_one_labelled_control_per_declared_field_with_help_and_limits(qtbot):
    form = _form(qtbot)
    kinds = {"k": QSpinBox, "sigma": QDoubleSpinBox, "min_distance": QSpinBox,
             "threshold": QDoubleSpinBox, "level": QDoubleSpinBox, "method": QComboBox, "connectivity": QComboBox,
             "spacing": QLineEdit, "fast": QCheckBox}
    assert form.names == tuple(kinds)
    for name, kind in kinds.items():
        w = form.control(name)
        assert isinstance(w, kind) and w.objectName() == name
        assert w.toolTip() == w.whatsThis() and w.toolTip()
        assert form.findChild(kind, name) is w
    assert form.control("k").minimum() == 2 and form.control("k").maximum() == 20
    sigma = form.control("sigma")
    assert (sigma.minimum(), sigma.maximum(), sigma.singleStep()) == (0.0, 10.0, 0.05)
    assert sigma.decimals() == 2 and sigma.value() == 1.5
    assert form.control("sigma").toolTip() == "Gaussian sigma, physical units (default: 1.5)"
    assert [form.control("method").itemText(i) for i in range(3)] == ["otsu", "li", "yen"]
    labels = {lab.text() for lab in form.findChildren(QLabel)}
    assert {"K", "Sigma", "Min distance", "Threshold", "Fast path"} <= labels
    assert form.params() == Job()


def test_names_choose_and_order_a_subset(qtbot):
    form = _form(qtbot, ["method", "k"])
    assert form.names == ("method", "k")
    with pytest.raises(KeyError, match="sigma"):
        form.control("sigma")
    assert form.params(sigma=2.0) == Job(sigma=2.0)
    with pytest.raises(KeyError, match="'nope'"):
        ParamForm(Job, ["nope"], settings_key="test")


def test_typing_and_choosing_as_a_user_gives_the_params(qtbot):
    form = _form(qtbot)
    form.show()
    qtbot.waitExposed(form)
    seen = []
    form.changed.connect(seen.append)
    _retype(qtbot, form.control("k"), "7")
    _retype(qtbot, form.control("sigma"), "2.25")
    form.control("method").setCurrentIndex(2)
    qtbot.mouseClick(form.advanced_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(form.control("fast"), Qt.MouseButton.LeftButton)
    _retype(qtbot, form.control("spacing"), "0.5, 0.25, 2")
    p = form.params()
    assert p == Job(k=7, sigma=2.25, method="yen", fast=True, spacing=(0.5, 0.25, 2.0))
    assert {"k", "sigma", "method", "fast", "spacing"} <= set(seen)
    assert form.params(k=4).k == 4


def test_none_is_the_special_auto_value_of_a_spin_box(qtbot):
    form = _form(qtbot)
    md, th = form.control("min_distance"), form.control("threshold")
    assert md.text() == "auto" and th.text() == "Otsu"
    assert form.params().min_distance is None and form.params().threshold is None
    md.stepUp()  # one step up from "auto": the declared minimum
    th.stepUp()
    assert form.params().min_distance == 1 and form.params().threshold == 0.0
    _retype(qtbot, md, "12")
    assert form.params().min_distance == 12
    md.stepDown()
    form.set_value("min_distance", None)
    assert md.text() == "auto" and form.params().min_distance is None
    form.set_value("threshold", 0.35)
    assert form.params().threshold == 0.35
    # no declared minimum: one step up from "auto" is 0, not next to the hidden sentinel
    level = form.control("level")
    assert level.text() == "auto"
    level.setFocus()
    qtbot.keyClick(level, Qt.Key.Key_Up)
    assert form.params().level == 0.0
    qtbot.keyClick(level, Qt.Key.Key_Down)
    qtbot.keyClick(level, Qt.Key.Key_Down)
    assert form.params().level == -0.2


def test_advanced_options_are_folded_until_the_toggle_is_clicked(qtbot):
    form = _form(qtbot)
    form.show()
    qtbot.waitExposed(form)
    assert form.control("k").isVisible()
    assert not form.control("connectivity").isVisible() and not form.control("fast").isVisible()
    qtbot.mouseClick(form.advanced_button, Qt.MouseButton.LeftButton)
    assert form.control("connectivity").isVisible() and form.control("fast").isVisible()
    qtbot.mouseClick(form.advanced_button, Qt.MouseButton.LeftButton)
    assert not form.control("connectivity").isVisible()
    # a form without advanced fields shows no toggle
    plain = _form(qtbot, ["k", "sigma"])
    plain.show()
    qtbot.waitExposed(plain)
    assert not plain.advanced_button.isVisible()


def test_values_are_remembered_by_the_next_form_with_the_same_key(qtbot):
    form = _form(qtbot)
    _retype(qtbot, form.control("k"), "9")
    form.control("method").setCurrentIndex(1)
    form.set_value("min_distance", 5)
    form.set_value("spacing", (2.0, 0.5, 0.5))
    form.control("fast").setChecked(True)
    again = _form(qtbot)
    assert again.params() == Job(k=9, method="li", min_distance=5, spacing=(2.0, 0.5, 0.5),
                                 fast=True)
    assert _form(qtbot, key="other").params() == Job()
    # a value set back to None (auto) is remembered as None too
    form.set_value("min_distance", None)
    assert _form(qtbot).params().min_distance is None


def test_remembered_settings_go_to_the_isolated_ini_file(qtbot, _isolated_settings):
    form = _form(qtbot, key="where")
    form.set_value("k", 5)
    path = Path(settings().fileName())
    assert Path(_isolated_settings) in path.parents and path.exists()
    assert "where" in path.read_text()
    # a subprocess started by a test (fresh viewers, the launcher) is isolated too
    code = "from napari_segsuite.widgets._params import settings; print(settings().fileName())"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(napari_segsuite.__file__).resolve().parents[1])] +
        [p for p in [os.environ.get("PYTHONPATH")] if p]))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120, check=True).stdout.strip()
    assert Path(out) == path


def test_reset_button_restores_the_defaults_and_forgets(qtbot):
    form = _form(qtbot)
    form.set_params(Job(k=11, sigma=3.0, min_distance=4, method="li", fast=True))
    assert form.params().k == 11
    seen = []
    form.changed.connect(seen.append)
    qtbot.mouseClick(form.reset_button, Qt.MouseButton.LeftButton)
    assert form.params() == Job()
    assert set(seen) == {"k", "sigma", "min_distance", "method", "fast"}
    assert _form(qtbot).params() == Job()
    assert not [k for k in settings().allKeys() if k.startswith("test/")]


def test_a_stored_value_that_no_longer_fits_falls_back_to_the_default(qtbot, caplog):
    form = _form(qtbot)
    form.set_value("sigma", 4.0)
    store = settings()
    store.setValue("test/k", "{not json")  # corrupt
    store.setValue("test/method", '"triangle"')  # a choice that was removed
    store.setValue("test/min_distance", "500")  # above the new maximum
    store.setValue("test/fast", "3")  # wrong type
    store.sync()
    with caplog.at_level(logging.WARNING, logger="napari_segsuite.widgets._params"):
        again = _form(qtbot)
    assert again.params() == Job(sigma=4.0)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 4 and all("using the default" in m for m in lines)
    assert any("test/method" in m for m in lines)


def test_set_value_refuses_what_does_not_fit(qtbot):
    form = _form(qtbot)
    with pytest.raises(ValueError):
        form.set_value("method", "triangle")
    with pytest.raises(ValueError):
        form.set_value("k", 50)
    with pytest.raises(ValueError):
        form.set_value("k", None)
    with pytest.raises(ValueError):
        form.set_value("fast", 1)
    assert form.params() == Job()


def test_unreadable_text_is_a_one_line_input_error(qtbot):
    form = _form(qtbot)
    _retype(qtbot, form.control("spacing"), "1, x")
    with pytest.raises(InputError, match=r"^Spacing: cannot read '1, x'"):
        form.params()
    # and it is not remembered
    assert _form(qtbot).params().spacing == (1.0, 1.0)


def test_set_visible_hides_label_and_control(qtbot):
    form = _form(qtbot)
    form.show()
    qtbot.waitExposed(form)
    label = [lab for lab in form.findChildren(QLabel) if lab.buddy() is form.control("sigma")]
    form.set_visible("sigma", False)
    assert not form.control("sigma").isVisible() and not label[0].isVisible()
    form.set_visible("sigma", True)
    assert form.control("sigma").isVisible() and label[0].isVisible()
    for name in ("connectivity", "spacing", "fast"):  # every advanced field hidden: no toggle
        form.set_visible(name, False)
    assert not form.advanced_button.isVisible()


def test_form_docks_in_napari(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    form = ParamForm(Job, settings_key="dock")
    viewer.window.add_dock_widget(form, name="Params")
    form.set_value("k", 6)
    assert form.params().k == 6
