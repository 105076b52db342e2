"""Surface, boundary and count figures beyond Dice (issue 15) against the reference libraries:
DeepMind's surface-distance (NSD, robust HD95, surface elements), MedPy (HD95, ASSD), MONAI
(HD95, ASSD, surface Dice), scikit-learn (MCC, kappa); boundary IoU and clDice against
independent full-image implementations; the empty-mask conventions.

DeepMind's PyPI package (surface-distance 0.1) still uses ``np.Inf``/``np.NaN``, gone in numpy 2:
it raises on an empty mask, so it is compared on non-empty masks only.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi
from sklearn import metrics as skm

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.metrics import compare, surface_distances
from napari_segsuite.core.metrics._surfels import area_table
from napari_segsuite.core.metrics.surface import boundary_region
from napari_segsuite.io.reports import to_json

surface_distance = pytest.importorskip("surface_distance")
from surface_distance import lookup_tables as sd_tables  # noqa: E402
from surface_distance import metrics as sd  # noqa: E402

CASES = [((30, 36, 34), (1.0, 1.0, 1.0)), ((30, 36, 34), (2.5, 0.7, 1.1)),
         ((64, 70), (1.0, 1.0)), ((64, 70), (1.3, 0.6))]


def blob(shape, seed, frac=0.3, sigma=3.0):
    noise = ndi.gaussian_filter(np.random.default_rng(seed).random(shape), sigma)
    return noise > np.quantile(noise, 1 - frac)


@pytest.fixture(scope="module", params=range(len(CASES)), ids=lambda i: f"{CASES[i][0]}-{CASES[i][1]}")
def pair(request):
    shape, spacing = CASES[request.param]
    gt = blob(shape, 1)
    pred = blob(shape, 2, frac=0.12) | (gt & (np.random.default_rng(3).random(shape) < 0.9))
    return pred, gt, spacing


def ours(pred, gt, spacing, **kw):
    return compare(pred.astype(np.uint8), gt.astype(np.uint8), spacing=spacing, **kw)["per_label"]["1"]


# -- DeepMind ------------------------------------------------------------------------------------
@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.7, 1.3), (1.0, 1.0), (2.0, 0.7)])
def test_surfel_areas_equal_deepmind_tables(spacing):
    ref = (sd_tables.create_table_neighbour_code_to_surface_area(spacing) if len(spacing) == 3
           else sd_tables.create_table_neighbour_code_to_contour_length(spacing))
    np.testing.assert_allclose(area_table(spacing), ref, rtol=0, atol=1e-12)


def test_nsd_and_hd95_deepmind_match_surface_distance(pair):
    pred, gt, spacing = pair
    dists = sd.compute_surface_distances(gt, pred, spacing)
    for tol in (0.5, 1.0, 2.0, 3.7):
        m = ours(pred, gt, spacing, tolerance=tol, hd95="deepmind")
        assert m["nsd"] == pytest.approx(sd.compute_surface_dice_at_tolerance(dists, tol),
                                         rel=1e-12)
    assert 0 < m["nsd"] < 1
    assert m["hd95"] == pytest.approx(sd.compute_robust_hausdorff(dists, 95), rel=1e-12)
    assert m["assd"] == pytest.approx(np.mean(sd.compute_average_surface_distance(dists)),
                                      rel=1e-9)


def test_multilabel_nsd_matches_surface_distance_per_label():
    """Per label through the cropped multi-label path, with anisotropic spacing."""
    rng = np.random.default_rng(5)
    noise = ndi.gaussian_filter(rng.random((4, 28, 40, 36)), (0, 2.5, 2.5, 2.5))
    gt = np.argmax(noise, axis=0).astype(np.uint8)
    pred = np.argmax(noise + 0.02 * rng.standard_normal(noise.shape), axis=0).astype(np.uint8)
    spacing = (2.0, 0.9, 0.8)
    r = compare(pred, gt, spacing=spacing, tolerance=1.5, hd95="deepmind")
    for lab in (1, 2, 3):
        dists = sd.compute_surface_distances(gt == lab, pred == lab, spacing)
        m = r["per_label"][str(lab)]
        assert m["nsd"] == pytest.approx(sd.compute_surface_dice_at_tolerance(dists, 1.5))
        assert m["hd95"] == pytest.approx(sd.compute_robust_hausdorff(dists, 95))


# -- MedPy ---------------------------------------------------------------------------------------
def test_hd95_and_assd_medpy_match_medpy(pair):
    from medpy.metric import binary as mb

    pred, gt, spacing = pair
    m = ours(pred, gt, spacing)  # the default convention
    assert m["hd95"] == pytest.approx(mb.hd95(pred, gt, voxelspacing=spacing), rel=1e-12)
    assert m["assd"] == pytest.approx(mb.assd(pred, gt, voxelspacing=spacing), rel=1e-12)
    d = surface_distances(pred, gt, spacing, convention="medpy")
    assert d["hd95"] == m["hd95"]


# -- MONAI ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def monai_metrics():
    torch = pytest.importorskip("torch")
    from monai.metrics import (compute_average_surface_distance, compute_hausdorff_distance,
                               compute_surface_dice)

    def t(mask):
        return torch.from_numpy(np.ascontiguousarray(mask)[None, None]).float()

    return t, compute_hausdorff_distance, compute_average_surface_distance, compute_surface_dice


def test_hd95_assd_and_nsd_monai_match_monai(pair, monai_metrics):
    t, hd_fn, asd_fn, nsd_fn = monai_metrics
    pred, gt, spacing = pair
    m = ours(pred, gt, spacing, hd95="monai", tolerance=1.5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = float(hd_fn(t(pred), t(gt), include_background=True, percentile=95,
                         spacing=spacing))
        asd = float(asd_fn(t(pred), t(gt), include_background=True, symmetric=True,
                           spacing=spacing))
        nsd = float(nsd_fn(t(pred), t(gt), [1.5], include_background=True, spacing=spacing,
                           use_subvoxels=True))
    assert m["hd95"] == pytest.approx(hd, rel=1e-6)  # MONAI computes in float32
    assert m["assd"] == pytest.approx(asd, rel=1e-6)
    assert m["nsd"] == pytest.approx(nsd, rel=1e-6)
    # the three conventions differ on this pair, and MONAI's is the larger of its directed ones
    dm = ours(pred, gt, spacing, hd95="deepmind")
    md = ours(pred, gt, spacing, hd95="medpy")
    assert m["hd95"] >= md["hd95"]
    assert len({m["hd95"], md["hd95"], dm["hd95"]}) >= 2


# -- scikit-learn: MCC, kappa; volume difference ---------------------------------------------------
def test_mcc_kappa_volume_difference_match_sklearn():
    rng = np.random.default_rng(7)
    noise = ndi.gaussian_filter(rng.random((5, 40, 44)), (0, 2, 2))
    gt = np.argmax(noise, axis=0).astype(np.uint8)
    pred = gt.copy()
    flip = rng.random(gt.shape) < 0.15
    pred[flip] = rng.integers(0, 5, flip.sum())
    pred[pred == 4] = 6  # a label only PRED has, and GT's 4 only GT has
    r = compare(pred, gt, distances=False)
    for lab in r["labels"]:
        m = r["per_label"][str(lab)]
        a, b = (pred == lab).ravel(), (gt == lab).ravel()
        if a.any() and b.any():
            assert m["mcc"] == pytest.approx(skm.matthews_corrcoef(b, a), rel=1e-12)
        g_size = int(b.sum())
        want = (int(a.sum()) - g_size) / g_size if g_size else None
        assert (m["volume_difference"] == pytest.approx(want)) if want is not None \
            else math.isnan(m["volume_difference"])
    assert r["kappa"] == pytest.approx(skm.cohen_kappa_score(gt.ravel(), pred.ravel()),
                                       rel=1e-12)
    assert r["per_label"]["6"]["volume_difference"] != r["per_label"]["6"]["volume_difference"]


def test_kappa_and_mcc_known_values():
    gt = np.zeros((10, 10), np.uint8)
    gt[:5] = 1
    assert compare(gt, gt, distances=False)["kappa"] == 1.0
    r = compare(1 - gt, gt, distances=False)  # everything swapped
    assert r["kappa"] == pytest.approx(-1.0) and r["per_label"]["1"]["mcc"] == pytest.approx(-1)
    same = np.ones((4, 4), np.uint8)
    assert math.isnan(compare(same, same, distances=False)["kappa"])  # p_e = 1


# -- boundary IoU and clDice against independent implementations ----------------------------------
def ref_band(mask, spacing, d):
    m = np.pad(mask, 1)
    edt = ndi.distance_transform_edt(m, sampling=spacing)
    face = m & ~ndi.binary_erosion(m, ndi.generate_binary_structure(m.ndim, 1), border_value=0)
    band = (m & (edt <= d + 1e-9)) | face
    return band[tuple(slice(1, -1) for _ in range(m.ndim))]


@pytest.mark.parametrize("d", [0.3, 1.0, 2.0, 6.0])
def test_boundary_iou_matches_full_image_reference(pair, d):
    pred, gt, spacing = pair
    for mask in (pred, gt):
        np.testing.assert_array_equal(boundary_region(mask, spacing, d), ref_band(mask, spacing, d))
    a, b = ref_band(pred, spacing, d), ref_band(gt, spacing, d)
    m = ours(pred, gt, spacing, tolerance=d)
    assert m["boundary_iou"] == pytest.approx((a & b).sum() / (a | b).sum(), rel=1e-12)


def test_boundary_iou_is_stricter_than_iou_for_large_objects():
    gt = np.zeros((80, 80), bool)
    gt[10:70, 10:70] = True
    pred = np.roll(gt, 2, axis=1)
    m = ours(pred, gt, (1.0, 1.0))
    assert m["boundary_iou"] < m["iou"]
    assert ours(gt, gt, (1.0, 1.0))["boundary_iou"] == 1.0


def test_cldice_matches_reference_on_tubes():
    """Vessel-like tubes: clDice as Shit et al.'s reference code computes it (full image)."""
    from skimage.morphology import skeletonize

    yy, xx = np.mgrid[:120, :120]
    gt = np.zeros((120, 120), bool)
    pred = np.zeros_like(gt)
    for k, (a, c) in enumerate([(0.05, 30), (0.08, 70), (-0.04, 95)]):
        gt |= np.abs(yy - (c + 12 * np.sin(a * xx))) < 3
        if k != 1:
            pred |= np.abs(yy - (c + 1 + 12 * np.sin(a * xx))) < 2.5
    pred[:, 50:54] = False  # a gap
    tprec = (skeletonize(pred) & gt).sum() / skeletonize(pred).sum()
    tsens = (skeletonize(gt) & pred).sum() / skeletonize(gt).sum()
    want = 2 * tprec * tsens / (tprec + tsens)
    m = ours(pred, gt, (1.0, 1.0))
    assert m["cldice"] == pytest.approx(want, rel=1e-12)
    assert m["cldice"] < 0.8  # one vessel missed, one cut
    assert ours(gt, gt, (1.0, 1.0))["cldice"] == 1.0


# -- empty masks -----------------------------------------------------------------------------------
def test_empty_mask_conventions_every_combination():
    a = np.zeros((12, 14, 16), np.uint8)
    a[3:8, 4:10, 5:12] = 1
    pred = a.copy()
    pred[pred == 1] = 2          # label 1: GT only; label 2: PRED only; label 3: neither
    r = compare(pred, a, spacing=(1.0, 2.0, 1.0), labels=[1, 2, 3])
    only_gt, only_pred, neither = (r["per_label"][k] for k in ("1", "2", "3"))
    for m in (only_gt, only_pred, neither):
        for k in ("hausdorff", "hd95", "assd"):
            assert math.isnan(m[k])
    assert only_gt["nsd"] == 0.0 and only_pred["nsd"] == 0.0 and neither["nsd"] == 1.0
    assert only_gt["boundary_iou"] == 0.0 and only_pred["boundary_iou"] == 0.0
    assert only_gt["cldice"] == 0.0 and only_pred["cldice"] == 0.0
    assert math.isnan(neither["boundary_iou"]) and math.isnan(neither["cldice"])
    assert only_gt["volume_difference"] == -1.0
    assert math.isnan(only_pred["volume_difference"]) and math.isnan(neither["volume_difference"])
    assert math.isnan(neither["mcc"]) and math.isnan(neither["dice"])
    assert only_gt["tp"] == 0 and only_gt["fn"] == int(a.sum())  # raw counts kept
    text = to_json(r)
    assert "NaN" not in text and '"nsd": 1.0' in text
    for conv in ("monai", "deepmind"):
        d = surface_distances(np.zeros_like(a), a, convention=conv)
        assert all(math.isnan(v) for v in d.values())


def test_bad_tolerance_or_convention_is_an_input_error():
    a = np.ones((4, 4), np.uint8)
    with pytest.raises(InputError, match="tolerance"):
        compare(a, a, tolerance=-1)
    with pytest.raises(InputError, match="convention"):
        compare(a, a, hd95="seg-metrics")
