"""The compiled kernels behind the surface figures, against the libraries they stand in for:
our Lee thinning (clDice's 3D skeletons) voxel for voxel against scikit-image's skeletonize, our
distance transform against scipy's, the window search against a k-d tree, the label boxes
against scipy's find_objects; and NSD / robust HD95 on real anatomy against surface-distance."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree
from skimage.morphology import skeletonize

from napari_segsuite.core.metrics import compare
from napari_segsuite.core.metrics._edt import squared_edt
from napari_segsuite.core.metrics._thinning import skeletonize_3d
from napari_segsuite.core.metrics.distances import _nearest_distances, label_boxes


def random_mask(seed, max_side=26):
    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(1, max_side, 3))
    noise = ndi.gaussian_filter(rng.random(shape), rng.uniform(0.5, 3.0))
    return noise > np.quantile(noise, rng.uniform(0.2, 0.8))


@pytest.mark.parametrize("seed", range(24))
def test_thinning_equals_scikit_image_on_random_shapes(seed):
    m = random_mask(seed)
    np.testing.assert_array_equal(skeletonize_3d(m), skeletonize(m).astype(bool))


def test_thinning_equals_scikit_image_on_special_cases():
    cases = []
    m = np.zeros((2, 1, 4), bool)  # an L of three voxels: scikit-image deletes it all
    m[0, 0, 3] = m[1, 0, 2] = m[1, 0, 3] = True
    cases.append(m)
    m = np.zeros((1, 9, 9), bool)  # a single plane: four directions only
    m[0, 2:7, 1:8] = True
    cases.append(m)
    m = np.zeros((9, 9, 9), bool)  # a single plane inside a volume: all six
    m[4, 2:7, 1:8] = True
    cases.append(m)
    m = np.zeros((12, 12, 12), bool)  # a hollow cube (a cavity) and a ring (a tunnel)
    m[2:10, 2:10, 2:10] = True
    m[4:8, 4:8, 4:8] = False
    cases.append(m)
    m = np.zeros((5, 12, 12), bool)
    m[1:4, 2:10, 2:10] = True
    m[:, 4:8, 4:8] = False
    cases.append(m)
    cases.append(np.ones((6, 7, 8), bool))  # touching the array border everywhere
    cases.append(np.zeros((4, 4, 4), bool))
    for m in cases:
        np.testing.assert_array_equal(skeletonize_3d(m), skeletonize(m).astype(bool))


def test_thinning_equals_scikit_image_on_real_anatomy():
    from napari_segsuite.samples import real

    if real.skip_reason("mni152"):
        pytest.skip(real.skip_reason("mni152"))
    lab = np.asarray(real.mni152().labels["labels"].array)
    crop = lab[70:110, 60:120, 50:110]
    for v in (1, 2, 3):  # CSF, grey matter (thin, folded), white matter
        m = crop == v
        assert m.any()
        np.testing.assert_array_equal(skeletonize_3d(m), skeletonize(m).astype(bool))


@pytest.mark.parametrize("seed", range(12))
def test_distance_transform_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    ndim = 2 + seed % 2
    shape = tuple(int(n) for n in rng.integers(1, 30, ndim))
    feat = rng.random(shape) < rng.uniform(0.002, 0.3)
    feat.flat[int(rng.integers(feat.size))] = True
    spacing = tuple(rng.uniform(0.3, 3.0, ndim))
    ours = np.sqrt(squared_edt(feat, spacing))
    ref = ndi.distance_transform_edt(~feat, sampling=spacing)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=0)


def test_distance_transform_without_features_is_inf():
    assert np.isinf(squared_edt(np.zeros((3, 4), bool), (1.0, 1.0))).all()


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.5, 0.8), (0.6, 2.0)])
def test_window_search_and_both_fallbacks_match_a_kdtree(spacing):
    rng = np.random.default_rng(7)
    shape = (40, 36, 30)[:len(spacing)]
    dst = ndi.gaussian_filter(rng.random(shape), 2) > 0.56
    dst[(slice(0, 8),) * len(shape)] = False
    far = np.zeros(shape, bool)  # points far from dst: left over by the window search
    far[(slice(0, 3),) * len(shape)] = True
    near = rng.random(shape) < 0.05
    sp = np.asarray(spacing)
    tree = cKDTree(np.argwhere(dst) * sp)
    for method in ("auto", "kdtree", "edt"):
        got = _nearest_distances(dst, (near, far), spacing, method)
        for q, d in zip((near, far), got):
            np.testing.assert_allclose(d, tree.query(np.argwhere(q) * sp)[0], rtol=1e-12)


def test_label_boxes_match_find_objects():
    rng = np.random.default_rng(3)
    for _ in range(20):
        ndim = int(rng.integers(2, 4))
        shape = tuple(int(n) for n in rng.integers(1, 15, ndim))
        img = (rng.random(shape) < 0.1) * rng.integers(1, 6, shape)
        img = img.astype(rng.choice([np.uint8, np.uint16, np.int32, np.int64]))
        assert label_boxes(img, 5) == list(ndi.find_objects(img, max_label=5))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.9, 0.7)])
def test_nsd_and_hd95_deepmind_match_surface_distance_on_real_anatomy(spacing):
    """Tissue classes of the MNI152 template against a copy shifted by one voxel with voxels
    dropped: folded, real surfaces, isotropic and anisotropic."""
    sd = pytest.importorskip("surface_distance.metrics")
    from napari_segsuite.samples import real

    if real.skip_reason("mni152"):
        pytest.skip(real.skip_reason("mni152"))
    gt = np.asarray(real.mni152().labels["labels"].array)[60:120, 50:130, 40:120].astype(np.uint8)
    pred = np.roll(gt, 1, axis=2)
    pred[np.random.default_rng(0).random(gt.shape) < 0.02] = 0
    r = compare(pred, gt, spacing=spacing, tolerance=1.0, hd95="deepmind")
    for lab in (1, 2, 3):
        d = sd.compute_surface_distances(gt == lab, pred == lab, spacing)
        m = r["per_label"][str(lab)]
        assert m["nsd"] == pytest.approx(sd.compute_surface_dice_at_tolerance(d, 1.0), rel=1e-12)
        assert m["hd95"] == pytest.approx(sd.compute_robust_hausdorff(d, 95), rel=1e-12)
