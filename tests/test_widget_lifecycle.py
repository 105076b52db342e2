"""Widgets that are closed, removed from their dock or whose viewer closes while a job runs, and
layers on different grids: a one-line notification or nothing, never an exception into Qt."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_segsuite.core.progress import Progress


@pytest.fixture
def shown(monkeypatch):
    """Every napari notification shown, as (kind, message)."""
    import napari.utils.notifications as notifications

    out = []
    for kind in ("show_error", "show_warning", "show_info"):
        monkeypatch.setattr(notifications, kind, lambda msg, kind=kind: out.append((kind, msg)))
    return out


def _two_labels(shape):
    seeds = np.zeros(shape, np.uint16)
    seeds[..., 1] = 1
    seeds[..., -2] = 2
    return seeds


def _widget_classes():
    from napari_segsuite.widgets.clustering import ClusteringWidget
    from napari_segsuite.widgets.compare import CompareWidget
    from napari_segsuite.widgets.growcut import GrowCutWidget
    from napari_segsuite.widgets.predict import PredictWidget
    from napari_segsuite.widgets.train import TrainWidget
    from napari_segsuite.widgets.watershed import WatershedWidget

    return [GrowCutWidget, WatershedWidget, ClusteringWidget, CompareWidget, PredictWidget,
            TrainWidget]


# -- a widget that is gone must stop reacting to the viewer -----------------------------------------
@pytest.mark.parametrize("how", ["close", "remove_dock", "delete"])
def test_growcut_gone_then_an_image_is_added(make_napari_viewer, sync_jobs, qtbot, how):
    """Regression: GrowCut stayed connected to viewer.layers.events.inserted after it was closed
    or taken out of its dock, and went on adding 'seeds' layers for every new image."""
    from napari_segsuite.widgets.growcut import GrowCutWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((6, 8), np.float32), name="a")
    w = GrowCutWidget(viewer)
    dock = viewer.window.add_dock_widget(w)
    assert [lay.name for lay in viewer.layers] == ["a", "seeds"]
    if how == "close":
        w.close()
    elif how == "remove_dock":
        viewer.window.remove_dock_widget(dock)
    else:
        viewer.window.remove_dock_widget(dock)
        w.deleteLater()
    qtbot.wait(10)  # deleteLater runs in the event loop
    viewer.layers.clear()
    viewer.add_image(np.zeros((6, 8), np.float32), name="b")
    assert [lay.name for lay in viewer.layers] == ["b"]


@pytest.mark.parametrize("cls", _widget_classes(), ids=lambda c: c.__name__)
def test_removed_widgets_disconnect_from_the_viewer(make_napari_viewer, sync_jobs, qtbot, cls):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((6, 8), np.float32), name="a")
    viewer.add_labels(np.zeros((6, 8), np.uint8), name="lab")
    ev = viewer.layers.events
    before = {name: len(getattr(ev, name).callbacks)
              for name in ("inserted", "removed", "moved", "reordered")}
    w = cls(viewer)
    dock = viewer.window.add_dock_widget(w)
    viewer.window.remove_dock_widget(dock)
    qtbot.wait(10)
    after = {name: len(getattr(ev, name).callbacks) for name in before}
    assert after == before
    viewer.add_image(np.zeros((6, 8), np.float32), name="b")  # no error, nothing added
    assert [lay.name for lay in viewer.layers] == ["a", "lab", "b"]


def test_a_widget_closed_while_its_job_runs_cancels_it(make_napari_viewer, qtbot, monkeypatch):
    from napari_segsuite.widgets.growcut import PREVIEW_NAME, GrowCutWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((6, 8)).astype(np.float32), name="a")
    w = GrowCutWidget(viewer)
    dock = viewer.window.add_dock_widget(w)
    job_started = _slow_growcut(monkeypatch)
    w.seeds.layer().data = _two_labels((6, 8))
    with qtbot.waitSignal(w.panel.finished, timeout=10000) as blocker:
        w.run()
        qtbot.waitUntil(job_started.is_set, timeout=5000)
        viewer.window.remove_dock_widget(dock)
    assert blocker.args == ["cancelled"]
    assert [lay.name for lay in viewer.layers] == ["a", "seeds"]
    assert PREVIEW_NAME not in [lay.name for lay in viewer.layers]


def _slow_growcut(monkeypatch, gate: threading.Event = None):
    """Make GrowCut's job wait (yielding previews) until ``gate`` is set; return an Event set once
    it runs in the worker."""
    import napari_segsuite.core.growcut as G

    real = G.growcut_steps
    started = threading.Event()
    gate = gate or threading.Event()

    def slow(*args, **kwargs):
        job = real(*args, **kwargs)
        yield next(job)  # validation, in the GUI thread
        started.set()
        while not gate.wait(0.01):
            yield Progress(None, None, "waiting", preview=np.zeros((6, 8), np.int32))
        return (yield from job)

    monkeypatch.setattr(G, "growcut_steps", slow)
    return started


def test_viewer_closed_while_a_job_runs(make_napari_viewer, qtbot, monkeypatch):
    """Regression: closing the viewer deleted the dock's Qt objects; the worker's 'aborted' signal
    then reached a lambda that touched them (RuntimeError in the Qt event loop)."""
    from napari_segsuite.widgets.growcut import GrowCutWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((6, 8)).astype(np.float32), name="a")
    w = GrowCutWidget(viewer)
    viewer.window.add_dock_widget(w)
    gate = threading.Event()
    job_started = _slow_growcut(monkeypatch, gate)
    w.seeds.layer().data = _two_labels((6, 8))
    w.run()
    qtbot.waitUntil(job_started.is_set, timeout=5000)
    worker = w.panel.worker
    ended = []
    worker.finished.connect(lambda: ended.append(True))
    viewer.close()
    gate.set()
    qtbot.waitUntil(lambda: bool(ended), timeout=10000)
    qtbot.wait(50)  # let any queued signal reach its slot (pytest-qt fails on exceptions)
