"""``segsuite correct``: every operation as the core computes it, geometry kept, errors exit 2."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

import napari_segsuite.core.correct as C
from napari_segsuite.core.correct import Protection
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image

SPACING = (2.0, 0.5, 0.75)
ORIGIN = (10.0, -4.0, 3.5)
DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0)


@pytest.fixture
def labels(tmp_path):
    lab = np.zeros((12, 30, 28), np.uint8)
    lab[2:10, 5:25, 5:22] = 1
    lab[4:8, 10:20, 9:18] = 0          # a cavity
    lab[2:10, 12:14, 12:14] = 3        # a third label through the cavity
    lab[0, 0:2, 0:2] = 1               # an island
    lab[3:6, 26:29, 22:27] = 2
    lab[::3, 1, 25] = 2                # specks of 2
    path = tmp_path / "lab.nii.gz"
    write_image(path, SegImage(lab, spacing=SPACING, origin=ORIGIN, direction=DIRECTION),
                force=True)
    return str(path), lab


def _read(path):
    return read_image(path)


OPS = [
    (["--fill-holes"], lambda a: C.fill_holes(a)),
    (["--fill-holes", "--per-slice", "1"], lambda a: C.fill_holes(a, per_slice_axis=1)),
    (["--remove-islands", "5"], lambda a: C.remove_islands(a, 5)),
    (["--remove-islands", "5", "--connectivity", "full"],
     lambda a: C.remove_islands(a, 5, connectivity="full")),
    (["--keep-largest"], lambda a: C.keep_largest(a)),
    (["--split-islands"], lambda a: C.split_islands(a)),
    (["--margin", "1.5"], lambda a: C.margin(a, 1.5, spacing=SPACING)),
    (["--margin", "-1"], lambda a: C.margin(a, -1, spacing=SPACING)),
    (["--margin", "2", "--label", "2", "--overwrite"],
     lambda a: C.margin(a, 2, spacing=SPACING, labels=[2], protect=Protection(overwrite=True))),
    (["--margin", "3", "--lock", "2", "--overwrite"],
     lambda a: C.margin(a, 3, spacing=SPACING, protect=Protection(locked={2}, overwrite=True))),
    (["--hollow", "1"], lambda a: C.hollow(a, 1, spacing=SPACING)),
    (["--smooth", "median", "--radius", "1"], lambda a: C.smooth(a, "median", 1, spacing=SPACING)),
    (["--smooth", "opening", "--radius", "1", "--label", "1,3"],
     lambda a: C.smooth(a, "opening", 1, spacing=SPACING, labels=[1, 3])),
    (["--smooth", "closing", "--radius", "1.2"],
     lambda a: C.smooth(a, "closing", 1.2, spacing=SPACING)),
    (["--smooth", "joint", "--radius", "1"], lambda a: C.smooth(a, "joint", 1, spacing=SPACING)),
    (["--fill-between-slices"], lambda a: C.fill_between_slices(a, spacing=SPACING)),
    (["--fill-between-slices", "--axis", "2"],
     lambda a: C.fill_between_slices(a, axis=2, spacing=SPACING)),
]


@pytest.mark.parametrize("argv,core", OPS, ids=[" ".join(a) for a, _ in OPS])
def test_each_operation_equals_the_core_and_keeps_the_geometry(cli, tmp_path, labels, argv,
                                                               core):
    path, lab = labels
    out = tmp_path / "out.nii.gz"
    r = cli("correct", path, "-o", out, "--quiet", *argv)
    assert r.code == 0, r
    res = _read(out)
    np.testing.assert_array_equal(res.array, core(lab))
    assert res.array.dtype == lab.dtype
    assert np.allclose(res.spacing, SPACING) and np.allclose(res.origin, ORIGIN)
    assert np.allclose(res.direction, DIRECTION)


def test_margin_on_the_anisotropic_file_matches_simpleitk_distances(cli, tmp_path, labels):
    path, lab = labels
    out = tmp_path / "out.nii.gz"
    assert cli("correct", path, "-o", out, "--margin", "1.9", "--label", "2",
               "--quiet").code == 0
    img = sitk.ReadImage(path)
    dist = sitk.GetArrayFromImage(sitk.SignedMaurerDistanceMap(
        img == 2, insideIsPositive=False, squaredDistance=False, useImageSpacing=True))
    expect = np.where((lab == 0) & (dist <= 1.9), 2, lab)
    np.testing.assert_array_equal(_read(out).array, expect)


def test_fill_between_slices_with_an_image_on_the_grid(cli, tmp_path, labels):
    path, lab = labels
    rng = np.random.default_rng(0)
    truth = np.zeros_like(lab)
    truth[:, 8:22, 6:20] = 1
    sparse = np.zeros_like(truth)
    sparse[::5] = truth[::5]
    img = truth * 100.0 + rng.normal(0, 3, truth.shape)
    geo = dict(spacing=SPACING, origin=ORIGIN, direction=DIRECTION)
    write_image(tmp_path / "sparse.nii.gz", SegImage(sparse, **geo), force=True)
    write_image(tmp_path / "img.nii.gz", SegImage(img.astype(np.float32), **geo), force=True)
    r = cli("correct", tmp_path / "sparse.nii.gz", "-o", tmp_path / "o.nii.gz",
            "--fill-between-slices", "--image", tmp_path / "img.nii.gz", "--quiet")
    assert r.code == 0, r
    res = _read(tmp_path / "o.nii.gz").array
    np.testing.assert_array_equal(res[:11], truth[:11])
    np.testing.assert_array_equal(res[::5], sparse[::5])


@pytest.mark.parametrize("argv,message", [
    (["--hollow", "-1"], "--hollow must be > 0"),
    (["--margin", "1", "--label", "7"], "no label 7"),
    (["--fill-between-slices", "--axis", "3"], "axis 3 is out of range"),
    (["--fill-holes", "--per-slice", "-1"], "out of range"),
    (["--fill-between-slices", "--image", "{other_grid}"], "not on LABELS' grid"),
    (["--fill-between-slices", "--image", "{other_shape}"], "shape"),
    (["--keep-largest", "--radius", "2"], "--radius only applies with --smooth"),
    (["--smooth", "median"], "--smooth needs --radius"),
    (["--smooth", "median", "--radius", "0"], "--radius must be > 0"),
    (["--margin", "x"], "expected a number"),
    (["--keep-largest", "--split-islands"], "not allowed"),
    ([], "required"),
    (["--keep-largest", "--label", "0"], "labels >= 1"),
    (["--keep-largest", "--label", "1", "--lock", "1"], "both"),
    (["--axis", "1", "--keep-largest"], "--axis only applies"),
])
def test_bad_input_one_line_exit_2_nothing_written(cli, tmp_path, labels, argv, message):
    path, lab = labels
    other_grid = tmp_path / "g.nii.gz"
    write_image(other_grid, SegImage(lab.astype(np.float32), spacing=(1, 1, 1)), force=True)
    other_shape = tmp_path / "s.nii.gz"
    write_image(other_shape, SegImage(np.zeros((3, 4, 5), np.float32), spacing=SPACING,
                                      origin=ORIGIN, direction=DIRECTION), force=True)
    argv = [a.format(other_grid=other_grid, other_shape=other_shape) for a in argv]
    out = tmp_path / "out.nii.gz"
    r = cli("correct", path, "-o", out, *argv)
    assert r.code == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], r
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or "tmp" in p.name]


def test_bad_label_files(cli, tmp_path):
    out = tmp_path / "o.nii.gz"
    write_image(tmp_path / "f.nii.gz", SegImage(np.full((4, 5, 6), 0.5, np.float32)), force=True)
    r = cli("correct", tmp_path / "f.nii.gz", "-o", out, "--keep-largest")
    assert r.code == 2 and "non-integer" in r.err
    r = cli("correct", tmp_path / "missing.nii.gz", "-o", out, "--keep-largest")
    assert r.code == 2 and r.err.startswith("error: LABELS")
    assert not out.exists()


def test_force_rule_and_2d_npy(cli, tmp_path):
    lab = np.zeros((20, 22), np.int32)
    lab[3:15, 3:15] = 4
    lab[6:9, 6:9] = 0
    np.save(tmp_path / "a.npy", lab)
    out = tmp_path / "o.npy"
    assert cli("correct", tmp_path / "a.npy", "-o", out, "--fill-holes", "--quiet").code == 0
    np.testing.assert_array_equal(np.load(out), C.fill_holes(lab))
    before = out.read_bytes()
    r = cli("correct", tmp_path / "a.npy", "-o", out, "--margin", "1")
    assert r.code == 2 and "--force" in r.err and out.read_bytes() == before
    assert cli("correct", tmp_path / "a.npy", "-o", out, "--margin", "1", "--force",
               "--quiet").code == 0
    assert (np.load(out) == 4).sum() > (lab == 4).sum()


def test_help_lists_correct(cli):
    r = cli("--help")
    assert "correct" in r.out + r.err
