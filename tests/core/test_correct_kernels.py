"""The numba kernels of the correction operations (issue 13's speed work) give exactly what the
reference formulations give: scikit-image / scipy labelling and hole filling, scipy's exact
Euclidean distance transform, scipy's uniform and Gaussian filters, the numpy protection rule,
and the operations' own distance-transform code (``_distance._FAST = False``)."""

import numpy as np
import pytest
from scipy import ndimage as ndi
from skimage.measure import label as sk_label

import napari_segsuite.core.correct as C
from napari_segsuite.core.correct import _common, _distance, _islands, _protect

SPACINGS_3D = [(1.0, 1.0, 1.0), (1.2, 1.0, 1.0), (2.5, 0.7, 0.9)]


def _labels(shape, seed, n=4, specks=0.02):
    """A multi-label map of smooth blobs, with random specks of label n."""
    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.random(shape), 1.5)
    lo, mid, hi = np.quantile(field, [0.35, 0.6, 0.8])
    lab = np.zeros(shape, np.uint16)
    lab[field > lo] = 1
    lab[field > mid] = 2
    lab[field > hi] = 3
    lab[rng.random(shape) < specks] = n
    return lab


def _slow(monkeypatch, fn):
    """fn() with the distance-transform code instead of the kernels."""
    monkeypatch.setattr(_distance, "_FAST", False)
    try:
        return fn()
    finally:
        monkeypatch.setattr(_distance, "_FAST", True)


# --------------------------------------------------------------------------- islands and holes

@pytest.mark.parametrize("shape", [(23, 19), (9, 14, 11), (1, 7, 30), (12, 1, 5)])
@pytest.mark.parametrize("conn", ["face", "full"])
@pytest.mark.parametrize("acting", [None, [1, 3]])
def test_components_equal_scikit_image_label(shape, conn, acting):
    lab = _labels(shape, 1)
    comp, sizes, value = _islands.components(lab, acting, conn)
    work = lab if acting is None else np.where(np.isin(lab, acting), lab, 0)
    ref = sk_label(work, background=0, connectivity=1 if conn == "face" else lab.ndim)
    np.testing.assert_array_equal(comp, ref)
    np.testing.assert_array_equal(sizes, np.bincount(ref.ravel()))
    ref_value = np.zeros(sizes.size, np.int64)
    ref_value[ref.ravel()] = work.ravel()
    np.testing.assert_array_equal(value, ref_value)


@pytest.mark.parametrize("shape", [(31, 27), (14, 17, 12)])
@pytest.mark.parametrize("conn", ["face", "full"])
def test_holes_equal_scipy_fill_holes(shape, conn):
    rng = np.random.default_rng(2)
    mask = ndi.gaussian_filter(rng.random(shape), 1.0) > 0.5
    st = _common.structure(conn, mask.ndim)
    ref = ndi.binary_fill_holes(mask, structure=st) & ~mask
    np.testing.assert_array_equal(_islands._holes_fast(mask, st, None), ref)
    for ax in range(mask.ndim):
        st2 = _common.structure(conn, mask.ndim - 1)
        per = np.zeros_like(mask)
        for k in range(mask.shape[ax]):
            sl = tuple(k if i == ax else slice(None) for i in range(mask.ndim))
            per[sl] = ndi.binary_fill_holes(mask[sl], structure=st2) & ~mask[sl]
        np.testing.assert_array_equal(_islands._holes_fast(mask, st2, ax), per)


def test_fill_holes_multi_label_with_a_lock_matches_scipy():
    lab = np.zeros((12, 12, 12), np.uint8)
    lab[1:11, 1:11, 1:11] = 1
    lab[3:9, 3:9, 3:9] = 0
    lab[4:6, 4:6, 4:6] = 2           # an island of 2 inside 1's hole
    lab[6:8, 6:8, 6:8] = 3           # a locked label inside the hole
    out = C.fill_holes(lab, protect=C.Protection(locked={3}))
    hole = ndi.binary_fill_holes(lab == 1) & (lab == 0)
    expect = lab.copy()
    expect[hole] = 1
    np.testing.assert_array_equal(out, expect)


# --------------------------------------------------------------------------- distances

def test_margin_equals_scipy_edt_single_label():
    lab = _labels((20, 22, 18), 3, specks=0.0)
    for sp in SPACINGS_3D:
        for r in (1.0, 2.0, 3.1):
            out = C.margin(lab, r, spacing=sp, labels=[2], protect=C.Protection(overwrite=True))
            d = ndi.distance_transform_edt(lab != 2, sampling=sp)
            expect = lab.copy()
            expect[(d <= r * (1 + 1e-9)) & (lab != 2)] = 2
            np.testing.assert_array_equal(out, expect)


def test_shrink_and_hollow_equal_scipy_edt():
    lab = _labels((20, 22, 18), 4, specks=0.0)
    for sp in SPACINGS_3D:
        r = 2.0
        inside = np.zeros(lab.shape)
        for v in (1, 2, 3):
            # distance to the nearest voxel outside the label, in the array only
            m = lab == v
            d = ndi.distance_transform_edt(np.pad(m, 1, constant_values=True), sampling=sp)
            inside[m] = d[1:-1, 1:-1, 1:-1][m]
        expect = lab.copy()
        expect[(lab > 0) & (inside <= r * (1 + 1e-9))] = 0
        np.testing.assert_array_equal(C.margin(lab, -r, spacing=sp), expect)
        expect = lab.copy()
        expect[(lab > 0) & (inside > r * (1 + 1e-9))] = 0
        np.testing.assert_array_equal(C.hollow(lab, r, spacing=sp), expect)


CASES = [
    ("grow", lambda lab, sp, **k: C.margin(lab, 2.0, spacing=sp, **k)),
    ("grow large", lambda lab, sp, **k: C.margin(lab, 5.0, spacing=sp, **k)),
    ("shrink", lambda lab, sp, **k: C.margin(lab, -1.7, spacing=sp, **k)),
    ("hollow", lambda lab, sp, **k: C.hollow(lab, 1.5, spacing=sp, **k)),
    ("opening", lambda lab, sp, **k: C.smooth(lab, "opening", 2.0, spacing=sp, **k)),
    ("closing", lambda lab, sp, **k: C.smooth(lab, "closing", 2.0, spacing=sp, **k)),
    ("joint", lambda lab, sp, **k: C.smooth(lab, "joint", 1.5, spacing=sp, **k)),
]


@pytest.mark.parametrize("name,fn", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("sp", SPACINGS_3D + [(1.0, 1.0), (0.8, 1.3)])
def test_kernels_equal_the_distance_transform_code(monkeypatch, name, fn, sp):
    lab = _labels((16, 21, 19)[3 - len(sp):], 5)
    for kw in ({}, {"labels": [3, 1]},
               {"labels": [3], "protect": C.Protection(locked={1})},
               {"protect": C.Protection(overwrite=True, locked={2})}):
        fast = fn(lab, sp, **kw)
        slow = _slow(monkeypatch, lambda: fn(lab, sp, **kw))
        assert fast.dtype == slow.dtype
        np.testing.assert_array_equal(fast, slow, err_msg=f"{name} {sp} {kw}")


@pytest.mark.parametrize("pairs_max", [0, 10 ** 6])
@pytest.mark.parametrize("name,fn", CASES[:-1], ids=[c[0] for c in CASES[:-1]])
@pytest.mark.parametrize("sp", [(1.2, 1.0, 1.0), (2.5, 0.7, 0.9), (0.8, 1.3)])
def test_row_pairs_and_separable_passes_agree(monkeypatch, pairs_max, name, fn, sp):
    """The ball test by row pairs (small radii) and by separable passes (the others): both
    give the distance-transform code's result, whichever a radius would pick."""
    monkeypatch.setattr(_distance, "_PAIRS_MAX", pairs_max)
    lab = _labels((14, 17, 15)[3 - len(sp):], 11)
    for kw in ({}, {"labels": [2]}, {"protect": C.Protection(locked={1})}):
        fast = fn(lab, sp, **kw)
        slow = _slow(monkeypatch, lambda: fn(lab, sp, **kw))
        np.testing.assert_array_equal(fast, slow, err_msg=f"{name} {sp} {kw} {pairs_max}")


def test_margin_below_the_spacing_changes_nothing():
    """A radius shorter than every voxel step holds no neighbour: the map is unchanged (several
    labels used to fail in the kernels' padding with an empty ball)."""
    lab = _labels((9, 10, 11), 13)
    for sp in ((1.0, 1.0, 1.0), (2.5, 0.9, 0.9)):
        for kw in ({}, {"labels": [2]}):
            np.testing.assert_array_equal(C.margin(lab, 0.8, spacing=sp, **kw), lab)
            np.testing.assert_array_equal(C.margin(lab, -0.8, spacing=sp, **kw), lab)


def test_row_pairs_are_the_ball():
    """Each (dz, dy, w) row of the pairs covers exactly the ball's offsets in that row."""
    from napari_segsuite.core.correct import _kernels as K

    for sp in SPACINGS_3D:
        for r in (1.0, 1.5, 2.0, 2.4, 3.0):
            sz2, sy2, sx2, thr, pairs = _distance._ball_rows(r, sp)
            got = {(int(dz), int(dy), dx) for dz, dy, w in pairs for dx in range(-w, w + 1)}
            ball = {tuple(int(v) for v in o) for o in K.ball(r, sp)} | {(0, 0, 0)}
            assert got == ball, (sp, r)


def test_label_boxes_equal_bbox():
    lab = _labels((13, 16, 11), 12)
    lab[:, :, :] = np.where(lab == 2, 0, lab)           # label 2 absent
    for arr in (lab, lab[5], lab.astype(bool)):
        labels = [1, 2, 3, 4] if arr.dtype != bool else [1]
        for pad in (0, 2, (1, 3, 0)[:arr.ndim]):
            got = _common.label_boxes(arr, labels, pad=pad)
            assert got == [_common.bbox(arr == v, pad=pad) for v in labels]


@pytest.mark.parametrize("twod", [False, True])
def test_median_equals_scipy_uniform_filter(twod):
    lab = _labels((15, 18, 16), 6)
    spacings = SPACINGS_3D
    if twod:
        lab, spacings = lab[7], [(1.0, 1.0), (0.8, 1.3)]
    for sp in spacings:
        half = tuple(int(round(2.0 / s)) for s in sp)
        size = tuple(2 * h + 1 for h in half)
        expect = lab.copy()
        for v in (1, 2, 3, 4):
            frac = ndi.uniform_filter((lab == v).astype(np.float64), size=size, mode="nearest")
            expect[(lab == v) & ~(frac > 0.5)] = 0
            expect[(frac > 0.5) & (lab != v)] = v
        out = C.smooth(lab, "median", 2.0, spacing=sp, protect=C.Protection(overwrite=True))
        np.testing.assert_array_equal(out, expect)
    mask = lab == 2                                   # a boolean mask: one label
    frac = ndi.uniform_filter(mask.astype(np.float64), size=size, mode="nearest")
    np.testing.assert_array_equal(C.smooth(mask, "median", 2.0, spacing=sp), frac > 0.5)


# --------------------------------------------------------------------------- scans and protection

def test_present_labels_equals_unique():
    rng = np.random.default_rng(8)
    for dtype in (np.uint8, np.uint16, np.int32, np.int64):
        a = rng.integers(0, 60, (7, 9, 5)).astype(dtype)
        a[a > 40] = 0
        assert _common.present_labels(a) == [int(v) for v in np.unique(a) if v != 0]
    neg = np.array([[-3, 0, 5]], np.int32)     # outside the look-up table: numpy's path
    assert _common.present_labels(neg) == [-3, 5]


def _numpy_protection(before, after, protect, acting, joint):
    """The rule through the numpy code (the kernel's path switched off)."""
    real = _protect._fast
    _protect._fast = lambda *a: False
    try:
        return _protect.apply_protection(before, after.copy(), protect, acting, joint)
    finally:
        _protect._fast = real


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize("joint", [False, True])
@pytest.mark.parametrize("editable", [False, True])
def test_protection_kernel_equals_numpy_rule(overwrite, joint, editable):
    rng = np.random.default_rng(9)
    before = rng.integers(0, 6, (10, 11, 12)).astype(np.uint8)
    after = rng.integers(0, 9, before.shape).astype(np.uint8)  # 6..8: new labels
    mask = rng.random(before.shape) > 0.3 if editable else None
    prot = C.Protection(locked={2}, editable=mask, overwrite=overwrite)
    ref = _numpy_protection(before, after, prot, [1, 3], joint)
    got = _protect.apply_protection(before, after.copy(), prot, [1, 3], joint)
    np.testing.assert_array_equal(got, ref)
    assert ((got != before) <= (ref != before)).all()


def test_relabel_and_merge_equal_their_definitions():
    lab = np.array([[0, 7, 7, 30], [5, 0, 30, 2]], np.uint16)
    np.testing.assert_array_equal(C.relabel_sequential(lab),
                                  [[0, 3, 3, 4], [2, 0, 4, 1]])
    np.testing.assert_array_equal(C.relabel_sequential(lab, protect=C.Protection(locked={2})),
                                  [[0, 3, 3, 4], [1, 0, 4, 2]])
    np.testing.assert_array_equal(C.merge_labels(lab, 5, [7, 30]),
                                  [[0, 5, 5, 5], [5, 0, 5, 2]])
