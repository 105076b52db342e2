"""The watershed dock widget: markers as an editable layer, flood as a new layer, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.widgets.watershed import WatershedWidget

SCALE = (0.5, 0.25)
TRANSLATE = (3.0, -2.0)


def _discs():
    yy, xx = np.mgrid[:60, :80]
    a = (yy - 30) ** 2 + (xx - 28) ** 2 < 13 ** 2
    b = (yy - 30) ** 2 + (xx - 50) ** 2 < 13 ** 2
    return a, b


@pytest.fixture
def setup(make_napari_viewer, sync_jobs):
    viewer = make_napari_viewer()
    a, b = _discs()
    rng = np.random.default_rng(0)
    img = ((a | b) * 100.0 + rng.normal(0, 2, a.shape)).astype(np.float32)
    layer = viewer.add_image(img, name="cells", scale=SCALE, translate=TRANSLATE)
    widget = WatershedWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget, layer, a, b


def _select(widget, key):
    widget.source.setCurrentIndex(widget.source.findData(key))


def test_docks_and_finds_markers_in_a_new_editable_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "distance")
    widget.min_distance.setValue(2.0)   # physical units (pixels are 0.5 x 0.25)
    widget.sigma.setValue(0.5)
    n = len(viewer.layers)
    widget.find_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    assert len(viewer.layers) == n + 1
    markers = viewer.layers[-1]
    assert markers.__class__.__name__ == "Labels" and markers is widget.markers_layer
    assert markers.data.max() == 2
    assert tuple(markers.scale) == SCALE and tuple(markers.translate) == TRANSLATE
    assert widget.markers.layer() is markers
    assert viewer.layers.selection.active is markers and markers.mode == "paint"
    assert layer.data.dtype == np.float32 and len(viewer.layers) == 2


def test_flood_uses_the_edited_markers_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "h-minima")
    widget.sigma.setValue(0.5)
    widget.find_button.click()
    markers = widget.markers_layer
    # the user replaces the automatic markers: one background stroke, one per disc
    edited = np.zeros_like(markers.data)
    edited[0:3, :] = 7
    edited[30, 28] = 3
    edited[30, 50] = 4
    markers.data = edited
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = viewer.layers[-1]
    assert result is widget.result_layer and result.__class__.__name__ == "Labels"
    assert tuple(result.scale) == SCALE and tuple(result.translate) == TRANSLATE
    assert set(np.unique(result.data)) == {3, 4, 7}
    assert np.mean(result.data[~(a | b)] == 7) > 0.95
    assert np.mean(result.data[a & ~b] == 3) > 0.95
    assert np.array_equal(markers.data, edited)   # markers untouched


def test_flood_restricted_to_a_mask_layer(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "paint")
    seeds = np.zeros(a.shape, np.uint8)
    seeds[0:3, :] = 7
    seeds[30, 28] = 3
    seeds[30, 50] = 4
    viewer.add_labels(seeds, name="seeds", scale=SCALE, translate=TRANSLATE)
    assert widget.mask.layer() is None  # nothing restricts the flood unless chosen
    roi = np.zeros(a.shape, np.uint8)
    roi[:, :40] = 1
    roi_layer = viewer.add_labels(roi, name="roi", scale=SCALE, translate=TRANSLATE)
    assert widget.mask.layer() is roi_layer  # a layer named like a mask is offered first
    widget.markers.set_layer(viewer.layers["seeds"])
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = widget.result_layer.data
    assert np.all(result[:, 40:] == 0) and np.all(result[:, :40] > 0)
    assert np.mean(result[a & (roi > 0)] == 3) > 0.95
    assert np.array_equal(roi_layer.data, roi)  # the mask layer is untouched


def test_flood_without_markers_shows_the_automatic_markers(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "distance")
    widget.min_distance.setValue(2.0)
    widget.markers.setCurrentIndex(0)  # (find automatically)
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    names = [lay.name for lay in viewer.layers]
    assert names == ["cells", "cells markers", "cells instances"]
    assert viewer.layers["cells instances"].data.max() == 2


def test_paint_mode_without_markers_is_a_one_line_error(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "paint")
    widget.markers.setCurrentIndex(0)
    widget.flood_button.click()
    assert len(viewer.layers) == 1


def test_cancel_leaves_layers_unchanged(setup):
    viewer, widget, layer, a, b = setup
    _select(widget, "entropy")
    widget.n_labels.setValue(2)
    widget.merge.setValue(5.0)
    before = [(lay.name, lay.data.copy()) for lay in viewer.layers]
    original = widget.panel._on_progress

    def cancel_on_first(event):
        original(event)
        widget.panel.cancel()

    widget.panel._on_progress = cancel_on_first
    widget.flood_button.click()
    assert widget.panel.last_outcome == "cancelled"
    assert [lay.name for lay in viewer.layers] == [n for n, _ in before]
    assert all(np.array_equal(lay.data, d) for lay, (_, d) in zip(viewer.layers, before))
    assert widget.flood_button.isEnabled()


def test_multichannel_layers_flood(setup):
    viewer, widget, layer, a, b = setup
    second = viewer.add_image((b * 5.0).astype(np.float32), name="band2", scale=SCALE,
                              translate=TRANSLATE)
    widget.images.set_layers([layer, second])
    _select(widget, "entropy")
    widget.n_labels.setValue(2)
    widget.flood_button.click()
    assert widget.panel.last_outcome == "done", widget.panel.last_error
    result = widget.result_layer
    assert result.data.shape == a.shape and set(np.unique(result.data)) <= {1, 2}


def test_flood_in_a_worker_thread(make_napari_viewer, qtbot):
    """The real (threaded) path: the result arrives through the worker's signals."""
    viewer = make_napari_viewer()
    a, b = _discs()
    layer = viewer.add_image(((a | b) * 100.0).astype(np.float32), name="cells", scale=SCALE)
    widget = WatershedWidget(viewer)
    _select(widget, "distance")
    widget.min_distance.setValue(2.0)
    with qtbot.waitSignal(widget.panel.finished, timeout=60000) as blocker:
        widget.flood_button.click()
    assert blocker.args == ["done"], widget.panel.last_error
    assert viewer.layers[-1].name == "cells instances"
    assert viewer.layers[-1].data.max() == 2
    assert tuple(viewer.layers[-1].scale) == SCALE and layer.data.max() == 100
