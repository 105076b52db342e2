"""Issue 11, "the first hour": each bug a new user met, reproduced by clicking the real button in a
widget docked the way napari docks it (through the plugin manifest: the widget then gets napari's
viewer *proxy*, whose ``add_*`` return proxies of the new layers)."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt

PLUGIN = "napari-segsuite"


def _dock(viewer, name):
    _dock_widget, widget = viewer.window.add_plugin_dock_widget(PLUGIN, name)
    return widget


def _click(qtbot, button):
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.LeftButton)


def _two_regions(shape=(8, 24, 30), seed=0):
    rng = np.random.default_rng(seed)
    gt = np.ones(shape, np.uint8)
    gt[..., shape[-1] // 2:] = 2
    img = (gt * 100 + rng.normal(0, 8, shape)).astype(np.float32)
    return img, gt


@pytest.fixture
def errors(monkeypatch):
    """The one-line error notifications shown to the user."""
    import napari.utils.notifications as notifications

    shown = []
    monkeypatch.setattr(notifications, "show_error", shown.append)
    return shown


# -- Clustering ------------------------------------------------------------------------------------
@pytest.fixture
def bands(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(1)
    layers = []
    for b, name in enumerate(["scene [B1 coastal]", "scene [B2 blue]", "scene [B3 green]",
                              "scene [B4 red]", "scene [B5 NIR]"]):
        arr = rng.normal(0, 0.05, (24, 28)).astype(np.float32)
        arr[:, 14:] += 1 + b
        layers.append(viewer.add_image(arr, name=name))
    return viewer, layers


def test_k_sweep_button_plots_k_2_to_10(bands, qtbot, sync_jobs):
    """The button's clicked(bool) arrived as ``ks``: TypeError, and napari aborted."""
    viewer, layers = bands
    w = _dock(viewer, "Clustering")
    w.images.set_layers(layers)
    _click(qtbot, w.sweep_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    assert w.sweep_result["k"] == list(range(2, 11))
    assert len(w.figure.axes[0].lines[0].get_xdata()) == 9


def test_k_sweep_preview_of_a_running_job_plots_what_is_complete(bands):
    """The preview shares the job's lists, which grow while the GUI thread plots them: "x and y
    must have same first dimension"."""
    viewer, layers = bands
    w = _dock(viewer, "Clustering")
    w._plot_sweep({"k": [2, 3, 4], "inertia": [1.0, 0.5, 0.4], "silhouette": [0.6, 0.7]})
    assert w.sweep_result == {"k": [2, 3], "inertia": [1.0, 0.5], "silhouette": [0.6, 0.7]}


def test_plot_area_says_what_it_is_for_before_a_sweep(bands):
    viewer, _layers = bands
    w = _dock(viewer, "Clustering")
    assert w.figure.axes, "an empty white box"
    text = " ".join(t.get_text() for t in w.figure.axes[0].texts)
    assert "K sweep" in text


def test_composite_defaults_to_true_colour_and_results_name_every_band(bands, qtbot, sync_jobs):
    from napari_segsuite.core.cluster import band_composite

    viewer, layers = bands
    w = _dock(viewer, "Clustering")
    w.images.set_layers(layers)
    assert [b.currentText() for b in w.bands] == ["scene [B4 red]", "scene [B3 green]",
                                                  "scene [B2 blue]"]
    _click(qtbot, w.composite_button)
    comp = viewer.layers[-1]
    assert comp.rgb and "B4 red" in comp.name
    ticked = w.images.layers()
    idx = [ticked.index(layers[i]) for i in (3, 2, 1)]
    stack = np.stack([lay.data for lay in ticked], -1)
    np.testing.assert_allclose(comp.data, band_composite(stack, idx))
    w.k.setValue(2)
    _click(qtbot, w.run_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    assert viewer.layers[-1].name.startswith("scene (5 bands) kmeans")


def test_landsat_sample_ticks_all_bands_and_composes_4_3_2(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample(PLUGIN, "landsat")
    w = _dock(viewer, "Clustering")
    assert len(w.images.layers()) == 7
    assert [b.currentText() for b in w.bands] == ["landsat [red]", "landsat [green]",
                                                  "landsat [blue]"]


# -- GrowCut ---------------------------------------------------------------------------------------
def test_new_seeds_layer_button_selects_it_and_run_uses_it(make_napari_viewer, qtbot, sync_jobs):
    viewer = make_napari_viewer()
    img, gt = _two_regions()
    viewer.add_image(img, name="img")
    w = _dock(viewer, "GrowCut")
    old = w.seeds.layer()
    assert old is not None and old.name == "seeds"
    old.data[..., 2] = 1
    old.data[..., -3] = 2
    _click(qtbot, w.new_seeds_button)
    new = viewer.layers[-1]
    assert new is not old and w.seeds.layer() is new  # the picker follows the new layer
    assert viewer.layers.selection.active is new and new.mode == "paint"
    data = np.zeros(img.shape, np.uint16)
    data[..., 2] = 5
    data[..., -3] = 6
    new.data = data
    _click(qtbot, w.run_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    assert set(np.unique(viewer.layers[-1].data)) == {5, 6}  # grown from the new seeds


# -- Watershed -------------------------------------------------------------------------------------
def test_each_flood_reuses_the_markers_layer_it_found(make_napari_viewer, qtbot, sync_jobs):
    viewer = make_napari_viewer()
    img, _gt = _two_regions()
    viewer.add_image(img, name="img")
    w = _dock(viewer, "Watershed")
    w.source.setCurrentIndex(w.source.findData("entropy"))
    w.n_labels.setValue(2)
    assert w.markers.layer() is None  # "(find automatically)"
    _click(qtbot, w.flood_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    markers = [lay for lay in viewer.layers if lay.name.endswith("markers")]
    assert len(markers) == 1 and w.markers.layer() is markers[0]
    _click(qtbot, w.flood_button)
    _click(qtbot, w.flood_button)
    assert w.panel.last_outcome == "done", w.panel.last_error
    assert [lay.name for lay in viewer.layers].count("img markers") == 1
    assert sum(lay.name.startswith("img watershed") for lay in viewer.layers) == 3


# -- Compare ---------------------------------------------------------------------------------------
def test_compare_ignores_growcuts_background_label(make_napari_viewer, qtbot, sync_jobs):
    """GrowCut's background seed label (the seeds layer's metadata) was scored as a class:
    pixel accuracy 0.30 on the brain sample and an orange overlay outside the head."""
    viewer = make_napari_viewer()
    img, gt = _two_regions()
    gt3 = gt.copy()
    gt3[:, :4] = 0  # background in the ground truth
    img[:, :4] = 0.0
    viewer.add_image(img, name="img")
    viewer.add_labels(gt3, name="ground truth")
    seeds = np.zeros(gt.shape, np.uint8)
    seeds[:, 1, :] = 9  # background stroke, label 9
    seeds[:, 12, 8] = 1
    seeds[:, 12, -3] = 2
    viewer.add_labels(seeds, name="seeds", metadata={"background_label": 9})
    gw = _dock(viewer, "GrowCut")
    assert gw.seeds.layer().name == "seeds"
    _click(qtbot, gw.run_button)
    assert gw.panel.last_outcome == "done", gw.panel.last_error
    result = viewer.layers[-1]
    assert 9 in np.unique(result.data)
    cw = _dock(viewer, "Compare with ground truth")
    cw.pred_picker.set_layer(result)
    cw.gt_picker.set_layer(viewer.layers["ground truth"])
    assert cw.background_label.value() == 9  # the default, from the GrowCut result
    _click(qtbot, cw.run_button)
    assert cw.panel.last_outcome == "done", cw.panel.last_error
    r = cw.result
    assert r["labels"] == [1, 2]  # 9 is background, not a class
    pred = np.where(result.data == 9, 0, result.data)
    assert r["pixel_accuracy"] == pytest.approx(np.mean(pred == gt3))
    assert r["pixel_accuracy"] > 0.9
    cw.background_label.setValue(-1)  # "none": 9 is a class again
    _click(qtbot, cw.run_button)
    assert 9 in cw.result["labels"]


def test_compare_intensity_image_is_not_a_probability_map(make_napari_viewer, qtbot, sync_jobs,
                                                          errors):
    viewer = make_napari_viewer()
    img, gt = _two_regions()
    viewer.add_labels(gt, name="ground truth")
    t1 = viewer.add_image(img, name="T1")
    prob = viewer.add_image(np.clip(img / 250.0, 0, 1).astype(np.float32), name="probability")
    w = _dock(viewer, "Compare with ground truth")
    w.gt_picker.set_layer(viewer.layers["ground truth"])
    w.pred_picker.set_layer(t1)
    assert not w.score_map.isChecked() and not w.threshold.isEnabled()
    _click(qtbot, w.run_button)
    assert w.result is None and errors and "intensities, not labels" in errors[-1]
    w.score_map.setChecked(True)  # the user says so: thresholded
    w.threshold.setValue(150.0)
    _click(qtbot, w.run_button)
    assert w.panel.last_outcome == "done" and w.pr is not None
    assert w.result["binary"]
    w.pred_picker.set_layer(prob)  # a float map in 0..1 is one by itself
    assert w.score_map.isChecked() and w.threshold.isEnabled()


# -- the command line ------------------------------------------------------------------------------
def test_cli_growcut_takes_a_comma_separated_channel_list(cli, tmp_path):
    from napari_segsuite.core.growcut import growcut
    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.io import read_image, write_image

    img, gt = _two_regions()
    other = (3 - gt) * 40.0 + np.random.default_rng(3).normal(0, 5, gt.shape)
    seeds = np.zeros(gt.shape, np.uint8)
    seeds[..., 2] = 1
    seeds[..., -3] = 2
    sp = (2.0, 1.0, 1.0)
    for name, arr in (("a", img), ("b", other.astype(np.float32)), ("s", seeds)):
        write_image(tmp_path / f"{name}.nii.gz", SegImage(arr, spacing=sp))
    r = cli("growcut", f"{tmp_path / 'a.nii.gz'},{tmp_path / 'b.nii.gz'}",
            tmp_path / "s.nii.gz", "-o", tmp_path / "out.nii.gz", "--quiet")
    assert r.code == 0, r
    out = read_image(tmp_path / "out.nii.gz")
    ref = growcut(np.stack([img, other.astype(np.float32)], -1), seeds, channel_axis=-1,
                  spacing=sp)
    np.testing.assert_array_equal(out.array, ref.labels)
    assert out.spacing == pytest.approx(sp)


# -- the launch ------------------------------------------------------------------------------------
def test_launch_uses_every_contrast_shows_the_strokes_and_paints(make_napari_viewer,
                                                                 monkeypatch):
    import napari

    from napari_segsuite._launch import main

    viewer = make_napari_viewer()
    monkeypatch.setattr(napari, "Viewer", lambda *a, **k: viewer)
    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    assert main([]) == 0
    gc = [w for w in viewer.window.dock_widgets.values()
          if type(w).__name__ == "GrowCutWidget"][0]
    assert sorted(lay.name for lay in gc.images.layers()) == ["FLAIR", "T1", "T2"]
    seeds = viewer.layers["seeds"]
    z = viewer.dims.current_step[0]
    assert len(np.unique(seeds.data[z][seeds.data[z] != 0])) >= 3  # strokes in view
    assert viewer.layers.selection.active is seeds and seeds.mode == "paint"
    from qtpy.QtWidgets import QApplication

    win = viewer.window._qt_window
    avail = QApplication.primaryScreen().availableGeometry()  # Xvfb's screen may be small
    assert win.width() >= min(1500, avail.width()) and win.height() >= min(950, avail.height())
