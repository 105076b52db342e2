"""Instance matching (PQ/SQ/RQ, F1 at IoU thresholds, lesion counts) against an independent
implementation written here: IoU of every pair from per-object masks, optimal one-to-one matching
with scipy's Hungarian solver, on real instance labels (scikit-image's coins photograph segmented
two ways) and on the nuclei sample."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.optimize import linear_sum_assignment

from napari_segsuite.core.metrics import compare
from napari_segsuite.core.metrics.instances import IOU_THRESHOLDS, instance_figures
from napari_segsuite.io.reports import to_json


def reference(pred, gt, thr=0.5):
    """Kirillov et al.'s PQ by brute force: IoU matrix, Hungarian matching, keep IoU > thr."""
    gids = [v for v in np.unique(gt) if v]
    pids = [v for v in np.unique(pred) if v]
    iou = np.zeros((len(gids), len(pids)))
    for i, g in enumerate(gids):
        gm = gt == g
        for j in np.unique(pred[gm]):
            if j == 0:
                continue
            pm = pred == j
            iou[i, pids.index(j)] = (gm & pm).sum() / (gm | pm).sum()
    if iou.size:
        r, c = linear_sum_assignment(-iou)
        matched = iou[r, c][iou[r, c] > thr]
    else:
        matched = np.zeros(0)
    tp = len(matched)
    fp, fn = len(pids) - tp, len(gids) - tp
    den = tp + fp / 2 + fn / 2
    return {"pq": matched.sum() / den if den else math.nan,
            "sq": matched.mean() if tp else math.nan,
            "rq": tp / den if den else math.nan, "tp": tp, "fp": fp, "fn": fn}


def coins_pair():
    """Real instance labels: the coins photograph segmented by region growing from markers
    (scikit-image's tutorial: Sobel elevation + watershed) and by an Otsu threshold."""
    from skimage import data, filters, measure, morphology, segmentation

    img = data.coins()
    markers = np.zeros_like(img, dtype=np.uint8)
    markers[img < 30] = 1
    markers[img > 150] = 2
    fg = segmentation.watershed(filters.sobel(img), markers) == 2
    fg = ndi.binary_fill_holes(fg)
    gt = measure.label(morphology.remove_small_objects(fg, 30))
    pred = measure.label(morphology.remove_small_objects(
        ndi.binary_fill_holes(img > filters.threshold_otsu(img)), 30))
    return pred, gt


def nuclei_pair():
    """The nuclei sample's instances against a damaged copy: objects dropped, eroded, merged
    with a touching neighbour, and spurious blobs added."""
    from napari_segsuite.samples import get_sample

    gt = get_sample("nuclei").make(seed=0, scale=1.0).labels["labels"].array.astype(np.int32)
    rng = np.random.default_rng(0)
    pred = gt.copy()
    ids = np.unique(gt)[1:]
    for v in rng.choice(ids, 8, replace=False):
        pred[pred == v] = 0
    for v in rng.choice(ids, 15, replace=False):
        m = pred == v
        pred[m & ~ndi.binary_erosion(m, iterations=2)] = 0
    from napari_segsuite.samples.nuclei import touching_pairs

    for i, j in list(touching_pairs(gt))[:4]:
        pred[pred == j] = i
    yy, xx = np.mgrid[: gt.shape[0], : gt.shape[1]]
    for k in range(5):
        cy, cx = rng.integers(10, gt.shape[0] - 10, 2)
        pred[((yy - cy) ** 2 + (xx - cx) ** 2 < 16) & (pred == 0)] = 1000 + k
    return pred, gt


@pytest.mark.parametrize("make", [coins_pair, nuclei_pair], ids=["coins", "nuclei"])
def test_pq_matches_independent_hungarian_implementation(make):
    pred, gt = make()
    got = instance_figures(pred, gt)
    ref = reference(pred, gt)
    assert got["tp"] == ref["tp"] > 5 and got["fp"] == ref["fp"] and got["fn"] == ref["fn"]
    assert got["fp"] + got["fn"] > 0
    for k in ("pq", "sq", "rq"):
        assert got[k] == pytest.approx(ref[k], rel=1e-12), k
    assert got["f1"] == got["rq"] and got["mean_matched_iou"] == got["sq"]
    assert got["precision"] == pytest.approx(ref["tp"] / (ref["tp"] + ref["fp"]))
    assert got["recall"] == pytest.approx(ref["tp"] / (ref["tp"] + ref["fn"]))
    assert got["pq"] == pytest.approx(got["sq"] * got["rq"])
    for t in (0.5, 0.7, 0.9):
        r = reference(pred, gt, t)
        assert got["f1_at"][f"{t:.2f}"] == pytest.approx(
            2 * r["tp"] / (2 * r["tp"] + r["fp"] + r["fn"]))
    f1s = [got["f1_at"][f"{t:.2f}"] for t in IOU_THRESHOLDS]
    assert f1s == sorted(f1s, reverse=True) and f1s[0] == pytest.approx(got["f1"])


def test_lesion_counts_and_binary_masks_split_into_components():
    gt = np.zeros((40, 40), np.uint8)
    gt[2:8, 2:8] = 1      # found well
    gt[12:16, 12:16] = 1  # touched by a small blob only: detected, but no IoU match
    gt[25:30, 25:30] = 1  # missed
    pred = np.zeros_like(gt)
    pred[2:8, 3:9] = 1
    pred[12:13, 12:13] = 1
    pred[33:37, 2:6] = 1  # false positive
    inst = instance_figures(pred, gt)
    assert (inst["tp"], inst["fp"], inst["fn"]) == (1, 2, 2)
    les = inst["lesions"]
    assert (les["gt"], les["pred"], les["detected"], les["missed"], les["false_positive"]) == \
        (3, 3, 2, 1, 1)
    assert les["sensitivity"] == pytest.approx(2 / 3)


def test_instances_empty_conventions():
    z = np.zeros((10, 10), np.uint8)
    one = z.copy()
    one[2:5, 2:5] = 1
    none = instance_figures(z, z)
    assert (none["tp"], none["fp"], none["fn"]) == (0, 0, 0)
    assert all(math.isnan(none[k]) for k in ("pq", "sq", "rq", "f1", "precision", "recall"))
    only_gt = instance_figures(z, one)
    assert only_gt["pq"] == 0.0 and only_gt["rq"] == 0.0 and only_gt["recall"] == 0.0
    assert math.isnan(only_gt["sq"]) and math.isnan(only_gt["precision"])
    only_pred = instance_figures(one, z)
    assert only_pred["fp"] == 1 and only_pred["precision"] == 0.0 and math.isnan(only_pred["recall"])


def test_compare_instances_key_and_json():
    pred, gt = coins_pair()
    r = compare(pred, gt, binary=True, instances=True)
    assert list(r["instances"])[:10] == ["pq", "sq", "rq", "f1", "precision", "recall", "tp",
                                         "fp", "fn", "mean_matched_iou"]
    assert r["labels"] == [1]  # the foregrounds, label by label
    assert '"instances"' in to_json(r)
