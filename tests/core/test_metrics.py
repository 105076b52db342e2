"""core.metrics against trusted references: SimpleITK (overlap measures, Hausdorff), scikit-learn
(confusion matrix, precision/recall/F1, PR curve, AP), scipy distance transforms."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi
from sklearn import metrics as skm

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.core.metrics import (boundary, compare, compare_steps, confusion_matrix,
                                          overlay, per_slice_dice, pr_curve, surface_distances)
from napari_segsuite.io.reports import to_csv_text, to_json
from napari_segsuite.core.base.progress import Progress


# -- data ------------------------------------------------------------------------------------------
def ball(shape, center, radius, spacing=None):
    spacing = spacing or (1.0,) * len(shape)
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    d2 = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, center, spacing))
    return d2 <= radius ** 2


def blobs(shape, n_labels, rng, sigma=2.0):
    """Blobby multi-label image: argmax of smoothed noise, thresholded."""
    noise = ndi.gaussian_filter(rng.random((n_labels + 1,) + tuple(shape)), (0,) + (sigma,) * len(shape))
    return np.argmax(noise, axis=0).astype(np.uint8)


def perturb(lab, rng, frac=0.1, n_labels=None):
    out = lab.copy()
    flip = rng.random(lab.shape) < frac
    out[flip] = rng.integers(0, (n_labels or int(lab.max())) + 1, flip.sum())
    # and a shifted structure so distances are non-trivial
    return out


def sitk_img(arr, spacing=None):
    img = sitk.GetImageFromArray(np.ascontiguousarray(arr))
    if spacing is not None:
        img.SetSpacing(tuple(float(s) for s in spacing[::-1]))
    return img


def sitk_overlap(pred, gt, label):
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sitk_img(pred.astype(np.uint16)), sitk_img(gt.astype(np.uint16)))
    return {"dice": f.GetDiceCoefficient(label), "iou": f.GetJaccardCoefficient(label),
            "recall": 1 - f.GetFalseNegativeError(label),
            "precision": 1 - f.GetFalseDiscoveryRate(label),
            "specificity": 1 - f.GetFalsePositiveError(label)}


def sitk_hausdorff(a, b, spacing):
    f = sitk.HausdorffDistanceImageFilter()
    f.Execute(sitk_img(a.astype(np.uint8), spacing), sitk_img(b.astype(np.uint8), spacing))
    return f.GetHausdorffDistance()


def ref_boundary_distances(a, b, spacing):
    """MedPy-style pooled boundary distances, computed on the full image (no crop)."""
    st = ndi.generate_binary_structure(a.ndim, 1)
    ba = a & ~ndi.binary_erosion(a, st, border_value=0)
    bb = b & ~ndi.binary_erosion(b, st, border_value=0)
    d1 = ndi.distance_transform_edt(~bb, sampling=spacing)[ba]
    d2 = ndi.distance_transform_edt(~ba, sampling=spacing)[bb]
    both = np.concatenate([d1, d2])
    return np.percentile(both, 95), both.mean()


# -- confusion matrix and overlap ------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(40, 50), (16, 20, 24)])
def test_confusion_matrix_matches_sklearn(shape, rng):
    gt = blobs(shape, 4, rng)
    pred = perturb(gt, rng, 0.2, n_labels=5)  # label 5 only in PRED
    labels, counts = confusion_matrix(pred, gt)
    assert labels.tolist() == sorted(set(np.unique(gt)) | set(np.unique(pred)) | {0})
    ref = skm.confusion_matrix(gt.ravel(), pred.ravel(), labels=labels)
    np.testing.assert_array_equal(counts, ref)


def test_confusion_matrix_large_label_values(rng):
    gt = rng.choice([0, 7, 70000, 2**30], size=(30, 30)).astype(np.int64)
    pred = rng.choice([0, 7, 70000, 5], size=(30, 30)).astype(np.int64)
    labels, counts = confusion_matrix(pred, gt, binary=False)
    np.testing.assert_array_equal(counts, skm.confusion_matrix(gt.ravel(), pred.ravel(),
                                                               labels=labels))


@pytest.mark.parametrize("shape", [(48, 40), (20, 22, 18)])
def test_per_label_figures_match_sitk_and_sklearn(shape, rng):
    gt = blobs(shape, 3, rng)
    pred = perturb(gt, rng, 0.15)
    r = compare(pred, gt, distances=False)
    assert r["labels"] == [1, 2, 3]
    p, rc, f, _ = skm.precision_recall_fscore_support(gt.ravel(), pred.ravel(), labels=[1, 2, 3],
                                                      zero_division=np.nan)
    for i, lab in enumerate([1, 2, 3]):
        m = r["per_label"][str(lab)]
        ref = sitk_overlap(pred, gt, lab)
        for k, v in ref.items():
            assert m[k] == pytest.approx(v, abs=1e-12), (lab, k)
        assert m["precision"] == pytest.approx(p[i])
        assert m["recall"] == pytest.approx(rc[i])
        assert m["f1"] == pytest.approx(f[i])
        assert m["f1"] == m["dice"]
        a, b = pred == lab, gt == lab
        assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (
            int((a & b).sum()), int((a & ~b).sum()), int((~a & b).sum()), int((~a & ~b).sum()))
    assert r["pixel_accuracy"] == pytest.approx(skm.accuracy_score(gt.ravel(), pred.ravel()))
    assert r["mean_pixel_accuracy"] == pytest.approx(
        skm.balanced_accuracy_score(gt.ravel(), pred.ravel()))
    np.testing.assert_array_equal(
        r["confusion_matrix"]["counts"],
        skm.confusion_matrix(gt.ravel(), pred.ravel(), labels=r["confusion_matrix"]["labels"]))


def test_counts_are_exact_on_more_than_one_slab(rng, monkeypatch):
    import napari_segsuite.core.metrics as M
    from napari_segsuite.core.metrics import confusion

    monkeypatch.setattr(confusion, "_SLAB", 1000)  # many slabs, one partial
    gt = blobs((13, 17, 19), 3, rng)
    pred = perturb(gt, rng, 0.3)
    labels, counts = M.confusion_matrix(pred, gt)
    np.testing.assert_array_equal(counts, skm.confusion_matrix(gt.ravel(), pred.ravel(),
                                                               labels=labels))


# -- surface distances -----------------------------------------------------------------------------
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.7, 1.2)])
def test_distances_spheres_match_sitk_and_full_image_reference(spacing):
    shape = (24, 40, 36)
    gt = ball(shape, (12, 20, 18), 9, spacing)
    pred = ball(shape, (13, 18, 20), 8, spacing) | ball(shape, (3, 35, 4), 2, spacing)
    d = surface_distances(pred, gt, spacing)
    assert d["hausdorff"] == pytest.approx(sitk_hausdorff(pred, gt, spacing), rel=1e-9)
    hd95, assd = ref_boundary_distances(pred, gt, spacing)
    assert d["hd95"] == pytest.approx(hd95)
    assert d["assd"] == pytest.approx(assd)
    assert 0 < d["assd"] <= d["hd95"] <= d["hausdorff"]


def test_distances_cube_known_values():
    gt = np.zeros((30, 30, 30), bool)
    gt[5:15, 5:15, 5:15] = True
    pred = np.zeros_like(gt)
    pred[5:15, 5:15, 8:18] = True  # shifted 3 voxels along x
    d = surface_distances(pred, gt, (1.0, 1.0, 2.0))
    assert d["hausdorff"] == pytest.approx(6.0)  # 3 voxels of 2.0 along x
    assert d["hausdorff"] == pytest.approx(sitk_hausdorff(pred, gt, (1.0, 1.0, 2.0)))


@pytest.mark.parametrize("ndim", [2, 3])
def test_multilabel_distances_match_sitk_per_label(ndim, rng):
    shape = (40, 44) if ndim == 2 else (16, 20, 18)
    spacing = (0.5, 1.5) if ndim == 2 else (2.5, 1.0, 0.8)
    gt = blobs(shape, 3, rng)
    pred = perturb(gt, rng, 0.05)
    pred[np.roll(gt == 2, 3, axis=0)] = 2  # a shifted copy: larger distances for label 2
    r = compare(SegImage(pred), SegImage(gt, spacing=spacing))
    assert r["spacing"] == list(spacing)
    for lab in (1, 2, 3):
        m = r["per_label"][str(lab)]
        a, b = pred == lab, gt == lab
        assert m["hausdorff"] == pytest.approx(sitk_hausdorff(a, b, spacing), rel=1e-9)
        hd95, assd = ref_boundary_distances(a, b, spacing)
        assert m["hd95"] == pytest.approx(hd95)
        assert m["assd"] == pytest.approx(assd)


def test_masks_touching_the_image_border():
    gt = np.zeros((20, 20), bool)
    gt[:10, :] = True
    pred = np.zeros_like(gt)
    pred[:12, 3:] = True
    d = surface_distances(pred, gt, (1.0, 2.0))
    assert d["hausdorff"] == pytest.approx(sitk_hausdorff(pred, gt, (1.0, 2.0)))
    hd95, assd = ref_boundary_distances(pred, gt, (1.0, 2.0))
    assert (d["hd95"], d["assd"]) == (pytest.approx(hd95), pytest.approx(assd))


def test_boundary_is_mask_minus_face_erosion():
    m = np.zeros((7, 7), bool)
    m[1:6, 1:6] = True
    b = boundary(m)
    assert b.sum() == 16 and not b[2:5, 2:5].any()
    full = np.ones((3, 3), bool)  # outside counts as background
    assert boundary(full).sum() == 8


def test_identical_masks_have_zero_distances():
    gt = ball((20, 20, 20), (10, 10, 10), 6)
    d = surface_distances(gt, gt.copy(), (2.0, 1.0, 1.0))
    assert d == {"hausdorff": 0.0, "hd95": 0.0, "assd": 0.0}


# -- edge cases ------------------------------------------------------------------------------------
def test_empty_prediction_gives_nan_distances_and_zero_dice():
    gt = np.zeros((10, 10), np.uint8)
    gt[2:5, 2:5] = 1
    r = compare(np.zeros_like(gt), gt)
    m = r["per_label"]["1"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 0, 9, 91)
    assert m["dice"] == 0.0 and m["recall"] == 0.0
    assert math.isnan(m["precision"])  # 0/0
    assert all(math.isnan(m[k]) for k in ("hausdorff", "hd95", "assd"))
    js = json.loads(to_json(r))
    assert js["per_label"]["1"]["precision"] is None and js["per_label"]["1"]["hausdorff"] is None


def test_both_empty():
    z = np.zeros((6, 6, 6), np.uint8)
    r = compare(z, z)
    assert r["labels"] == [] and r["per_label"] == {}
    assert r["pixel_accuracy"] == 1.0 and r["mean_pixel_accuracy"] == 1.0
    assert r["confusion_matrix"] == {"labels": [0], "counts": [[216]]}
    d = surface_distances(z, z)
    assert all(math.isnan(v) for v in d.values())


def test_empty_gt():
    pred = np.zeros((8, 8), np.uint8)
    pred[1:3, 1:3] = 1
    m = compare(pred, np.zeros_like(pred))["per_label"]["1"]
    assert (m["tp"], m["fp"], m["fn"]) == (0, 4, 0)
    assert m["dice"] == 0.0 and m["precision"] == 0.0 and math.isnan(m["recall"])
    assert math.isnan(m["hausdorff"])


def test_label_only_in_one_image(rng):
    gt = np.zeros((12, 12), np.uint8)
    gt[:4] = 1
    gt[4:8] = 2
    pred = gt.copy()
    pred[8:, :6] = 3  # only in PRED
    gt[8:, 6:] = 4    # only in GT
    r = compare(pred, gt)
    assert r["labels"] == [1, 2, 3, 4]
    assert r["per_label"]["1"]["dice"] == 1.0
    assert math.isnan(r["per_label"]["3"]["recall"]) and r["per_label"]["3"]["fp"] == 24
    assert math.isnan(r["per_label"]["4"]["precision"]) and r["per_label"]["4"]["fn"] == 24
    assert math.isnan(r["per_label"]["4"]["hd95"])
    # requested labels: one absent from both is reported with zero counts
    r2 = compare(pred, gt, labels=[1, 9], distances=False)
    assert list(r2["per_label"]) == ["1", "9"]
    assert r2["per_label"]["9"]["tn"] == 144 and math.isnan(r2["per_label"]["9"]["dice"])
    assert "hausdorff" not in r2["per_label"]["1"]


def test_binary_0_255_and_bool_are_the_same_as_0_1(rng):
    gt = ball((20, 24), (10, 12), 7)
    pred = ball((20, 24), (11, 12), 6)
    ref = compare(pred.astype(np.uint8), gt.astype(np.uint8))
    # the same values: label by label, which is the same thing (label 1)
    for p, g in [(pred, gt), (pred.astype(np.float32), gt.astype(np.int32))]:
        r = compare(p, g)
        assert not r["binary"] and r["labels"] == [1]
        assert r["per_label"] == ref["per_label"]
        assert r["confusion_matrix"] == ref["confusion_matrix"]
    # a 0/255 mask against a 0/1 (or bool) one: compared as masks, reported as label 1
    for p, g in [(pred.astype(np.uint8) * 255, gt), (pred, gt.astype(np.uint8) * 255)]:
        r = compare(p, g)
        assert r["binary"] and r["labels"] == [1]
        assert r["per_label"] == ref["per_label"]
        assert r["confusion_matrix"] == ref["confusion_matrix"]
    # two 0/255 masks: label 255, as the contract says (the union of the non-zero values)
    r = compare(pred.astype(np.uint8) * 255, gt.astype(np.uint8) * 255)
    assert not r["binary"] and r["labels"] == [255]
    assert r["per_label"]["255"] == ref["per_label"]["1"]
    # explicit binary=False keeps the values: 255 vs 1 are different labels
    r = compare(pred.astype(np.uint8) * 255, gt.astype(np.uint8), binary=False)
    assert r["labels"] == [1, 255] and r["per_label"]["1"]["tp"] == 0
    # binary=True on multi-label images: any non-zero is foreground
    r = compare(pred.astype(np.uint8) * 2 + (pred & gt), gt.astype(np.uint8) * 3, binary=True)
    assert r["per_label"] == ref["per_label"]


@pytest.mark.parametrize("big", [False, True])
def test_two_single_label_images_with_different_values_are_two_labels(big, monkeypatch):
    """Regression: PRED {0, 2} against GT {0, 3} was compared as two binary masks and reported
    one label with Dice 1.0; the labels are the union of the non-zero values (DESIGN), so they
    are labels 2 and 3, each with Dice 0. ``big``: the general path (label values too large for
    the one-pass count)."""
    from napari_segsuite.core.metrics import confusion

    if big:
        monkeypatch.setattr(confusion, "_FAST_BINS", 4)
    gt = ball((20, 24), (10, 12), 7).astype(np.uint8) * 3
    pred = ball((20, 24), (10, 12), 7).astype(np.uint8) * 2
    r = compare(pred, gt, distances=False)
    assert not r["binary"] and r["labels"] == [2, 3]
    assert r["per_label"]["2"]["dice"] == 0 and r["per_label"]["3"]["dice"] == 0
    assert r["per_label"]["2"]["fp"] == r["per_label"]["3"]["fn"] == int((gt > 0).sum())
    # an empty prediction against a 0/255 mask: label 255, all of it missed
    r = compare(np.zeros_like(gt), gt.astype(np.uint8) // 3 * 255, distances=False)
    assert r["labels"] == [255] and r["per_label"]["255"]["recall"] == 0


def test_shape_mismatch_and_bad_inputs_are_input_errors():
    with pytest.raises(InputError, match="shape"):
        compare(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(InputError, match="negative"):
        compare(np.full((3, 3), -1), np.zeros((3, 3), int))
    with pytest.raises(InputError, match="non-integer"):
        compare(np.full((3, 3), 0.5), np.zeros((3, 3)))
    with pytest.raises(InputError, match="spacing"):
        compare(np.zeros((3, 3), int), np.zeros((3, 3), int), spacing=(1, 1, 1))
    with pytest.raises(InputError, match="shape"):
        surface_distances(np.zeros((3, 3)), np.zeros((3, 4)))


def test_inputs_are_not_modified(rng):
    gt = blobs((10, 12, 14), 3, rng)
    pred = perturb(gt, rng)
    g0, p0 = gt.copy(), pred.copy()
    compare(pred, gt)
    np.testing.assert_array_equal(gt, g0)
    np.testing.assert_array_equal(pred, p0)


def test_compare_steps_yields_progress_per_label(rng):
    gt = blobs((10, 12, 14), 3, rng)
    job = compare_steps(perturb(gt, rng), gt)
    events = []
    try:
        while True:
            events.append(next(job))
    except StopIteration as stop:
        result = stop.value
    assert all(isinstance(e, Progress) for e in events)
    assert {e.message for e in events if e.message.startswith("surface distances, label")} == {
        f"surface distances, label {v}" for v in (1, 2, 3)}
    assert all(e.total is None or e.done <= e.total for e in events)
    assert result["labels"] == [1, 2, 3]


def test_json_and_csv_text(rng):
    gt = blobs((12, 12), 2, rng)
    r = compare(np.zeros_like(gt), gt)
    text = to_json(r)
    js = json.loads(text)
    assert "binary" not in js and "NaN" not in text
    csv = to_csv_text(r).splitlines()
    assert csv[0].split(",")[:3] == ["label", "tp", "fp"]
    assert len(csv) == 1 + len(r["labels"])


# -- PR curve --------------------------------------------------------------------------------------
def test_pr_curve_matches_sklearn(rng):
    gt = ball((30, 40), (15, 20), 9)
    score = np.clip(gt + rng.normal(0, 0.6, gt.shape), 0, 1).astype(np.float32)
    score = np.round(score, 2)  # ties
    c = pr_curve(score, gt)
    P, R, T = skm.precision_recall_curve(gt.ravel(), score.ravel())
    np.testing.assert_allclose(c.precision, P)
    np.testing.assert_allclose(c.recall, R)
    np.testing.assert_allclose(c.thresholds, T)
    assert c.average_precision == pytest.approx(skm.average_precision_score(gt.ravel(),
                                                                            score.ravel()))
    f1 = np.nan_to_num(2 * P * R / (P + R))[:-1]
    assert c.best_f1 == pytest.approx(f1.max())
    assert skm.f1_score(gt.ravel(), score.ravel() >= c.best_threshold) == pytest.approx(c.best_f1)


def test_pr_curve_histogram_mode_is_exact_at_its_thresholds(rng):
    gt = ball((20, 20, 20), (10, 10, 10), 6)
    score = np.clip(gt * 0.6 + rng.random(gt.shape) * 0.5, 0, 1)
    c = pr_curve(score, gt, bins=64)
    assert not c.exact
    for t, p, r in list(zip(c.thresholds, c.precision, c.recall))[::7]:
        yp = score.ravel() >= t
        assert p == pytest.approx(skm.precision_score(gt.ravel(), yp))
        assert r == pytest.approx(skm.recall_score(gt.ravel(), yp))
    exact = pr_curve(score, gt)
    assert c.best_f1 <= exact.best_f1 + 1e-12 and c.best_f1 > exact.best_f1 - 0.02


def test_pr_curve_needs_positives():
    with pytest.raises(InputError, match="foreground"):
        pr_curve(np.random.rand(4, 4), np.zeros((4, 4)))


# -- per-slice Dice and the overlay ----------------------------------------------------------------
def test_per_slice_dice(rng):
    gt = blobs((6, 10, 12), 2, rng)
    pred = perturb(gt, rng, 0.2)
    pred[4] = 0
    out = per_slice_dice(pred, gt, axis=0, label=1)
    for z in range(6):
        a, b = pred[z] == 1, gt[z] == 1
        exp = skm.f1_score(b.ravel(), a.ravel(), zero_division=np.nan) if (a | b).any() else np.nan
        np.testing.assert_allclose(out["dice"][z], exp)
    allfg = per_slice_dice(pred, gt, axis=2)
    assert allfg["dice"].shape == (12,)
    empty = per_slice_dice(np.zeros((3, 3)), np.zeros((3, 3)), axis=1)
    assert np.isnan(empty["dice"]).all()


def test_overlay_values():
    gt = np.array([[0, 1, 1, 0, 2]])
    pred = np.array([[1, 1, 0, 0, 1]])
    np.testing.assert_array_equal(overlay(pred, gt), [[2, 1, 3, 0, 2]])
    np.testing.assert_array_equal(overlay(pred, gt, label=1), [[2, 1, 3, 0, 2]])
    np.testing.assert_array_equal(overlay(pred, gt, label=2), [[0, 0, 0, 0, 3]])


@pytest.mark.parametrize("binary", [None, False, True])
def test_one_pass_and_general_paths_agree(rng, monkeypatch, binary):
    """Small label values take the one-pass path; huge ones the sorted-index path: same result."""
    import napari_segsuite.core.metrics as M
    from napari_segsuite.core.metrics import confusion

    gt = blobs((12, 14, 16), 3, rng)
    pred = perturb(gt, rng, 0.1)
    fast = M.compare(pred, gt, spacing=(2.0, 1.0, 0.5), binary=binary)
    monkeypatch.setattr(confusion, "_FAST_BINS", 1)
    slow = M.compare(pred, gt, spacing=(2.0, 1.0, 0.5), binary=binary)
    assert fast == slow
    # large label values: relabelled 1, 2, 3 -> 10**6, 2 * 10**6, 3 * 10**6
    big = lambda a: a.astype(np.int64) * 10**6  # noqa: E731
    monkeypatch.setattr(confusion, "_FAST_BINS", 1 << 20)
    r = M.compare(big(pred), big(gt), spacing=(2.0, 1.0, 0.5), binary=binary)
    if binary:
        assert r["per_label"] == fast["per_label"]
    else:
        assert [int(k) for k in r["per_label"]] == [10**6, 2 * 10**6, 3 * 10**6]
        assert list(r["per_label"].values()) == list(fast["per_label"].values())


@pytest.mark.parametrize("method", ["edt", "kdtree"])
def test_both_distance_methods_match_sitk(method, rng, monkeypatch):
    import napari_segsuite.core.metrics as M
    from napari_segsuite.core.metrics import distances

    spacing = (2.0, 0.9, 0.6)
    shape = (20, 30, 34)
    gt = ball(shape, (10, 15, 17), 8, spacing)
    pred = ball(shape, (11, 14, 18), 7, spacing) | ball(shape, (2, 27, 3), 1.5, spacing)
    ref_h = sitk_hausdorff(pred, gt, spacing)
    hd95, assd = ref_boundary_distances(pred, gt, spacing)
    monkeypatch.setattr(distances, "_KDTREE_FACTOR", 10**9 if method == "edt" else 0)
    d = distances._distances_cropped(pred, gt, spacing, method=method)
    assert d["hausdorff"] == pytest.approx(ref_h, rel=1e-9)
    assert d["hd95"] == pytest.approx(hd95) and d["assd"] == pytest.approx(assd)
    # and the automatic choice, forced each way through the threshold, on a multi-label pair
    lab_gt = blobs((14, 16, 18), 3, rng)
    lab_pred = perturb(lab_gt, rng, 0.05)
    r = M.compare(lab_pred, lab_gt, spacing=spacing)
    for lab in (1, 2, 3):
        a, b = lab_pred == lab, lab_gt == lab
        assert r["per_label"][str(lab)]["hausdorff"] == pytest.approx(
            sitk_hausdorff(a, b, spacing), rel=1e-9)
        h95, asd = ref_boundary_distances(a, b, spacing)
        assert r["per_label"][str(lab)]["hd95"] == pytest.approx(h95)
        assert r["per_label"][str(lab)]["assd"] == pytest.approx(asd)


@pytest.mark.parametrize("shape", [(1, 5), (2, 6), (9, 11), (5, 6, 7), (2, 4, 4), (1, 1, 1)])
def test_boundary_equals_scipy_face_erosion(shape, rng):
    m = rng.random(shape) < 0.7
    st = ndi.generate_binary_structure(m.ndim, 1)
    np.testing.assert_array_equal(boundary(m), m & ~ndi.binary_erosion(m, st, border_value=0))


def test_many_labels_skimage_blobs_match_sitk():
    """Instance-like labels (skimage's binary_blobs, labelled): every label against SimpleITK."""
    from skimage.data import binary_blobs
    from skimage.measure import label
    from skimage.morphology import ball as ball_fp

    gt = label(binary_blobs(40, blob_size_fraction=0.15, n_dim=3, volume_fraction=0.2,
                            rng=3)).astype(np.uint16)
    grown = ndi.binary_dilation(gt > 0, ball_fp(1))
    pred = np.where(grown, ndi.grey_dilation(gt, size=3), 0).astype(np.uint16)
    pred[pred == pred.max()] = 0  # one label missed entirely
    spacing = (2.0, 1.0, 0.7)
    r = compare(pred, gt, spacing=spacing)
    labels = sorted(set(np.unique(gt)) - {0})
    assert len(labels) > 5 and r["labels"] == labels
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sitk_img(pred), sitk_img(gt))
    for lab in labels:
        m = r["per_label"][str(lab)]
        if not (pred == lab).any():
            assert math.isnan(m["hausdorff"]) and m["dice"] == 0.0
            continue
        assert m["dice"] == pytest.approx(f.GetDiceCoefficient(int(lab)))
        assert m["hausdorff"] == pytest.approx(
            sitk_hausdorff(pred == lab, gt == lab, spacing), rel=1e-9)


@pytest.mark.parametrize("name", ["ct", "brain", "nuclei"])
def test_project_samples_match_sitk(name, rng):
    """The bundled samples' ground truths (anisotropic CT, multi-tissue brain, instance nuclei)
    against a perturbed copy: overlap and Hausdorff per label equal SimpleITK's."""
    from napari_segsuite.samples import get_sample

    gt_img = get_sample(name).make(seed=0, scale=0.5).labels["labels"]
    gt = gt_img.array
    pred = np.roll(gt, 1, axis=-1)
    pred[rng.random(gt.shape) < 0.02] = 0
    r = compare(pred, gt_img)  # spacing from GT's geometry
    assert r["spacing"] == list(gt_img.spacing)
    f = sitk.LabelOverlapMeasuresImageFilter()
    f.Execute(sitk_img(pred.astype(np.uint16)), sitk_img(gt.astype(np.uint16)))
    labels = r["labels"][:12]
    for lab in labels:
        m = r["per_label"][str(lab)]
        assert m["dice"] == pytest.approx(f.GetDiceCoefficient(lab))
        assert m["iou"] == pytest.approx(f.GetJaccardCoefficient(lab))
        assert m["hausdorff"] == pytest.approx(
            sitk_hausdorff(pred == lab, gt == lab, gt_img.spacing), rel=1e-9)


# -- dask ----------------------------------------------------------------------------------------
def _same(a, b):
    """Equal results, NaN equal to NaN."""
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _dask_cases(rng):
    g = rng.integers(0, 4, (20, 30, 25))
    p = np.where(rng.random(g.shape) < 0.8, g, rng.integers(0, 6, g.shape))
    yield p, g, {}
    yield p, g, {"labels": [1, 2, 9]}                       # requested labels, one absent
    mask_g = ball((24, 30), (12, 15), 8)
    mask_p = ball((24, 30), (13, 15), 7)
    yield mask_p.astype(np.uint8) * 255, mask_g, {}         # 0/255 against bool: as masks
    yield mask_p.astype(np.uint8) * 2, mask_g.astype(np.uint8) * 3, {}   # two labels, Dice 0
    yield mask_p * 2 + (mask_p & mask_g), mask_g * 3, {"binary": True}
    yield np.zeros((10, 12), np.uint8), np.zeros((10, 12), np.uint8), {}  # both empty
    yield p.astype(np.float32), g.astype(np.int16), {"binary": False}
    yield (p * 1000).astype(np.int32), g * 700, {}          # large values: the general path


def test_compare_dask_equals_compare(rng):
    """Counted block by block (PRED and GT chunked differently), every count, ratio and the
    confusion matrix equal the in-memory comparison's."""
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.metrics import compare_dask

    for i, (p, g, kw) in enumerate(_dask_cases(rng)):
        ref = compare(p, g, distances=False, **kw)
        chunks_p = tuple(max(1, n // 3 + 1) for n in p.shape)
        got = compare_dask(da.from_array(p, chunks=chunks_p), da.from_array(g, chunks=7), **kw)
        assert _same(ref, got), i


def test_compare_dask_bad_input():
    da = pytest.importorskip("dask.array")
    from napari_segsuite.core.metrics import compare_dask

    with pytest.raises(InputError, match="shape"):
        compare_dask(da.zeros((4, 5), chunks=2), da.zeros((5, 4), chunks=2))
    with pytest.raises(InputError, match="negative"):
        compare_dask(da.full((4, 5), -1, chunks=2), da.zeros((4, 5), dtype=int, chunks=2))
    with pytest.raises(InputError, match="non-integer"):
        compare_dask(da.full((4, 5), 0.5, chunks=2), da.zeros((4, 5), dtype=int, chunks=2))
    with pytest.raises(InputError, match="spacing"):
        compare_dask(da.zeros((4, 5), dtype=int, chunks=2), da.zeros((4, 5), dtype=int, chunks=2),
                     spacing=(1.0,))


# -- issue 12: named results, one binary rule --------------------------------------------------------
@pytest.mark.parametrize("fast", [True, False])
def test_label_counts_are_named_and_keys_one_type(fast, monkeypatch):
    """count_steps returns a LabelCounts (not a 6-tuple whose key was an int or a lambda): every
    label maps to an int value in the count images, on both counting paths."""
    from napari_segsuite.core.base.progress import run
    from napari_segsuite.core.metrics import confusion

    if not fast:
        monkeypatch.setattr(confusion, "_FAST_BINS", 1)
    gt = np.array([[0, 7, 7, 9]], np.uint16)
    pred = np.array([[0, 7, 9, 9]], np.uint16)
    c = run(confusion.count_steps(pred, gt))
    assert isinstance(c, confusion.LabelCounts) and not c.binary
    assert c.labels.tolist() == [0, 7, 9]
    assert all(type(k) is int and type(v) is int for k, v in c.image_value.items())
    for lab in (7, 9):
        np.testing.assert_array_equal(c.pred_image == c.value_of(lab), pred == lab)
        np.testing.assert_array_equal(c.gt_image == c.value_of(lab), gt == lab)
    assert c.value_of(0) == 0 and c.value_of(4) == 0


def test_binary_mode_is_the_one_rule():
    from napari_segsuite.core.metrics.confusion import binary_mode

    assert binary_mode("yes") is True and binary_mode(True) is True
    assert binary_mode("no", instances=True, thresholded=True) is False
    assert binary_mode(None, instances=True) is True        # the command's default
    assert binary_mode("auto", instances=True) is None      # explicit auto: by the values
    assert binary_mode("auto", thresholded=True) is True
    assert binary_mode("auto", pred_values=[0, 1], gt_values=[0, 255]) is True
    assert binary_mode("auto", pred_values=[0, 1], gt_values=[0, 1, 255]) is False
    with pytest.raises(InputError):
        binary_mode("maybe")
    # compare and compare_dask ask it: 0/1 against 0/255 compared as masks, "no" label by label
    a = np.array([[0, 1, 1]], np.uint8)
    assert compare(a, a * 255, distances=False)["binary"]
    assert not compare(a, a * 255, distances=False, binary="no")["binary"]
