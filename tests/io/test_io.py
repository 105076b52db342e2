"""I/O round trips keep array, dtype and geometry exactly; bad files give one-line InputErrors."""

from __future__ import annotations

import os

import numpy as np
import pytest
import SimpleITK as sitk

from napari_segsuite.core.base.errors import InputError
from napari_segsuite.core.base.image import SegImage, parse_spacing
from napari_segsuite.io import (READ_EXTENSIONS, WRITE_EXTENSIONS, check_writable, read_image,
                                write_image)

# A rotation (x <-> y swap, z flipped) whose values survive NIfTI's float32 storage exactly.
DIRECTION = (0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, -1.0)
GEOMETRY = dict(spacing=(2.5, 0.5, 0.75), origin=(-10.0, 3.25, 7.5), direction=DIRECTION)
SITK_FORMATS = [e for e in WRITE_EXTENSIONS if e not in (".npy", ".tif", ".tiff")]


def _volume(dtype, rng):
    if np.issubdtype(dtype, np.integer):
        return rng.integers(0, 7, size=(5, 6, 7)).astype(dtype)
    return rng.normal(size=(5, 6, 7)).astype(dtype)


@pytest.mark.parametrize("ext", SITK_FORMATS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32,
                                   np.float64])
def test_round_trip_keeps_array_dtype_geometry(tmp_path, ext, dtype, rng):
    img = SegImage(_volume(dtype, rng), **GEOMETRY)
    path = write_image(tmp_path / f"vol{ext}", img)
    back = read_image(path)
    assert back.array.dtype == img.array.dtype
    np.testing.assert_array_equal(back.array, img.array)
    assert back.spacing == img.spacing
    assert back.origin == img.origin
    np.testing.assert_allclose(back.direction, img.direction, atol=1e-6)
    assert not back.multichannel


@pytest.mark.parametrize("ext", [".tif", ".npy"])
def test_round_trip_tif_npy_keeps_array(tmp_path, ext, rng):
    img = SegImage(rng.integers(0, 1000, size=(4, 9, 11)).astype(np.uint16))
    back = read_image(write_image(tmp_path / f"a{ext}", img))
    assert back.array.dtype == np.uint16
    np.testing.assert_array_equal(back.array, img.array)


def test_round_trip_2d_and_multichannel(tmp_path, rng):
    img2 = SegImage(rng.normal(size=(9, 11)).astype(np.float32), spacing=(30.0, 30.0),
                    origin=(1000.0, 2000.0))
    back = read_image(write_image(tmp_path / "scene.nrrd", img2))
    assert back.shape == (9, 11) and back.spacing == (30.0, 30.0) and back.origin == (1000.0, 2000.0)
    bands = SegImage(rng.random(size=(9, 11, 7)).astype(np.float32), multichannel=True,
                     spacing=(30.0, 30.0))
    for ext in (".nii.gz", ".nrrd", ".mha"):
        back = read_image(write_image(tmp_path / f"bands{ext}", bands))
        assert back.multichannel and back.n_channels == 7 and back.shape == (9, 11)
        np.testing.assert_array_equal(back.array, bands.array)
        assert back.spacing == (30.0, 30.0)


def test_4d_nifti_reads_as_channels(tmp_path, rng):
    arr = rng.normal(size=(3, 4, 5, 6)).astype(np.float32)  # (c, z, y, x) as SimpleITK returns 4D
    img = sitk.JoinSeries([sitk.GetImageFromArray(a) for a in arr])  # a 4D scalar image
    img.SetSpacing((0.5, 0.5, 2.0, 1.0))
    sitk.WriteImage(img, str(tmp_path / "multi.nii.gz"))
    back = read_image(tmp_path / "multi.nii.gz")
    assert back.multichannel and back.n_channels == 3 and back.shape == (4, 5, 6)
    assert back.spacing == (2.0, 0.5, 0.5)
    np.testing.assert_array_equal(back.array[..., 1], arr[1])


def _write_dicom_series(folder, arr, spacing, origin,
                        series_uid="1.2.826.0.1.3680043.2.1125.1.12345", prefix="slice"):
    """Write a CT-like int16 DICOM series, one file per slice, as scanners do."""
    folder.mkdir(exist_ok=True)
    vol = sitk.GetImageFromArray(arr)
    vol.SetSpacing(tuple(reversed(spacing)))
    vol.SetOrigin(tuple(reversed(origin)))
    writer = sitk.ImageFileWriter()
    writer.KeepOriginalImageUIDOn()
    for z in range(arr.shape[0]):
        sl = vol[:, :, z]
        sl.SetMetaData("0008|0060", "CT")
        sl.SetMetaData("0020|000e", series_uid)
        sl.SetMetaData("0020|000d", series_uid + ".0")
        sl.SetMetaData("0020|0032", "\\".join(str(v) for v in vol.TransformIndexToPhysicalPoint((0, 0, z))))
        sl.SetMetaData("0020|0013", str(z + 1))
        sl.SetMetaData("0020|0037", "1\\0\\0\\0\\1\\0")
        sl.SetMetaData("0028|0030", f"{spacing[1]}\\{spacing[2]}")
        sl.SetMetaData("0018|0050", str(spacing[0]))
        writer.SetFileName(str(folder / f"{prefix}{z:03d}.dcm"))
        writer.Execute(sl)


def test_dicom_series_folder(tmp_path, rng):
    arr = rng.integers(-1000, 1500, size=(6, 16, 12)).astype(np.int16)
    _write_dicom_series(tmp_path / "series", arr, spacing=(2.5, 0.75, 0.75), origin=(-40.0, 10.0, 5.0))
    img = read_image(tmp_path / "series")
    np.testing.assert_array_equal(img.array, arr)
    np.testing.assert_allclose(img.spacing, (2.5, 0.75, 0.75), atol=1e-6)
    np.testing.assert_allclose(img.origin, (-40.0, 10.0, 5.0), atol=1e-6)


def test_folder_with_several_dicom_series_reads_the_largest_and_says_so(tmp_path, rng, cli):
    """A folder of two series (a scout and the scan): the largest is read, and the command line
    says which, in one warning line, instead of choosing silently."""
    big = rng.integers(-1000, 1500, size=(6, 16, 12)).astype(np.int16)
    small = rng.integers(-1000, 1500, size=(2, 16, 12)).astype(np.int16)
    _write_dicom_series(tmp_path / "mixed", big, (2.5, 0.75, 0.75), (0.0, 0.0, 0.0),
                        series_uid="1.2.826.0.1.3680043.2.1125.1.1", prefix="scan")
    _write_dicom_series(tmp_path / "mixed", small, (2.5, 0.75, 0.75), (0.0, 0.0, 0.0),
                        series_uid="1.2.826.0.1.3680043.2.1125.1.2", prefix="scout")
    img = read_image(tmp_path / "mixed")
    np.testing.assert_array_equal(img.array, big)
    assert img.metadata["dicom_series_count"] == 2
    assert img.metadata["dicom_series_uid"] == "1.2.826.0.1.3680043.2.1125.1.1"
    r = cli("cluster", str(tmp_path / "mixed"), "-o", str(tmp_path / "c.nii.gz"),
            "--method", "kmeans", "--k", "2", "--quiet")
    assert r.code == 0, r.err
    warn = [x for x in r.err.splitlines() if x.startswith("warning:")]
    assert len(warn) == 1 and "2 DICOM series" in warn[0] and "6 files" in warn[0]


def test_read_errors_are_one_line(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "missing.nii.gz")
    bad = tmp_path / "broken.nii.gz"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(InputError) as info:
        read_image(bad)
    assert "\n" not in str(info.value)
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="unsupported format"):
        read_image(tmp_path / "notes.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no DICOM series"):
        read_image(tmp_path / "empty")


def test_write_refuses_overwrite_and_leaves_no_partial_file(tmp_path, rng, monkeypatch):
    img = SegImage(_volume(np.float32, rng))
    target = tmp_path / "out.nii.gz"
    write_image(target, img)
    before = target.read_bytes()
    with pytest.raises(InputError, match="--force"):
        write_image(target, SegImage(np.zeros((2, 2, 2), np.float32)))
    assert target.read_bytes() == before

    # An interrupted write (the writer dies half-way) leaves neither a partial file nor temp files.
    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sitk, "WriteImage", boom)
    with pytest.raises(KeyboardInterrupt):
        write_image(tmp_path / "new.nii.gz", img)
    assert sorted(os.listdir(tmp_path)) == ["out.nii.gz"]
    with pytest.raises(KeyboardInterrupt):
        write_image(target, img, force=True)
    assert target.read_bytes() == before


def test_check_writable_rejects_bad_targets(tmp_path):
    with pytest.raises(InputError, match="cannot write"):
        check_writable(tmp_path / "x.jpg")
    with pytest.raises(InputError, match="does not exist"):
        check_writable(tmp_path / "nope" / "x.nii.gz")
    assert ".nii.gz" in READ_EXTENSIONS


def test_segimage_geometry_validation():
    with pytest.raises(InputError, match="spacing"):
        SegImage(np.zeros((3, 3)), spacing=(1.0, 0.0))
    with pytest.raises(InputError, match="3 values"):
        SegImage(np.zeros((3, 3, 3)), origin=(1.0, 2.0))
    img = SegImage(np.zeros((3, 4, 5)), spacing=(2, 1, 1))
    assert img.like(np.ones((3, 4, 5))).spacing == (2.0, 1.0, 1.0)
    with pytest.raises(InputError):
        img.like(np.ones((3, 4)))
    assert parse_spacing("2.5,1,1", 3) == (2.5, 1.0, 1.0)
    for bad in ("a,b,c", "1,1", "1,-1,1"):
        with pytest.raises(InputError):
            parse_spacing(bad, 3)


def test_folder_without_dicom_is_one_line_and_silent(tmp_path, capfd):
    """ITK's 'No Series were found' warning must not reach stderr (the CLI prints one line)."""
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("hello")
    with pytest.raises(InputError, match="no DICOM series"):
        read_image(tmp_path / "notes")
    from napari_segsuite.io import can_read

    assert not can_read(tmp_path / "notes")
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("ext", [".NII", ".NII.GZ", ".NRRD", ".TIF", ".NPY"])
def test_upper_case_extension_writes_the_named_file(tmp_path, ext):
    img = SegImage(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), spacing=(2.5, 0.5, 0.75))
    path = write_image(tmp_path / f"out{ext}", img)
    assert path.name == f"out{ext}" and sorted(os.listdir(tmp_path)) == [f"out{ext}"]
    back = read_image(path)
    np.testing.assert_array_equal(back.array, img.array)
    if ext.startswith(".N") and ext != ".NPY":
        assert back.spacing == img.spacing


@pytest.mark.parametrize("ext", [".Nii.Gz", ".Nii", ".MHA", ".MHD", ".Mha"])
def test_extension_simpleitk_cannot_read_back_is_refused_up_front(tmp_path, ext):
    img = SegImage(np.ones((2, 3, 4), np.uint8))
    with pytest.raises(InputError, match="cannot read"):
        check_writable(tmp_path / f"out{ext}")
    with pytest.raises(InputError):
        write_image(tmp_path / f"out{ext}", img)
    assert os.listdir(tmp_path) == []


def test_mhd_data_file_is_not_overwritten_without_force(tmp_path):
    img = SegImage(np.ones((2, 3, 4), np.uint8))
    (tmp_path / "out.zraw").write_bytes(b"someone else's data")
    with pytest.raises(InputError, match="--force"):
        write_image(tmp_path / "out.mhd", img)
    assert (tmp_path / "out.zraw").read_bytes() == b"someone else's data"
    assert sorted(os.listdir(tmp_path)) == ["out.zraw"]
    back = read_image(write_image(tmp_path / "out.mhd", img, force=True))
    np.testing.assert_array_equal(back.array, img.array)


@pytest.mark.parametrize("arr", [np.array([["a", "b"], ["c", "d"]]),
                                 np.ones((3, 4), np.complex64)])
def test_npy_without_real_numbers_is_an_input_error(tmp_path, arr):
    np.save(tmp_path / "x.npy", arr)
    with pytest.raises(InputError, match="real numbers"):
        read_image(tmp_path / "x.npy")


def test_unwritable_output_folder_is_an_input_error(tmp_path, monkeypatch):
    """A folder the user may not write to (or a read-only disk) is bad input, not exit 1."""
    img = SegImage(np.ones((2, 3, 4), np.uint8))
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if str(p) == str(tmp_path)
                        else real_access(p, mode, **k))
    with pytest.raises(InputError, match="not writable"):
        check_writable(tmp_path / "out.nii.gz")
    monkeypatch.setattr(os, "access", real_access)

    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "mkdtemp", denied)  # e.g. root on a read-only file system
    with pytest.raises(InputError, match="Permission denied"):
        write_image(tmp_path / "out.nii.gz", img)
    assert os.listdir(tmp_path) == []


def test_lost_geometry_names_what_a_format_cannot_keep():
    from napari_segsuite.io import lost_geometry

    plain = SegImage(np.zeros((4, 5, 6), np.uint8))
    geo = SegImage(np.zeros((4, 5, 6), np.uint8), spacing=(3.0, 0.5, 0.5), origin=(1, 2, 3),
                   direction=(-1, 0, 0, 0, 1, 0, 0, 0, 1))
    for ext in (".nii.gz", ".nrrd", ".mha", ".mhd"):
        assert lost_geometry("x" + ext, geo) == []
    assert lost_geometry("x.npy", plain) == [] and lost_geometry("x.tif", plain) == []
    assert lost_geometry("x.npy", geo) == ["spacing", "origin", "direction"]
    assert lost_geometry("x.TIF", geo) == ["the spacing between slices", "origin", "direction"]
    flat = SegImage(np.zeros((5, 6), np.uint8), spacing=(0.5, 0.7))
    assert lost_geometry("x.tif", flat) == []  # TIFF keeps the in-plane spacing


def test_cli_warns_when_the_output_format_drops_geometry(cli, tmp_path):
    """Writing a result with an origin to .tif kept no origin and said nothing."""
    img = SegImage(np.random.default_rng(0).random((20, 24)).astype(np.float32),
                   spacing=(0.5, 0.5), origin=(10.0, 20.0))
    write_image(tmp_path / "img.nii.gz", img)
    for out, warned in (("c.tif", True), ("c.nii.gz", False)):
        r = cli("cluster", str(tmp_path / "img.nii.gz"), "-o", str(tmp_path / out), "--method",
                "kmeans", "--k", "2", "--quiet")
        assert r.code == 0, r.err
        warn = [x for x in r.err.splitlines() if x.startswith("warning:")]
        assert bool(warn) == warned and (not warn or "origin" in warn[0]), r.err


# --- TIFF: one reader for memory and lazy reading (tifffile) ----------------------------------


@pytest.mark.parametrize("shape", [(3, 24, 20), (4, 24, 20), (5, 24, 20), (24, 20, 3), (24, 20)])
def test_tiff_reads_the_same_in_memory_and_lazily(tmp_path, shape):
    """A (3, H, W) or (4, H, W) stack, which tifffile stores as separate sample planes, came
    back from ITK as (H, W, 4) with an invented alpha channel (or scrambled values); the lazy
    reader said (3, H, W). Both now give the file's array unchanged."""
    import tifffile

    data = np.random.default_rng(1).integers(0, 200, shape).astype(np.uint8)
    p = tmp_path / "s.tif"
    tifffile.imwrite(p, data)
    mem, lazy = read_image(p), read_image(p, lazy=True)
    np.testing.assert_array_equal(mem.array, data)
    np.testing.assert_array_equal(np.asarray(lazy.array), data)
    assert mem.multichannel == lazy.multichannel == (shape[-1] == 3 and len(shape) == 3
                                                      and shape[0] > 4)
    assert mem.spacing == lazy.spacing


def test_tiff_fiji_calibration_is_read_in_memory(tmp_path):
    """ITK ignored ImageJ/Fiji's calibration (spacing 1, 1, 1); tifffile's reading keeps it."""
    import tifffile

    data = np.zeros((4, 16, 12), np.uint16)
    p = tmp_path / "fiji.tif"
    tifffile.imwrite(p, data, imagej=True, resolution=(1 / 0.25, 1 / 0.25),
                     metadata={"spacing": 2.0, "unit": "um", "axes": "ZYX"})
    img = read_image(p)
    assert img.spacing == pytest.approx((2.0, 0.25, 0.25))
    assert img.metadata.get("unit") == "um"


@pytest.mark.parametrize("unit,factor", [("INCH", 25.4), ("CENTIMETER", 10.0), ("NONE", None)])
def test_tiff_resolution_units_as_itk_reads_them(tmp_path, unit, factor):
    """The lazy reader took pixels per inch for pixels per mm (spacing 1/25.4 of the truth for
    a TIFF this package wrote). Inch and centimetre resolutions are in mm now, as ITK reads
    them; a resolution without a unit says nothing (spacing 1)."""
    import SimpleITK as sitk
    import tifffile

    p = tmp_path / "r.tif"
    tifffile.imwrite(p, np.zeros((3, 10, 8), np.uint8), resolution=(2.0, 4.0),
                     resolutionunit=unit)
    want = (1.0, 1.0) if factor is None else (factor / 4.0, factor / 2.0)
    assert tuple(sitk.ReadImage(str(p)).GetSpacing())[:2][::-1] == pytest.approx(want)
    for lazy in (False, True):
        assert read_image(p, lazy=lazy).spacing[-2:] == pytest.approx(want)


def test_tiff_written_here_keeps_its_in_plane_spacing_on_both_paths(tmp_path):
    img = SegImage(np.arange(3 * 10 * 8, dtype=np.uint8).reshape(3, 10, 8),
                   spacing=(1.0, 0.5, 0.7))
    p = write_image(tmp_path / "w.tif", img)
    for lazy in (False, True):
        back = read_image(p, lazy=lazy)
        assert back.spacing == (1.0, 0.5, 0.7)
        np.testing.assert_array_equal(np.asarray(back.array), img.array)
