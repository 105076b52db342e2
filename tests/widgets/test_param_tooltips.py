"""Every default of every job is documented (issue 19, item 6): each field of each job's
parameter dataclass has a help text, and the widgets' tooltips show that text with the default,
exactly as ``segsuite --help`` does (one place for both: ``core/<method>/pipeline.py``)."""

from __future__ import annotations

import dataclasses
import importlib
import inspect

import pytest
import yaml

from napari_segsuite.core.base.params import describe

METHODS = ("cluster", "correct", "dl", "growcut", "indices", "metrics", "watershed")


def _params_classes():
    out = []
    for method in METHODS:
        mod = importlib.import_module(f"napari_segsuite.core.{method}.pipeline")
        for _, cls in inspect.getmembers(mod, inspect.isclass):
            if (dataclasses.is_dataclass(cls) and cls.__module__ == mod.__name__
                    and describe(cls)):
                out.append(cls)
    return out


def _widget_classes():
    from pathlib import Path

    import napari_segsuite

    manifest = yaml.safe_load((Path(napari_segsuite.__file__).parent / "napari.yaml").read_text())
    out = []
    for c in manifest["contributions"]["commands"]:
        mod, _, name = c["python_name"].partition(":")
        if mod.startswith("napari_segsuite.widgets."):
            out.append(getattr(importlib.import_module(mod), name))
    return out


def test_every_parameter_of_every_job_has_a_help_text():
    classes = _params_classes()
    names = {c.__name__ for c in classes}
    assert {"ClusterParams", "WatershedParams", "GrowCutParams", "CorrectParams",
            "MetricsParams", "PredictParams", "TrainParams", "IndexParams"} <= names
    for cls in classes:
        for i in describe(cls):
            assert i.help.strip(), f"{cls.__name__}.{i.name} has no help text"


@pytest.mark.parametrize("cls", _params_classes(), ids=lambda c: c.__name__)
def test_the_tooltip_of_every_field_shows_its_help_and_default(qtbot, cls):
    from napari_segsuite.widgets._params import ParamForm

    form = ParamForm(cls, settings_key="tooltips")
    qtbot.addWidget(form)
    for i in describe(cls):
        # a widget_default (an amount the command line leaves unset) is where the control starts
        d = i.default if i.widget_default is None else i.widget_default
        shown = (i.none_text if d is None else ("on" if d else "off") if isinstance(d, bool)
                 else ", ".join(map(str, d)) or "none" if isinstance(d, tuple) else str(d))
        tip = form.control(i.name).toolTip()
        assert tip.startswith(i.help) and tip.endswith(f"(default: {shown})"), (i.name, tip)
        assert form.control(i.name).whatsThis() == tip


def test_every_dock_widget_form_has_default_tooltips(make_napari_viewer):
    from napari_segsuite.widgets._params import ParamForm

    viewer = make_napari_viewer()
    widgets = _widget_classes()
    assert len(widgets) >= 8
    seen = 0
    for cls in widgets:
        w = cls(viewer)
        for form in w.findChildren(ParamForm):
            for name in form.names:
                tip = form.control(name).toolTip()
                info = form._info[name]
                assert info.help and tip.startswith(info.help) and "(default: " in tip, (
                    cls.__name__, name, tip)
                seen += 1
    assert seen >= 40
