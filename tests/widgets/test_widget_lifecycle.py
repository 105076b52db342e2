"""Widgets that are closed, removed from their dock or whose viewer closes while a job runs, and
layers on different grids: a one-line notification or nothing, never an exception into Qt."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from napari_segsuite.core.base.progress import Progress


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
    from napari_segsuite.widgets.cluster import ClusteringWidget
    from napari_segsuite.widgets.metrics import CompareWidget
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


# -- layers on another grid --------------------------------------------------------------------------
def test_growcut_seeds_on_another_grid_are_a_notification(make_napari_viewer, sync_jobs, shown):
    from napari_segsuite.widgets.growcut import GrowCutWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((6, 8)).astype(np.float32), name="a",
                     scale=(2.0, 1.0), translate=(5.0, 5.0))
    viewer.add_labels(_two_labels((6, 8)), name="seeds")  # same shape, scale 1, origin 0
    w = GrowCutWidget(viewer)
    assert w.seeds.layer() is viewer.layers["seeds"]
    w.run()
    assert len(viewer.layers) == 2 and w.result_layer is None
    assert len(shown) == 1 and "seeds" in shown[0][1] and "scale" in shown[0][1]
    assert "\n" not in shown[0][1]


def test_watershed_markers_and_mask_on_another_grid(make_napari_viewer, sync_jobs, shown):
    from napari_segsuite.widgets.watershed import WatershedWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((6, 8)).astype(np.float32), name="a",
                     scale=(2.0, 1.0))
    viewer.add_labels(_two_labels((6, 8)), name="markers", scale=(2.0, 1.0),
                      translate=(3.0, 0.0))
    w = WatershedWidget(viewer)
    assert w.markers.layer() is viewer.layers["markers"]
    w.flood()
    assert len(viewer.layers) == 2 and len(shown) == 1 and "translate" in shown[0][1]
    viewer.layers["markers"].translate = (0.0, 0.0)
    viewer.add_labels(np.ones((6, 8), np.uint8), name="mask", scale=(1.0, 1.0))
    w.mask.set_layer(viewer.layers["mask"])
    w.flood()
    assert len(viewer.layers) == 3 and len(shown) == 2 and "mask" in shown[1][1]


def test_clustering_channels_and_mask_on_another_grid(make_napari_viewer, sync_jobs, shown):
    from napari_segsuite.widgets.cluster import ClusteringWidget

    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    a = viewer.add_image(rng.random((6, 8)).astype(np.float32), name="a", scale=(2.0, 1.0))
    b = viewer.add_image(rng.random((6, 8)).astype(np.float32), name="b")
    w = ClusteringWidget(viewer)
    w.images.set_layers([a, b])
    w.run()
    assert len(viewer.layers) == 2 and len(shown) == 1 and "scale" in shown[0][1]
    w.images.set_layers([a])
    m = viewer.add_labels(np.ones((6, 8), np.uint8), name="brain", scale=(2.0, 1.0),
                          translate=(0.0, 4.0))
    w.mask.set_layer(m)
    w.run()
    assert len(viewer.layers) == 3 and len(shown) == 2 and "brain" in shown[1][1]


def test_compare_layers_on_another_grid(make_napari_viewer, sync_jobs, shown):
    from napari_segsuite.widgets.metrics import CompareWidget

    viewer = make_napari_viewer()
    pred = viewer.add_labels(_two_labels((6, 8)), name="pred", scale=(2.0, 1.0))
    gt = viewer.add_labels(_two_labels((6, 8)), name="gt")
    w = CompareWidget(viewer)
    w.pred_picker.set_layer(pred)
    w.gt_picker.set_layer(gt)
    w.compute()
    assert w.result is None and len(shown) == 1 and "scale" in shown[0][1]
    w.show_overlay()
    assert len(viewer.layers) == 2 and len(shown) == 2


def test_train_labels_on_another_grid(make_napari_viewer, sync_jobs, shown):
    from napari_segsuite.widgets.train import TrainWidget

    viewer = make_napari_viewer()
    viewer.add_image(np.random.default_rng(0).random((6, 8)).astype(np.float32), name="a",
                     scale=(0.5, 0.5))
    viewer.add_labels(_two_labels((6, 8)), name="lab")
    w = TrainWidget(viewer)
    w.train()
    assert w.panel.last_outcome is None and len(shown) == 1 and "lab" in shown[0][1]
