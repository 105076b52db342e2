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
    w.method.setCurrentIndex(w.method.findData(method.replace("+k", "")))
    w.k.setValue(1 if method == "slic" else 2)  # 1 shows "none": the superpixel map
    w.segments.setValue(20 if method.startswith(("slic", "spectral")) else 0)
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
    w.k.setValue(3)
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


def test_kmeans_needs_k_in_the_widget_as_on_the_command_line(viewer_bands, sync_jobs,
                                                             monkeypatch):
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    viewer, layers = viewer_bands
    w = ClusteringWidget(viewer)
    w.images.set_layers(layers)
    assert w.params().k is None and w.k.text() == "none"  # the declared default
    n = len(viewer.layers)
    w.run()
    assert w.panel.last_outcome == "error"
    # one check in the job (core.cluster.check_params), worded for each front end: the CLI
    # names the flags (tests/cli/test_cli_cluster.py), the notification names the controls
    assert str(w.panel.last_error) == "--method kmeans needs the number of clusters K (--k)"
    assert shown == ["'Method' kmeans needs the number of clusters K ('K clusters')"]
    assert len(viewer.layers) == n


@pytest.mark.parametrize("method,k,segments", [("kmeans", 3, None), ("kmedoids", 3, None),
                                               ("slic", None, 40), ("slic", 3, 40),
                                               ("spectral", 3, 40), ("kmeans", 3, 40)])
def test_run_button_gives_the_cli_output(make_napari_viewer, qtbot, sync_jobs, cli, tmp_path,
                                         method, k, segments):
    """The widget and ``segsuite cluster`` run one job: clicking Run on the nuclei sample (with
    a mask layer) gives the CLI's output file for the same parameters, voxel for voxel."""
    from qtpy.QtCore import Qt

    from napari_segsuite.io import read_image, write_image
    from napari_segsuite.samples.nuclei import make_nuclei

    sample = make_nuclei(seed=1, scale=0.5)
    img = sample.images["nuclei"]
    path = write_image(tmp_path / "nuclei.nii.gz", img)
    mask = img.like((np.arange(img.shape[0])[:, None] > 3) * np.ones(img.shape, np.uint8))
    mpath = write_image(tmp_path / "mask.nii.gz", mask)
    out = tmp_path / "out.nii.gz"
    argv = ["--method", method, "--mask", mpath, "--quiet"]
    argv += ["--k", k] if k else []
    argv += ["--segments", segments] if segments else []
    res = cli("cluster", path, "-o", out, *argv)
    assert res.code == 0, res

    viewer = make_napari_viewer()
    image_layer = viewer.open(str(path), plugin="napari-segsuite")[0]
    mask_layer = viewer.open(str(mpath), plugin="napari-segsuite")[0]
    w = ClusteringWidget(viewer)
    qtbot.addWidget(w)
    w.images.set_layers([image_layer])
    w.mask.set_layer(mask_layer)
    w.method.setCurrentIndex(w.method.findData(method))
    w.k.setValue(k or 1)
    w.segments.setValue(segments or 0)
    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done", w.panel.last_error
    want = read_image(out)
    got = np.asarray(w.result_layer.data)
    assert got.dtype == want.array.dtype
    np.testing.assert_array_equal(got, want.array)
    np.testing.assert_allclose(w.result_layer.scale, want.spacing)
    np.testing.assert_allclose(w.result_layer.translate, want.origin)
