"""core.correct: every operation against brute force, SciPy, SimpleITK and ITK references."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage as ndi

import napari_segsuite.core.correct as C
from napari_segsuite.core.correct import Protection
from napari_segsuite.core.base.errors import InputError

ANISO3 = (2.5, 1.0, 0.75)


# ------------------------------------------------------------------ fixtures and references

def blobs(shape, n, seed, labels=(1, 2, 3)):
    """A multi-label map: random smooth blobs (islands, holes and touching labels)."""
    rng = np.random.default_rng(seed)
    out = np.zeros(shape, np.uint8)
    for k in range(n):
        field = ndi.gaussian_filter(rng.random(shape), 1.5)
        thr = np.quantile(field, 0.85)
        out[(field > thr) & (out == 0)] = labels[k % len(labels)]
    return out


def offsets_within(r, spacing):
    """Every voxel offset whose physical length is <= r (brute force)."""
    reach = [int(np.floor(r / s + 1e-9)) for s in spacing]
    offs = np.array(list(itertools.product(*[range(-k, k + 1) for k in reach])))
    length = np.sqrt(((offs * np.asarray(spacing)) ** 2).sum(1))
    return offs[length <= r + 1e-9]


def ball(r, spacing):
    offs = offsets_within(r, spacing)
    reach = np.abs(offs).max(0)
    fp = np.zeros(tuple(2 * reach + 1), bool)
    fp[tuple((offs + reach).T)] = True
    return fp


def brute_distance(mask_from, targets, spacing):
    """Min physical distance from every voxel to the nearest True voxel of ``targets``."""
    pts = np.argwhere(targets) * np.asarray(spacing)
    allp = np.argwhere(np.ones(mask_from.shape, bool)) * np.asarray(spacing)
    if len(pts) == 0:
        return np.full(mask_from.shape, np.inf)
    d = np.sqrt(((allp[:, None, :] - pts[None]) ** 2).sum(-1)).min(1)
    return d.reshape(mask_from.shape)


CASES = [((9, 11, 10), ANISO3), ((24, 26), (1.0, 1.0)), ((24, 26), (0.5, 1.25)),
         ((8, 9, 10), (1.0, 1.0, 1.0))]


# ------------------------------------------------------------------ margin, hollow (voxel-exact)

@pytest.mark.parametrize("shape,spacing", CASES)
@pytest.mark.parametrize("r", [1.0, 1.6, 2.5])
def test_margin_grow_is_every_background_voxel_within_r(shape, spacing, r):
    lab = blobs(shape, 2, seed=len(shape) + int(r * 10), labels=(1,))
    lab[lab == 0] = 0
    out = C.margin(lab, r, spacing=spacing)
    d = brute_distance(lab, lab == 1, spacing)
    expect = lab.copy()
    expect[(lab == 0) & (d <= r + 1e-9)] = 1
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("shape,spacing", CASES)
def test_margin_multilabel_grows_into_background_only_nearest_label(shape, spacing):
    lab = blobs(shape, 3, seed=3)
    r = 1.5
    out = C.margin(lab, r, spacing=spacing)
    # labelled voxels never change without overwrite
    np.testing.assert_array_equal(out[lab != 0], lab[lab != 0])
    dists = {v: brute_distance(lab, lab == v, spacing) for v in (1, 2, 3)}
    dmin = np.minimum.reduce(list(dists.values()))
    grown = (lab == 0) & (dmin <= r + 1e-9)
    np.testing.assert_array_equal(out != 0, (lab != 0) | grown)
    # each grown voxel took one of its nearest labels
    for v in (1, 2, 3):
        sel = grown & (out == v)
        assert np.allclose(dists[v][sel], dmin[sel])


@pytest.mark.parametrize("shape,spacing", CASES)
@pytest.mark.parametrize("r", [1.0, 1.3, 2.0])
def test_margin_shrink_keeps_voxels_farther_than_r_from_outside(shape, spacing, r):
    lab = blobs(shape, 3, seed=5)
    out = C.margin(lab, -r, spacing=spacing)
    expect = np.zeros_like(lab)
    for v in (1, 2, 3):
        d = brute_distance(lab, lab != v, spacing)
        expect[(lab == v) & (d > r + 1e-9)] = v
    np.testing.assert_array_equal(out, expect)


@pytest.mark.parametrize("shape,spacing", CASES)
def test_hollow_is_the_label_minus_its_shrink(shape, spacing):
    lab = blobs(shape, 3, seed=7)
    t = 1.2
    out = C.hollow(lab, t, spacing=spacing)
    expect = np.zeros_like(lab)
    for v in (1, 2, 3):
        d = brute_distance(lab, lab != v, spacing)
        expect[(lab == v) & (d <= t + 1e-9)] = v
    np.testing.assert_array_equal(out, expect)
    shrunk = C.margin(lab, -t, spacing=spacing)
    np.testing.assert_array_equal(out, np.where(shrunk != 0, 0, lab))


def test_margin_against_simpleitk_on_a_larger_anisotropic_volume():
    lab = blobs((30, 40, 36), 2, seed=11, labels=(4,))
    sp = (3.0, 0.8, 0.8)
    img = sitk.GetImageFromArray(lab)
    img.SetSpacing(sp[::-1])
    dist = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
        img == 4, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))
    for r in (2.3, 3.7, 6.1):   # away from lattice distances: ITK works in float32
        out = C.margin(lab, r, spacing=sp)
        np.testing.assert_array_equal(out, np.where((lab == 0) & (dist <= r), 4, lab))


# ------------------------------------------------------------------ islands and holes

def _sitk_components(mask, full):
    cc = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), full)
    return sitk.GetArrayFromImage(cc)


@pytest.mark.parametrize("connectivity", ["face", "full"])
@pytest.mark.parametrize("shape", [(40, 44), (14, 16, 18)])
def test_remove_islands_keep_largest_split_against_simpleitk(connectivity, shape):
    lab = blobs(shape, 6, seed=2)
    full = connectivity == "full"
    expect_rm, expect_keep = lab.copy(), lab.copy()
    n_pieces = 0
    for v in (1, 2, 3):
        cc = _sitk_components(lab == v, full)
        sizes = np.bincount(cc.ravel())
        sizes[0] = 0
        n_pieces += int((sizes > 0).sum())
        expect_rm[(cc > 0) & (sizes[cc] < 5)] = 0
        expect_keep[(cc > 0) & (cc != np.argmax(sizes))] = 0
    np.testing.assert_array_equal(C.remove_islands(lab, 5, connectivity=connectivity),
                                  expect_rm)
    np.testing.assert_array_equal(C.keep_largest(lab, connectivity=connectivity), expect_keep)
    sp = C.split_islands(lab, connectivity=connectivity)
    assert len(np.unique(sp)) - 1 == n_pieces
    # every new label is exactly one island of one old label
    for v in np.unique(sp[sp > 3]):
        m = sp == v
        assert len(np.unique(lab[m])) == 1
        assert _sitk_components(m, full).max() == 1
    np.testing.assert_array_equal(sp != 0, lab != 0)
    np.testing.assert_array_equal(np.where(sp <= 3, sp, 0), expect_keep)


def test_remove_islands_by_volume_uses_the_spacing():
    lab = np.zeros((10, 10, 10), np.uint8)
    lab[1:3, 1:3, 1:3] = 1       # 8 voxels = 8 * 0.5 = 4 mm^3
    lab[5:9, 5:9, 5:9] = 1       # 64 voxels = 32 mm^3
    out = C.remove_islands(lab, min_volume=4.0, spacing=(0.5, 1, 1))
    np.testing.assert_array_equal(out, lab)            # exactly 4 mm^3 stays
    out = C.remove_islands(lab, min_volume=4.5, spacing=(0.5, 1, 1))
    assert out[1, 1, 1] == 0 and out[6, 6, 6] == 1


@pytest.mark.parametrize("connectivity", ["face", "full"])
def test_fill_holes_against_simpleitk_3d(connectivity):
    lab = blobs((16, 18, 20), 3, seed=4, labels=(2,))
    lab[4:12, 4:14, 4:16] = 2
    lab[6:10, 7:11, 7:12] = 0     # a cavity
    lab[7, 8, 8] = 0
    ref = sitk.GetArrayFromImage(sitk.BinaryFillhole(
        sitk.GetImageFromArray((lab == 2).astype(np.uint8)), fullyConnected=connectivity == "full"))
    out = C.fill_holes(lab, connectivity=connectivity)
    np.testing.assert_array_equal(out == 2, ref.astype(bool))


def test_fill_holes_per_slice_against_scipy_and_other_labels_kept():
    lab = np.zeros((5, 20, 20), np.uint8)
    lab[:, 3:17, 3:17] = 1
    lab[:, 6:14, 6:14] = 0
    lab[2, 8:10, 8:10] = 5        # another label inside the hole
    lab[0, 6:14, 6] = 1           # the hole is only open in 3D through the slice above? no: 2D
    out = C.fill_holes(lab, per_slice_axis=0)
    for k in range(5):
        ref = ndi.binary_fill_holes(lab[k] == 1)
        expect = np.where(ref & (lab[k] == 0), 1, lab[k])
        np.testing.assert_array_equal(out[k], expect)
    assert (out[2, 8:10, 8:10] == 5).all()
    over = C.fill_holes(lab, per_slice_axis=0, protect=Protection(overwrite=True))
    assert (over[2, 8:10, 8:10] == 1).all()
    # in 3D the tube's hole reaches the array's border: nothing to fill
    np.testing.assert_array_equal(C.fill_holes(lab), lab)


def test_fill_holes_nested_labels_innermost_wins():
    lab = np.zeros((30, 30), np.uint8)
    lab[2:28, 2:28] = 1
    lab[5:25, 5:25] = 0
    lab[8:22, 8:22] = 2
    lab[11:19, 11:19] = 0
    out = C.fill_holes(lab)
    assert (out[11:19, 11:19] == 2).all()          # inside label 2: label 2
    assert (out[5:8, 5:25] == 1).all()             # the gap between: label 1
    assert (out[8:22, 8:22] == 2).all()            # label 2 not overwritten by 1's fill


# ------------------------------------------------------------------ smoothing

@pytest.mark.parametrize("shape,spacing", [((30, 32), (1.0, 1.0)), ((12, 14, 16), ANISO3)])
def test_smooth_median_is_binary_median_over_the_box(shape, spacing):
    lab = blobs(shape, 2, seed=9, labels=(1,))
    r = 1.6
    half = [int(round(r / s)) for s in spacing]
    ref = ndi.median_filter((lab == 1).astype(np.uint8), size=[2 * h + 1 for h in half],
                            mode="nearest")
    out = C.smooth(lab, "median", r, spacing=spacing)
    np.testing.assert_array_equal(out == 1, ref.astype(bool))


@pytest.mark.parametrize("shape,spacing", [((30, 32), (1.0, 0.7)), ((12, 14, 16), ANISO3)])
@pytest.mark.parametrize("method", ["opening", "closing"])
def test_smooth_opening_closing_against_scipy_with_a_ball(shape, spacing, method):
    lab = blobs(shape, 3, seed=12, labels=(1,))
    r = 2.0
    fp = ball(r, spacing)
    m = lab == 1
    if method == "opening":
        ref = ndi.binary_dilation(ndi.binary_erosion(m, fp, border_value=1), fp)
    else:
        ref = ndi.binary_erosion(ndi.binary_dilation(m, fp), fp, border_value=1)
    out = C.smooth(lab, method, r, spacing=spacing)
    np.testing.assert_array_equal(out == 1, ref)


def test_smooth_joint_leaves_no_gap_between_touching_labels():
    lab = np.zeros((40, 40), np.uint8)
    lab[5:35, 5:20] = 1
    lab[5:35, 20:35] = 2
    lab[19, 20] = 1          # a one-voxel spike of 1 into 2
    lab[5:35, 5] = 0         # a rough edge
    out = C.smooth(lab, "joint", 1.0)
    assert out[19, 20] == 2                        # the spike is gone
    np.testing.assert_array_equal(out[10:30, 19:21], np.tile([1, 2], (20, 1)))  # no gap
    assert ((out[8:32, 6:34]) != 0).all()
    # separate per-label median would open a gap? the joint result covers the union
    assert set(np.unique(out)) == {0, 1, 2}


# ------------------------------------------------------------------ fill between slices

def _cone(shape=(21, 40, 40), spacing=(1.0, 1.0, 1.0)):
    z, y, x = np.indices(shape)
    r = 6 + 10 * z / (shape[0] - 1)
    return (((y - 20) ** 2 + (x - 20) ** 2) <= r ** 2).astype(np.uint8)


def _sparse(truth, axis, step):
    out = np.zeros_like(truth)
    sl = [slice(None)] * truth.ndim
    sl[axis] = slice(0, None, step)
    out[tuple(sl)] = truth[tuple(sl)]
    return out


def dice(a, b):
    return 2 * (a & b).sum() / max(1, a.sum() + b.sum())


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_fill_between_slices_shape_cone_on_every_axis(axis):
    truth = np.moveaxis(_cone(), 0, axis)
    sparse = _sparse(truth, axis, 5)
    out = C.fill_between_slices(sparse, axis=axis)
    ann = [slice(None)] * 3
    ann[axis] = slice(0, None, 5)
    np.testing.assert_array_equal(out[tuple(ann)], sparse[tuple(ann)])   # annotated unchanged
    assert dice(out == 1, truth == 1) > 0.97
    # the same on the transposed array: the axis is handled like axis 0
    ref = C.fill_between_slices(np.moveaxis(sparse, axis, 0), axis=0)
    np.testing.assert_array_equal(np.moveaxis(out, axis, 0), ref)


def test_fill_between_slices_keeps_holes_and_several_labels():
    z, y, x = np.indices((11, 40, 40))
    rr = (y - 20) ** 2 + (x - 20) ** 2
    truth = np.zeros((11, 40, 40), np.uint8)
    truth[(rr <= 12 ** 2) & (rr > 5 ** 2)] = 1          # a ring (a tube with a hole)
    truth[(rr <= 3 ** 2)] = 2                           # another label inside the hole
    sparse = _sparse(truth, 0, 10)
    out = C.fill_between_slices(sparse)
    for k in range(1, 10):
        np.testing.assert_array_equal(out[k], truth[k])


def test_fill_between_slices_split_and_merge():
    lab = np.zeros((11, 30, 50), np.uint8)
    lab[0, 10:20, 10:40] = 1                  # one bar
    lab[10, 10:20, 8:20] = 1                  # splits into two blobs
    lab[10, 10:20, 30:42] = 1
    out = C.fill_between_slices(lab)
    n_comp = [ndi.label(out[k] == 1)[1] for k in range(11)]
    assert n_comp[0] == 1 and n_comp[10] == 2
    assert n_comp[1] == 1 and n_comp[9] == 2            # topology changes half way
    assert all(n_comp[k] >= 1 for k in range(11))
    # and back (merge): the same with the slices swapped
    rev = C.fill_between_slices(lab[::-1].copy())
    np.testing.assert_array_equal(rev, out[::-1])


def itk_mci(sparse, axis, tmp_path):
    """ITK's MorphologicalContourInterpolator in a subprocess (ITK and numba in one process
    abort at interpreter exit on this stack: 'malloc_consolidate(): unaligned fastbin chunk')."""
    import subprocess
    import sys

    src, dst = tmp_path / "sparse.npy", tmp_path / "mci.npy"
    np.save(src, sparse)
    code = ("import sys, numpy as np, itk\n"
            "a = np.load(sys.argv[1])\n"
            "f = itk.MorphologicalContourInterpolator.New(itk.image_from_array(a))\n"
            "f.SetAxis(a.ndim - 1 - int(sys.argv[3]))\n"
            "f.Update()\n"
            "np.save(sys.argv[2], itk.array_from_image(f.GetOutput()))\n")
    r = subprocess.run([sys.executable, "-c", code, str(src), str(dst), str(axis)],
                       capture_output=True, text=True, timeout=850)
    # (the abort at exit, if any, comes after the result is saved)
    assert dst.exists(), r.stderr[-2000:]
    return np.load(dst)


#: ITK MorphologicalContourInterpolator's Dice per label on _mci_case() (2026-12-02, ITK 5.4.7,
#: itk-morphologicalcontourinterpolation 2.1.2); the slow test below recomputes them live
ITK_MCI_DICE = {1: 0.9752007973266108, 2: 1.0}


def _mci_case():
    truth = _cone((21, 40, 40))
    truth[:, 30:38, 3:10] = 2
    return truth, _sparse(truth, 0, 10)


def test_fill_between_slices_shape_vs_itk_recorded_dice():
    """Ours at least as good as ITK's MorphologicalContourInterpolator on the same case, against
    ITK's figures recorded by the slow test below. The case is deterministic, so this catches the
    same regression (our Dice falling below ITK's) without loading ITK, which alone takes about
    a minute on the idle 2-core CI machine (the default suite must stay well under 15 minutes)."""
    truth, sparse = _mci_case()
    ours = C.fill_between_slices(sparse)
    for v in (1, 2):
        assert dice(ours == v, truth == v) >= ITK_MCI_DICE[v] - 0.01, v


@pytest.mark.slow   # loads ITK (about a minute); test_..._itk_recorded_dice uses its figures
@pytest.mark.timeout(900)   # importing ITK alone takes minutes on a busy 2-core machine
def test_fill_between_slices_shape_vs_itk_morphological_contour_interpolator(tmp_path):
    from importlib import metadata

    try:
        metadata.version("itk-morphologicalcontourinterpolation")
    except metadata.PackageNotFoundError:
        pytest.skip("itk-morphologicalcontourinterpolation is not installed")
    truth, sparse = _mci_case()
    ours = C.fill_between_slices(sparse)
    theirs = itk_mci(sparse, 0, tmp_path)
    for v in (1, 2):
        assert dice(theirs == v, truth == v) == pytest.approx(ITK_MCI_DICE[v], abs=1e-3), v
        assert dice(ours == v, truth == v) >= dice(theirs == v, truth == v) - 0.01


def test_fill_between_slices_guided_beats_shape_on_a_synthetic_image():
    # a blob that wanders between the annotated slices: only the image knows where it went
    rng = np.random.default_rng(0)
    shape = (21, 40, 40)
    z, y, x = np.indices(shape)
    cx = 12 + 16 * np.sin(np.pi * z / 20)
    truth = (((y - 20) ** 2 + (x - cx) ** 2) <= 36).astype(np.uint8)
    image = truth * 100.0 + rng.normal(0, 5, shape)
    sparse = _sparse(truth, 0, 10)
    guided = C.fill_between_slices(sparse, image=image)
    shape_fill = C.fill_between_slices(sparse)
    np.testing.assert_array_equal(guided[::10], sparse[::10])
    assert dice(guided == 1, truth == 1) > 0.95
    assert dice(guided == 1, truth == 1) > dice(shape_fill == 1, truth == 1) + 0.1


@pytest.fixture(scope="module")
def mni():
    from napari_segsuite.samples import real

    reason = real.skip_reason("mni152")
    if reason:
        pytest.skip(reason)
    return real.mni152()


def _guided_every_tenth_slice(mni, region):
    """The MNI152 tissue truth of ``region`` drawn on every 10th slice of axis 0 and filled
    guided by the T1: (truth, the sparse labels, which slices were filled, the fill); the
    annotated slices are checked unchanged."""
    t1 = mni.images["t1"].array[region]
    truth = mni.labels["labels"].array[region]
    sparse = _sparse(truth, 0, 10)
    filled = np.ones(truth.shape[0], bool)
    filled[::10] = False
    guided = C.fill_between_slices(sparse, image=t1, spacing=mni.images["t1"].spacing)
    np.testing.assert_array_equal(guided[~filled], truth[~filled])
    return truth, sparse, filled, guided


def test_fill_between_slices_guided_on_real_mri_beats_growcut_alone(mni):
    """Tissue labels drawn on every 10th axial slice of the MNI152 T1 (a 21x160x140 crop, to keep
    the test short): the guided fill (an intensity model learnt from the annotated slices seeds
    GrowCut) reaches Dice CSF >= 0.945, GM and WM >= 0.97 on the filled slices. GrowCut seeded by
    the annotated slices alone (the previous guided fill) reached 0.929 / 0.965 / 0.969 here,
    shape interpolation far less; the annotated slices are unchanged."""
    truth, sparse, filled, guided = _guided_every_tenth_slice(
        mni, (slice(70, 91), slice(40, 200), slice(30, 170)))
    shape_fill = C.fill_between_slices(sparse, spacing=mni.images["t1"].spacing)
    for v, floor in ((1, 0.945), (2, 0.97), (3, 0.97)):
        dg = dice(guided[filled] == v, truth[filled] == v)
        ds = dice(shape_fill[filled] == v, truth[filled] == v)
        assert dg >= floor, (v, dg)
        assert dg > ds + 0.05, (v, dg, ds)


def test_fill_between_slices_guided_finds_an_island_by_its_appearance():
    """A label's island that appears only between the annotated slices, cut off from them by
    background: GrowCut alone cannot reach it at a lower cost than the background, the
    intensity model knows the label's look. A look-alike farther from the drawn label than the
    gap's length stays background, and the annotated slices are unchanged."""
    rng = np.random.default_rng(1)
    truth = np.zeros((11, 48, 48), np.uint8)
    truth[:, 10:20, 10:20] = 1           # the drawn label, on every slice
    truth[3:8, 10:20, 24:30] = 1         # an island next to it, only between the slices
    image = np.where(truth == 1, 100.0, 0.0)
    image[3:8, 38:46, 38:46] = 100.0     # a look-alike, 18+ voxels from the drawn label
    image += rng.normal(0, 5, image.shape)
    sparse = _sparse(truth, 0, 10)
    out = C.fill_between_slices(sparse, image=image)
    np.testing.assert_array_equal(out[[0, 10]], sparse[[0, 10]])
    assert dice(out == 1, truth == 1) > 0.98
    assert not out[:, 38:46, 38:46].any()


def test_fill_between_slices_other_labels_and_locks_in_the_gap():
    lab = np.zeros((11, 20, 20), np.uint8)
    lab[0, 5:15, 5:15] = 1
    lab[10, 5:15, 5:15] = 1
    lab[5, 8:12, 8:12] = 7      # another label in the gap
    out = C.fill_between_slices(lab, labels=[1])
    assert (out[5, 8:12, 8:12] == 7).all()
    assert (out[1:10][lab[1:10] == 0].reshape(-1) != 99).all()
    assert (out[3, 5:15, 5:15] == 1).all()
    over = C.fill_between_slices(lab, labels=[1], protect=Protection(overwrite=True))
    assert (over[5, 8:12, 8:12] == 1).all()
    locked = C.fill_between_slices(lab, labels=[1],
                                   protect=Protection(overwrite=True, locked={7}))
    assert (locked[5, 8:12, 8:12] == 7).all()


# ------------------------------------------------------------------ logical and instances

def test_logical_operations_match_set_algebra():
    lab = blobs((20, 24), 4, seed=8, labels=(1, 2))
    other = blobs((20, 24), 2, seed=9, labels=(5,))
    A, B = lab == 1, other == 5
    bg_or_a = (lab == 0) | A
    cases = {"copy": B, "union": A | B, "intersect": A & B, "subtract": A & ~B}
    for op, expect in cases.items():
        out = C.logical(lab, op, 1, 5, other=other)
        # without overwrite label 2's voxels stay 2
        np.testing.assert_array_equal(out == 1, expect & bg_or_a)
        np.testing.assert_array_equal(out == 2, lab == 2)
    inv = C.logical(lab, "invert", 1)
    np.testing.assert_array_equal(inv == 1, lab == 0)
    np.testing.assert_array_equal(inv == 2, lab == 2)
    np.testing.assert_array_equal(C.logical(lab, "clear", 1), np.where(A, 0, lab))
    # B in the same layer: union merges B into A
    np.testing.assert_array_equal(C.logical(lab, "union", 1, 2), np.where(lab == 2, 1, lab))
    with pytest.raises(InputError):
        C.logical(lab, "union", 1)


def test_merge_delete_relabel():
    lab = np.zeros((10, 10), np.uint16)
    lab[0:3, 0:3], lab[5:8, 5:8], lab[0:2, 6:9] = 4, 9, 12
    np.testing.assert_array_equal(C.merge_labels(lab, 4, [9, 12]), (lab > 0) * 4)
    np.testing.assert_array_equal(C.delete_label(lab, 9), np.where(lab == 9, 0, lab))
    from skimage.segmentation import relabel_sequential

    np.testing.assert_array_equal(C.relabel_sequential(lab), relabel_sequential(lab)[0])
    # a locked label keeps its value; the others avoid it
    out = C.relabel_sequential(lab, protect=Protection(locked={9}))
    assert set(np.unique(out[lab == 9])) == {9}
    assert set(np.unique(out)) == {0, 1, 2, 9}


def test_split_by_line_2d_and_3d():
    lab = np.zeros((20, 30), np.uint8)
    lab[5:15, 3:27] = 3
    out = C.split_label_by_line(lab, 3, [[0, 14], [19, 15]])
    assert set(np.unique(out)) == {0, 3, 4}
    np.testing.assert_array_equal(out != 0, lab != 0)
    assert ndi.label(out == 3)[1] == 1 and ndi.label(out == 4)[1] == 1
    vol = np.repeat(lab[None], 6, axis=0)
    out3 = C.split_label_by_line(vol, 3, [[2, 0, 14], [2, 19, 15]])
    for k in range(6):
        np.testing.assert_array_equal(out3[k], out)
    with pytest.raises(InputError, match="does not cut"):
        C.split_label_by_line(lab, 3, [[0, 0], [3, 3]])


def test_split_by_seeds_separates_touching_discs():
    y, x = np.indices((40, 60))
    a = (y - 20) ** 2 + (x - 20) ** 2 < 144
    b = (y - 20) ** 2 + (x - 38) ** 2 < 144
    lab = (a | b).astype(np.uint8) * 2
    for seeds in ([[20, 20], [20, 38]], [[15, 15], [25, 40]]):
        out = C.split_label_by_seeds(lab, 2, seeds)
        assert dice(out == 2, a & ~b) > 0.9 and dice(out == 3, b & ~a) > 0.9
    img = (a | b) * 50.0
    img[:, 29:30] = 0           # a dark line between the nuclei in the image
    out = C.split_label_by_seeds(lab, 2, [[20, 20], [20, 38]], image=img)
    assert (out[:, :29][lab[:, :29] > 0] == 2).all()


# ------------------------------------------------------------------ protection, every op

def _all_ops(lab, protect):
    return {
        "fill_between": C.fill_between_slices(lab, protect=protect),
        "fill_holes": C.fill_holes(lab, protect=protect),
        "remove_islands": C.remove_islands(lab, 30, protect=protect),
        "keep_largest": C.keep_largest(lab, protect=protect),
        "split_islands": C.split_islands(lab, protect=protect),
        "grow": C.margin(lab, 2.0, protect=protect),
        "shrink": C.margin(lab, -1.0, protect=protect),
        "hollow": C.hollow(lab, 1.0, protect=protect),
        **{f"smooth_{m}": C.smooth(lab, m, 1.5, protect=protect) for m in C.SMOOTH_METHODS},
        "logical": C.logical(lab, "invert", 1, protect=protect),
        "merge": C.merge_labels(lab, 1, [2, 3], protect=protect),
        "delete": C.delete_label(lab, 3, protect=protect),
        "relabel": C.relabel_sequential(lab, protect=protect),
    }


@pytest.mark.parametrize("shape", [(30, 34), (10, 16, 18)])
def test_a_locked_label_survives_every_operation_with_overwrite(shape):
    lab = blobs(shape, 6, seed=21)
    lab[lab == 3] = 0
    lab[tuple(slice(2, 6) for _ in shape)] = 3
    lab[(slice(1, 2),) + tuple(slice(1, 4) for _ in shape[1:])] = 2   # a small island
    prot = Protection(locked={2}, overwrite=True)
    for name, out in _all_ops(lab, prot).items():
        assert out.shape == lab.shape and out.dtype == lab.dtype, name
        np.testing.assert_array_equal(out == 2, lab == 2, err_msg=name)


@pytest.mark.parametrize("shape", [(30, 34), (10, 16, 18)])
def test_the_editable_mask_confines_every_operation(shape):
    lab = blobs(shape, 6, seed=22)
    editable = np.zeros(shape, bool)
    editable[: shape[0] // 2] = True
    prot = Protection(editable=editable, overwrite=True)
    free = _all_ops(lab, Protection(overwrite=True))
    for name, out in _all_ops(lab, prot).items():
        np.testing.assert_array_equal(out[~editable], lab[~editable], err_msg=name)
        np.testing.assert_array_equal(out[editable], free[name][editable], err_msg=name)


def test_without_overwrite_an_operation_writes_only_background_and_its_own_labels():
    lab = blobs((16, 40, 40), 6, seed=23)
    for name, out in _all_ops(lab, None).items():
        if name in ("smooth_joint", "merge", "relabel"):   # act on the labels together
            continue
        changed = out != lab
        assert ((lab[changed] == 0) | (out[changed] == 0) | (out[changed] > 3)).all(), name


def test_inputs_are_never_modified_and_results_are_new_arrays():
    lab = blobs((12, 14, 16), 4, seed=24)
    keep = lab.copy()
    for name, out in _all_ops(lab, None).items():
        assert out is not lab and not np.shares_memory(out, lab), name
    np.testing.assert_array_equal(lab, keep)


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call,match", [
    (lambda a: C.hollow(a, -1.0), "> 0"),
    (lambda a: C.margin(a, 1.0, labels=[7]), "no label 7"),
    (lambda a: C.fill_between_slices(a, axis=3), "out of range"),
    (lambda a: C.fill_between_slices(a, image=np.zeros((3, 3, 3))), "labels' grid"),
    (lambda a: C.fill_holes(a, connectivity="diag"), "connectivity"),
    (lambda a: C.smooth(a, "gauss", 1.0), "unknown smoothing"),
    (lambda a: C.smooth(a, "median", 0), "> 0"),
    (lambda a: C.margin(a, 1.0, spacing=(1, 1)), "spacing"),
    (lambda a: C.margin(a.astype(float), 1.0), "integer"),
    (lambda a: C.delete_label(a, 9), "no label 9"),
    (lambda a: C.fill_holes(a, protect=Protection(editable=np.ones((2, 2), bool))), "shape"),
    (lambda a: C.remove_islands(a), "either"),
])
def test_bad_input_is_one_line_input_error(call, match):
    lab = blobs((8, 10, 12), 3, seed=1)
    with pytest.raises(InputError, match=match) as exc:
        call(lab)
    assert "\n" not in str(exc.value)


def test_pipeline_docstring_examples_run():
    """The numpydoc Examples of the shared correction job (core/correct/pipeline.py) run."""
    import doctest

    from napari_segsuite.core.correct import pipeline

    assert doctest.testmod(pipeline).failed == 0


def test_correct_job_is_the_operation_with_its_options():
    """correct() equals the operation it names; the combination rules hold for any caller."""
    from napari_segsuite.core.base.errors import InputError
    from napari_segsuite.core.correct import CorrectParams, Protection, correct

    lab = np.zeros((20, 24), np.uint8)
    lab[3:15, 3:15] = 1
    lab[6:9, 6:9] = 0
    lab[2:6, 18:22] = 2
    lab[17, 20] = 2
    sp = (0.5, 1.0)
    P = CorrectParams
    assert np.array_equal(correct(lab, P(margin=1.5, label=(2,), lock=(1,)), spacing=sp),
                          C.margin(lab, 1.5, spacing=sp, labels=[2],
                                   protect=Protection(locked={1})))
    assert np.array_equal(correct(lab, P(remove_islands=2.4)), C.remove_islands(lab, 2))
    assert np.array_equal(correct(lab, P(remove_islands=1.0, island_unit="volume"),
                                  spacing=sp), C.remove_islands(lab, min_volume=1.0, spacing=sp))
    assert np.array_equal(correct(lab, P(fill_holes=True, connectivity="full")),
                          C.fill_holes(lab, connectivity="full"))
    editable = np.zeros(lab.shape, bool)
    editable[:10] = True
    out = correct(lab, P(margin=2.0), editable=editable)
    assert np.array_equal(out[10:], lab[10:]) and (out[:10] != lab[:10]).any()
    for bad, msg in [(P(), "exactly one"), (P(keep_largest=True, fill_holes=True), "exactly one"),
                     (P(smooth="median"), "needs --radius"),
                     (P(keep_largest=True, axis=1), "--axis only applies"),
                     (P(keep_largest=True, label=(1,), lock=(1,)), "both"),
                     (P(hollow=-1.0), "must be > 0")]:
        with pytest.raises(InputError, match=msg):
            correct(lab, bad)


# ------------------------------------------------ guided fill on real MRI, CSF (issue 13, c13g)

def test_fill_between_slices_guided_csf_on_a_whole_axial_slab_of_real_mri(mni):
    """Tissue labels on every 10th slice of a whole axial slab of the MNI152 T1 (slices 100-120,
    the brain's edge and the empty background around it included): the far background makes at
    most a tenth of the voxels the model learns from, so the thin CSF reaches 0.938 (0.9336 when
    the model learnt from a random subset of every annotated voxel, 60 % of them far outside
    the head), GM 0.982 and WM 0.987 without loss; the annotated slices are unchanged."""
    truth, sparse, filled, guided = _guided_every_tenth_slice(mni, slice(100, 121))
    for v, floor in ((1, 0.936), (2, 0.981), (3, 0.986)):
        dg = dice(guided[filled] == v, truth[filled] == v)
        assert dg >= floor, (v, dg)


def test_fill_between_slices_guided_training_voxels_cap_the_far_background():
    """The voxels the model learns from: all of them when there are few; otherwise at most
    GUIDED_FAR_SHARE of GUIDED_TRAIN lie farther than GUIDED_BG_REACH (in plane) from every
    acting label (checked with SciPy's distance transform), the rest are near voxels (all of
    them here, as they are fewer), no index twice."""
    from napari_segsuite.core.base.progress import run
    from napari_segsuite.core.correct import _interp

    codes = np.full((3, 300, 300), 3, np.int32)     # 3: the background code
    codes[:, 100:140, 100:140] = 1
    codes[:, 200:220, 50:90] = 2
    few = run(_interp._training_voxels(codes[:1, :100, :100], 3, (1.0, 1.0),
                                       np.random.default_rng(0)))
    assert np.array_equal(np.sort(few), np.arange(100 * 100))
    pick = run(_interp._training_voxels(codes, 3, (1.0, 1.0), np.random.default_rng(0)))
    assert pick.size == np.unique(pick).size
    dist = np.stack([ndi.distance_transform_edt(c == 3) for c in codes])
    far = (dist > _interp.GUIDED_BG_REACH).ravel()
    assert far[pick].sum() == int(_interp.GUIDED_TRAIN * _interp.GUIDED_FAR_SHARE)
    assert np.isin(np.flatnonzero(~far), pick).all() and (~far).sum() < _interp.GUIDED_TRAIN
