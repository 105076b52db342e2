"""Issue 16: ``segsuite correct`` on a zarr LABELS, a ``.zarr`` OUT or a TIFF larger than the
memory runs margin, smoothing and islands block by block, with the same flags and exit codes,
and gives what the in-memory command gives on the same data (values, dtype, geometry)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_segsuite.core.base import memory
from napari_segsuite.core.base.image import SegImage
from napari_segsuite.io import read_image, write_image
from napari_segsuite.io.lazy import write_zarr

SPACING, ORIGIN = (2.0, 1.0, 0.5), (1.0, 2.0, 3.0)


@pytest.fixture(scope="module")
def labels():
    """Random islands of labels 1 and 2 across small chunks, a big label 3 spanning them."""
    rng = np.random.default_rng(0)
    lab = (rng.random((12, 40, 40)) > 0.7).astype(np.uint8)
    lab[:, 20:] *= 2
    lab[3:9, 5:30, 5:30] = 3
    lab[5, 10:20, 10:20] = 0  # a hole in 3
    return lab


@pytest.fixture
def files(tmp_path, labels):
    img = SegImage(labels, spacing=SPACING, origin=ORIGIN)
    write_image(tmp_path / "lab.nii.gz", img)
    write_zarr(tmp_path / "lab.zarr", img, chunks=(5, 16, 16))  # 3 x 3 x 3 blocks
    return tmp_path


CASES = [["--margin", "1.5"], ["--margin", "-1"], ["--margin", "2", "--label", "3"],
         ["--margin", "2", "--overwrite", "--lock", "1"],
         ["--smooth", "median", "--radius", "1"], ["--smooth", "opening", "--radius", "1"],
         ["--smooth", "closing", "--radius", "1", "--label", "3"],
         ["--smooth", "joint", "--radius", "0.6"],
         ["--remove-islands", "3"], ["--remove-islands", "5", "--connectivity", "full"],
         ["--remove-islands", "4", "--label", "1"], ["--remove-islands", "4", "--lock", "2"],
         ["--keep-largest"], ["--keep-largest", "--lock", "1"],
         ["--split-islands"], ["--split-islands", "--label", "2"],
         ["--split-islands", "--lock", "1", "--connectivity", "full"]]


def _same(got, ref):
    arr = np.asarray(got.array)
    assert arr.dtype == ref.array.dtype
    np.testing.assert_array_equal(arr, ref.array)
    np.testing.assert_allclose(got.spacing, ref.spacing)
    np.testing.assert_allclose(got.origin, ref.origin)


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a))
def test_blockwise_equals_the_in_memory_command(cli, files, argv):
    d = files
    ref = cli("correct", d / "lab.nii.gz", "-o", d / "ref.nii.gz", *argv, "--quiet")
    assert ref.code == 0, ref
    ref = read_image(d / "ref.nii.gz")
    assert not np.array_equal(ref.array, read_image(d / "lab.nii.gz").array)  # it did something
    for src, out in (("lab.zarr", "a.nii.gz"), ("lab.zarr", "b.zarr"), ("lab.nii.gz", "c.zarr")):
        res = cli("correct", d / src, "-o", d / out, *argv, "--quiet")
        assert res.code == 0 and res.err == "", (src, out, res)
        _same(read_image(d / out), ref)
    assert sorted(p.name for p in d.iterdir()) == ["a.nii.gz", "b.zarr", "c.zarr", "lab.nii.gz",
                                                   "lab.zarr", "ref.nii.gz"]  # nothing staged


def test_zarr_out_is_read_lazily_and_in_the_label_dtype(cli, files):
    """Shrinking removes every label above 255... here: the result's own largest label picks the
    dtype, as in memory (a 300 that vanishes leaves uint8)."""
    d = files
    lab = np.zeros((6, 20, 20), np.uint16)
    lab[1:5, 2:9, 2:9] = 7
    lab[3, 15, 15] = 300  # one voxel: gone after --margin -1
    img = SegImage(lab, spacing=SPACING)
    write_zarr(d / "u16.zarr", img, chunks=(3, 8, 8))
    write_image(d / "u16.nii.gz", img)
    assert cli("correct", d / "u16.zarr", "-o", d / "o.zarr", "--margin", "-1").code == 0
    assert cli("correct", d / "u16.nii.gz", "-o", d / "r.nii.gz", "--margin", "-1").code == 0
    got = read_image(d / "o.zarr", lazy=True)
    assert hasattr(got.array, "dask")
    _same(got, read_image(d / "r.nii.gz"))
    assert got.array.dtype == np.uint8


def test_whole_map_operations_on_a_zarr_run_in_memory(cli, files):
    d = files
    for argv in (["--fill-holes"], ["--hollow", "1"]):
        assert cli("correct", d / "lab.nii.gz", "-o", d / "r.nii.gz", *argv, "--quiet",
                   "--force").code == 0
        res = cli("correct", d / "lab.zarr", "-o", d / "o.zarr", *argv, "--quiet", "--force")
        assert res.code == 0, res
        _same(read_image(d / "o.zarr"), read_image(d / "r.nii.gz"))


def test_exit_codes_and_nothing_half_written(cli, files):
    d = files
    assert cli("correct", d / "lab.zarr", "-o", d / "o.zarr", "--margin", "1", "--quiet").code == 0
    before = read_image(d / "o.zarr").array.copy()
    res = cli("correct", d / "lab.zarr", "-o", d / "o.zarr", "--margin", "2")  # exists
    assert res.code == 2 and res.err.startswith("error:") and "--force" in res.err, res
    np.testing.assert_array_equal(read_image(d / "o.zarr").array, before)
    res = cli("correct", d / "lab.zarr", "-o", d / "x.zarr", "--margin", "1", "--keep-largest")
    assert res.code == 2 and not (d / "x.zarr").exists()
    res = cli("correct", d / "lab.zarr", "-o", d / "no" / "x.zarr", "--margin", "1")
    assert res.code == 2 and "does not exist" in res.err and res.err.count("\n") == 1
    frac = SegImage(np.full((4, 8, 8), 0.5, np.float32))
    write_zarr(d / "frac.zarr", frac)
    res = cli("correct", d / "frac.zarr", "-o", d / "f.zarr", "--margin", "1")
    assert res.code == 2 and "non-integer" in res.err and not (d / "f.zarr").exists(), res
    neg = SegImage(np.full((4, 8, 8), -1, np.int16))
    write_zarr(d / "neg.zarr", neg)
    res = cli("correct", d / "neg.zarr", "-o", d / "n.nii.gz", "--remove-islands", "2")
    assert res.code == 2 and "negative" in res.err and not (d / "n.nii.gz").exists(), res
    assert not [p for p in d.iterdir() if p.name.startswith(".")]


def test_blockwise_runs_where_memory_would_refuse(cli, files, monkeypatch):
    """With 1 kB 'available' the in-memory operations are refused in one line; the block-wise
    ones on the zarr still run (their memory is bounded by the blocks)."""
    d = files
    ref = cli("correct", d / "lab.nii.gz", "-o", d / "ref.nii.gz", "--remove-islands", "3")
    assert ref.code == 0
    monkeypatch.setattr(memory, "available", lambda: 1000)
    res = cli("correct", d / "lab.nii.gz", "-o", d / "x.nii.gz", "--remove-islands", "3")
    assert res.code == 2 and "needs about" in res.err and ".zarr" in res.err, res
    res = cli("correct", d / "lab.zarr", "-o", d / "x.zarr", "--fill-holes")
    assert res.code == 2 and "needs about" in res.err and not (d / "x.zarr").exists(), res
    res = cli("correct", d / "lab.zarr", "-o", d / "o.zarr", "--remove-islands", "3", "--quiet")
    assert res.code == 0, res
    _same(read_image(d / "o.zarr"), read_image(d / "ref.nii.gz"))


def test_a_tiff_larger_than_memory_is_corrected_block_by_block(cli, tmp_path, labels,
                                                               monkeypatch):
    write_image(tmp_path / "lab.tif", SegImage(labels))
    ref = cli("correct", tmp_path / "lab.tif", "-o", tmp_path / "ref.tif", "--keep-largest")
    assert ref.code == 0, ref
    monkeypatch.setattr(memory, "available", lambda: 1000)  # the file is > a quarter of it
    res = cli("correct", tmp_path / "lab.tif", "-o", tmp_path / "o.tif", "--keep-largest")
    assert res.code == 0 and "block row" in res.err, res
    np.testing.assert_array_equal(read_image(tmp_path / "o.tif").array,
                                  read_image(tmp_path / "ref.tif").array)


@pytest.mark.parametrize("seed", range(4))
def test_joint_smoothing_block_by_block_equals_in_memory_every_run(cli, tmp_path, seed):
    """Joint smoothing reaches farther (4 sigma) than the last block along the first axis is
    thick, so map_overlap merges blocks into irregular ones; written into a .zarr OUT they used
    to race on shared zarr chunks and lose voxels in ~3 of 4 runs. Run on several label maps
    (the race is a matter of thread timing, so each seed is another chance to catch it)."""
    rng = np.random.default_rng(seed)
    lab = (rng.random((12, 40, 40)) > 0.7).astype(np.uint8)
    lab[:, 20:] *= 2
    lab[3:9, 5:30, 5:30] = 3
    img = SegImage(lab, spacing=SPACING, origin=ORIGIN)
    write_image(tmp_path / "lab.nii.gz", img)
    write_zarr(tmp_path / "lab.zarr", img, chunks=(5, 16, 16))  # last block 2 < the depth 3
    argv = ["--smooth", "joint", "--radius", "0.6", "--quiet"]
    assert cli("correct", tmp_path / "lab.nii.gz", "-o", tmp_path / "r.nii.gz", *argv).code == 0
    ref = read_image(tmp_path / "r.nii.gz")
    for k in range(3):
        res = cli("correct", tmp_path / "lab.zarr", "-o", tmp_path / f"o{k}.zarr", *argv)
        assert res.code == 0 and res.err == "", res
        _same(read_image(tmp_path / f"o{k}.zarr"), ref)


def test_a_zarr_out_keeps_the_direction(cli, tmp_path, labels):
    """The direction survives a .zarr OUT (our own zarr attribute; NGFF has none) and the
    block-wise reading of a .zarr LABELS, with no warning."""
    direction = (0.0, 0.6, -0.8, 0.0, 0.8, 0.6, 1.0, 0.0, 0.0)
    img = SegImage(labels, spacing=SPACING, origin=ORIGIN, direction=direction)
    write_image(tmp_path / "lab.nii.gz", img)
    res = cli("correct", tmp_path / "lab.nii.gz", "-o", tmp_path / "a.zarr", "--margin", "1")
    assert res.code == 0 and "warning" not in res.err, res
    res = cli("correct", tmp_path / "a.zarr", "-o", tmp_path / "b.zarr", "--fill-holes")
    assert res.code == 0 and "warning" not in res.err, res
    res = cli("correct", tmp_path / "b.zarr", "-o", tmp_path / "c.nii.gz", "--keep-largest")
    assert res.code == 0, res
    for name in ("a.zarr", "b.zarr", "c.nii.gz"):
        got = read_image(tmp_path / name)
        np.testing.assert_allclose(got.direction, direction, atol=1e-6)
        np.testing.assert_allclose(got.spacing, SPACING)
        np.testing.assert_allclose(got.origin, ORIGIN, atol=1e-6)
