"""The "Compare with ground truth" widget, driven in a real (hidden) napari viewer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from napari_segsuite.core.metrics import OVERLAY_FN, OVERLAY_FP, OVERLAY_TP, compare, pr_curve

SCALE = (3.0, 1.0, 0.5)
TRANSLATE = (10.0, -4.0, 2.0)


def _volumes():
    gt = np.zeros((12, 24, 26), np.int32)
    gt[2:10, 4:16, 4:16] = 1
    gt[4:8, 17:22, 18:24] = 2
    pred = gt.copy()
    pred[2:10, 4:16, 14:18] = 1  # spills over in x
    pred[5, 17:22, 18:24] = 0    # a slice missed for label 2
    return pred, gt


@pytest.fixture
def setup(make_napari_viewer, sync_jobs):
    from napari_segsuite.widgets.metrics import CompareWidget

    viewer = make_napari_viewer()
    pred, gt = _volumes()
    gt_l = viewer.add_labels(gt, name="ground truth", scale=SCALE, translate=TRANSLATE)
    pred_l = viewer.add_labels(pred, name="prediction", scale=SCALE, translate=TRANSLATE)
    w = CompareWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.pred_picker.set_layer(pred_l)
    w.gt_picker.set_layer(gt_l)
    return viewer, w, pred_l, gt_l


def test_table_matches_core_and_layers_unchanged(setup):
    viewer, w, pred_l, gt_l = setup
    pred0, gt0 = pred_l.data.copy(), gt_l.data.copy()
    n_layers = len(viewer.layers)
    w.compute()
    assert w.panel.last_outcome == "done"
    ref = compare(pred0, gt0, spacing=SCALE)
    assert w.result["per_label"] == ref["per_label"]
    vals = w.table_values()
    assert [row[0] for row in vals] == [1, 2]
    cols = list(w.table.horizontalHeaderItem(j).text() for j in range(w.table.columnCount()))
    for row in vals:
        m = ref["per_label"][str(row[0])]
        for c, v in zip(cols[1:], row[1:]):
            if isinstance(m[c], float) and math.isnan(m[c]):
                assert v is None
            else:
                assert v == m[c]
    assert w.table.item(0, cols.index("dice")).text() == f"{ref['per_label']['1']['dice']:.4f}"
    np.testing.assert_array_equal(pred_l.data, pred0)
    np.testing.assert_array_equal(gt_l.data, gt0)
    assert len(viewer.layers) == n_layers
    # per-slice Dice along z: slice 5 misses label 2
    d = w.slices["dice"]
    assert d.shape == (12,) and d[5] < d[4]
    d2 = w.slices["by_label"][2]["dice"]
    assert d2[5] == 0.0 and d2[4] == 1.0 and np.isnan(d2[0])
    w.overlay_label.setCurrentIndex(w.overlay_label.findData(2))
    curve, what = w._slice_curve()
    assert what == "label 2" and np.nanargmin(curve) == 5
    assert "slice 5" in w.slice_figure.axes[0].get_title()


def test_overlay_layer_has_gt_geometry_and_three_classes(setup):
    viewer, w, pred_l, gt_l = setup
    w.compute()
    lay = w.show_overlay()
    assert lay is not None and lay in viewer.layers
    assert tuple(lay.scale) == SCALE and tuple(lay.translate) == TRANSLATE
    assert set(np.unique(lay.data)) == {0, OVERLAY_TP, OVERLAY_FP, OVERLAY_FN}
    assert (lay.data == OVERLAY_FP).sum() == w.result["per_label"]["1"]["fp"] + \
        w.result["per_label"]["2"]["fp"]
    # a second call refreshes our layer instead of adding another
    n = len(viewer.layers)
    w.show_overlay()
    assert len(viewer.layers) == n


def test_live_update_after_editing_the_prediction(setup):
    from qtpy.QtWidgets import QApplication

    viewer, w, pred_l, gt_l = setup
    w.compute()
    lay = w.show_overlay()
    fn_before = int((lay.data == OVERLAY_FN).sum())
    before = w.result["per_label"]["2"]["tp"]
    data = pred_l.data
    data[4:8, 17:22, 18:24] = 0  # erase label 2 by hand ...
    pred_l.data = data           # ... and tell napari (emits events.data)
    assert w._timer.isActive()   # debounced, not computed yet
    w.live_update()              # the debounced slot, called directly
    assert w.result["per_label"]["2"]["tp"] == 0 < before
    assert "hausdorff" not in w.result["per_label"]["1"]  # live updates skip distances
    assert w._dist_timer.isActive()  # the distances follow once the editing pauses
    w.distances_update()
    assert w.result["per_label"]["2"]["tp"] == 0 and "hausdorff" in w.result["per_label"]["1"]
    QApplication.processEvents()  # the overlay refresh is queued after the job
    assert int((lay.data == OVERLAY_FN).sum()) > fn_before
    assert lay in viewer.layers and len([l for l in viewer.layers if l.name.startswith("TP")]) == 1


def test_cancel_leaves_everything_as_it_was(setup):
    viewer, w, pred_l, gt_l = setup
    orig = w.panel._on_progress

    def cancel_at_first(event):
        orig(event)
        w.panel.cancel()

    w.panel._on_progress = cancel_at_first
    n = len(viewer.layers)
    w.compute()
    assert w.panel.last_outcome == "cancelled"
    assert w.result is None and w.table.rowCount() == 0 and len(viewer.layers) == n
    assert w.run_button.isEnabled()


def test_confusion_heatmap_and_row_normalisation(setup):
    viewer, w, pred_l, gt_l = setup
    w.compute()
    assert w.cm_figure.axes
    w.normalize.setChecked(True)
    img = w.cm_figure.axes[0].images[0].get_array()
    np.testing.assert_allclose(np.asarray(img).sum(axis=1), 1.0)


def test_export_and_copy(setup, tmp_path):
    from qtpy.QtWidgets import QApplication

    viewer, w, pred_l, gt_l = setup
    w.compute()
    out = w.export_csv(tmp_path / "m.csv")
    lines = out.read_text().splitlines()
    assert lines[0].startswith("label,tp,fp,fn,tn,dice") and len(lines) == 3
    w.copy_table()
    assert QApplication.clipboard().text().splitlines()[0].split("\t")[0] == "label"


def test_slice_click_moves_the_viewer(setup):
    viewer, w, pred_l, gt_l = setup
    w.compute()
    w.go_to_slice(5)
    assert viewer.dims.point[0] == pytest.approx(TRANSLATE[0] + 5 * SCALE[0])


def test_probability_prediction_pr_curve_and_threshold_at_best_f1(make_napari_viewer, sync_jobs):
    from napari_segsuite.widgets.metrics import CompareWidget

    rng = np.random.default_rng(1)
    viewer = make_napari_viewer()
    gt = np.zeros((40, 50), np.uint8)
    gt[10:30, 10:35] = 1
    prob = np.clip(gt * 0.5 + rng.random(gt.shape) * 0.6, 0, 1).astype(np.float32)
    gt_l = viewer.add_labels(gt, name="gt", scale=(0.5, 0.5))
    prob_l = viewer.add_image(prob, name="probability", scale=(0.5, 0.5))
    prob0 = prob.copy()
    w = CompareWidget(viewer)
    w.pred_picker.set_layer(prob_l)
    w.gt_picker.set_layer(gt_l)
    assert w.threshold.isEnabled()
    w.compute()
    assert w.panel.last_outcome == "done"
    ref = pr_curve(prob, gt)
    assert w.pr.best_threshold == pytest.approx(ref.best_threshold)
    assert w.best_f1_button.isEnabled()
    ref_at_half = compare((prob >= 0.5).astype(np.uint8), gt)
    assert w.result["per_label"]["1"]["dice"] == pytest.approx(ref_at_half["per_label"]["1"]["dice"])
    lay = w.threshold_at_best_f1()
    assert lay is not None and lay in viewer.layers and lay.__class__.__name__ == "Labels"
    np.testing.assert_array_equal(lay.data, prob >= ref.best_threshold)
    assert tuple(lay.scale) == (0.5, 0.5)
    np.testing.assert_array_equal(prob_l.data, prob0)


def test_shape_mismatch_is_a_notification_not_a_crash(make_napari_viewer, sync_jobs):
    from napari_segsuite.widgets.metrics import CompareWidget

    viewer = make_napari_viewer()
    a = viewer.add_labels(np.zeros((10, 12), np.int32), name="a")
    b = viewer.add_labels(np.zeros((12, 10), np.int32), name="b")
    w = CompareWidget(viewer)
    w.pred_picker.set_layer(a)
    w.gt_picker.set_layer(b)
    w.compute()
    assert w.result is None


# -- issue 15: surface Dice, HD95 convention, instance mode ------------------------------------------
def test_surface_dice_beside_dice_with_tolerance_and_convention(setup, qtbot, tmp_path):
    import csv

    from qtpy.QtCore import Qt

    viewer, w, pred_l, gt_l = setup
    assert not w.instances.isChecked()  # two labels: not instances
    w.tolerance.setValue(0.4)
    w.hd95.setCurrentText("deepmind")
    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done"
    ref = compare(pred_l.data, gt_l.data, spacing=SCALE, tolerance=0.4, hd95="deepmind")
    assert w.result["per_label"] == ref["per_label"]
    assert w.result["hd95_convention"] == "deepmind" and w.result["tolerance"] == 0.4
    cols = [w.table.horizontalHeaderItem(j).text() for j in range(w.table.columnCount())]
    assert cols[cols.index("dice") + 1] == "nsd"
    assert w.table_values()[0][cols.index("nsd")] == ref["per_label"]["1"]["nsd"] < 1
    assert "kappa" in w.summary.text()
    out = w.export_csv(tmp_path / "m.csv")
    row = next(csv.DictReader(out.open()))
    assert row["hd95_convention"] == "deepmind" and float(row["nsd"]) == ref["per_label"]["1"]["nsd"]
    assert float(row["kappa"]) == pytest.approx(ref["kappa"])


def test_instance_mode_for_an_instance_ground_truth(make_napari_viewer, sync_jobs, qtbot, tmp_path):
    from qtpy.QtCore import Qt

    from napari_segsuite.core.metrics.instances import instance_figures
    from napari_segsuite.samples import get_sample
    from napari_segsuite.widgets.metrics import CompareWidget

    gt = get_sample("nuclei").make(seed=0, scale=1.0).labels["labels"].array.astype(np.int32)
    pred = gt.copy()
    ids = np.unique(gt)[1:]
    pred[np.isin(pred, ids[::7])] = 0          # some nuclei missed
    pred[np.isin(pred, ids[1::9])] = ids[0]    # some merged into one label (one big object)
    viewer = make_napari_viewer()
    gt_l = viewer.add_labels(gt, name="ground truth")
    pred_l = viewer.add_labels(pred, name="prediction")
    w = CompareWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.pred_picker.set_layer(pred_l)
    w.gt_picker.set_layer(gt_l)
    assert w.instances.isChecked()  # > 50 labels: instance mode by default
    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done"
    ref = instance_figures(pred, gt)
    assert w.result["instances"] == ref
    assert ref["fn"] > 0 and ref["tp"] > 20
    assert w.result["labels"] == [1]  # the table compares the foregrounds
    assert f"PQ {ref['pq']:.4f}" in w.instances_label.text()
    assert "lesion-wise" in w.instances_label.text()
    assert "PQ" in w.summary.text()
    text = w.export_csv(tmp_path / "i.csv").read_text()
    assert "instances.pq" in text.splitlines()[0]
    w.instances.setChecked(False)  # the user may untick it: label by label again
    w.binary.setCurrentText("no")
    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert "instances" not in w.result and len(w.result["labels"]) > 50


# -- issue 12: one job for the widget and the command ------------------------------------------------
def _on_disk_and_in_viewer(viewer, tmp_path, name, img, kind="labels"):
    """Write ``img`` (a SegImage) as a file and show the file read back as a layer."""
    from napari_segsuite.io import read_image, write_image

    path = tmp_path / f"{name}.nii.gz"
    write_image(path, img, force=True)
    back = read_image(path)
    add = viewer.add_labels if kind == "labels" else viewer.add_image
    layer = add(back.array, name=name, **back.napari_kwargs())
    return str(path), layer


def _click_compare(qtbot, w):
    from qtpy.QtCore import Qt

    qtbot.mouseClick(w.run_button, Qt.LeftButton)
    assert w.panel.last_outcome == "done"
    from napari_segsuite.io.reports import to_json

    return json.loads(to_json(w.result))


@pytest.mark.parametrize("case", ["labels", "probability", "instances"])
def test_widget_numbers_equal_the_commands_json(case, make_napari_viewer, sync_jobs, qtbot, cli,
                                                tmp_path):
    """The Compare button and ``segsuite metrics --json`` run one job (core.metrics.compare_job):
    on a sample, the widget's result is the command's JSON, for a label prediction with a
    background label, a thresholded probability map (and its PR curve) and instance maps."""
    from scipy import ndimage as ndi

    from napari_segsuite.core.base.image import SegImage
    from napari_segsuite.samples import get_sample
    from napari_segsuite.widgets.metrics import CompareWidget

    viewer = make_napari_viewer()
    if case == "instances":
        gt_img = get_sample("nuclei").make(seed=0, scale=0.5).labels["labels"]
    else:
        gt_img = get_sample("brain").make(seed=0, scale=0.5).labels["labels"]
    gt = gt_img.array.astype(np.int32)
    geo = dict(spacing=gt_img.spacing, origin=(4.0,) * gt.ndim)
    args = []
    if case == "labels":
        pred = np.roll(gt, 1, axis=-1)
        pred[pred == 0] = 9              # the prediction's background is label 9 (GrowCut's way)
        pred[gt.shape[0] // 2] = 0       # and a slice lost
        pred_img, kind = SegImage(pred, **geo), "labels"
        args = ["--background-label", "9"]
    elif case == "probability":
        prob = ndi.gaussian_filter((gt == 3).astype(np.float32), 1.5)
        pred_img, kind = SegImage(prob, **geo), "image"
        args = ["--threshold", "0.3"]
    else:
        pred = gt.copy()
        ids = np.unique(gt)[1:]
        pred[np.isin(pred, ids[::5])] = 0
        pred_img, kind = SegImage(pred, **geo), "labels"
        args = ["--instances"]
    g_path, gt_l = _on_disk_and_in_viewer(viewer, tmp_path, "ground truth",
                                          SegImage(gt, **geo))
    p_path, pred_l = _on_disk_and_in_viewer(viewer, tmp_path, "prediction", pred_img, kind)
    r = cli("metrics", p_path, g_path, "--json", "--quiet", *args)
    assert r.code == 0, r
    expected = json.loads(r.out)

    w = CompareWidget(viewer)
    viewer.window.add_dock_widget(w)
    w.pred_picker.set_layer(pred_l)
    w.gt_picker.set_layer(gt_l)
    if case == "labels":
        w.background_label.setValue(9)
        assert not w.instances.isChecked()
    elif case == "probability":
        w.score_map.setChecked(True)
        w.threshold.setValue(0.3)
    else:
        assert w.instances.isChecked()  # an instance GT: instance mode by default
    got = _click_compare(qtbot, w)
    assert got == expected
    if case == "probability":
        from napari_segsuite.core.metrics import pr_curve

        assert expected["labels"] == [1] and w.pr is not None
        assert w.pr.best_threshold == pr_curve(pred_img.array, gt).best_threshold
    if case == "instances":
        assert expected["labels"] == [1] and expected["instances"]["fn"] > 0
