"""The Clustering widget: methods, K sweep plot, band composite, cancel."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.widgets.cluster import ClusteringWidget


@pytest.fixture
def viewer_bands(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    layers = []
    for b in range(3):
        arr = rng.normal(0, 0.05, (30, 36)).astype(np.float32)
        arr[:, 18:] += 1 + b
        layers.append(viewer.add_image(arr, name=f"band {b + 1}", scale=(30, 30),
                                       translate=(5, 7)))
    return viewer, layers


@pytest.mark.parametrize("method", ["kmeans", "kmedoids", "slic", "slic+k", "spectral"])
def test_each_method_adds_a_new_layer_on_the_image_grid(viewer_bands, sync_jobs, method):
    viewer, layers = viewer_bands
    w = ClusteringWidget(viewer)
    w.images.set_layers(layers)
    w.method.setCurrentIndex(w.method.findData(method))
    w.k.setValue(2)
    w.segments.setValue(20)
    before = [l.name for l in viewer.layers]
    w.run()
    assert w.panel.last_outcome == "done", w.panel.last_error
    new = w.result_layer
    assert new is viewer.layers[-1] and new.name not in before
    assert tuple(new.scale) == (30, 30) and tuple(new.translate) == (5, 7)
    if method != "slic":
        assert set(np.unique(new.data)) == {1, 2}
        assert new.data[0, 0] != new.data[0, -1]


def test_k_sweep_plot_and_composite(viewer_bands, sync_jobs):
    viewer, layers = viewer_bands
    w = ClusteringWidget(viewer)
    w.images.set_layers(layers)
    w.sweep(ks=range(2, 5))
    assert w.sweep_result["k"] == [2, 3, 4]
    assert w.figure.axes and len(w.figure.axes[0].lines) >= 1
    layer = w.add_composite()
    assert layer.rgb and layer.data.shape == (30, 36, 3) and tuple(layer.scale) == (30, 30)


def test_cancel_leaves_layers_unchanged(viewer_bands, sync_jobs):
    viewer, layers = viewer_bands
    w = ClusteringWidget(viewer)
    w.images.set_layers(layers)
    data_before = [l.data.copy() for l in viewer.layers]
    n = len(viewer.layers)
    w.panel.progress_bar.valueChanged.connect(lambda _v: w.panel.cancel())
    w.run()
    assert w.panel.last_outcome == "cancelled"
    assert len(viewer.layers) == n
    for l, d in zip(viewer.layers, data_before):
        np.testing.assert_array_equal(l.data, d)


def test_bad_mask_is_a_notification(viewer_bands, sync_jobs, monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer, layers = viewer_bands
    viewer.add_labels(np.ones((5, 5), np.int32), name="tiny mask")
    w = ClusteringWidget(viewer)
    w.images.set_layers(layers)
    w.mask.set_layer(viewer.layers["tiny mask"])
    n = len(viewer.layers)
    w.run()
    assert shown and "shape" in shown[0] and len(viewer.layers) == n
