"""A NIfTI file is read in one pass (issue 18): ITK reads its header, the voxels are decoded from
the bytes the completeness check decompresses. The result must be exactly what SimpleITK's own
reading gives (the reference: ``sitk.ReadImage`` + ``from_sitk``), geometry and voxel bits, for
every dtype, byte order, NIfTI-1/2, 2D/3D/4D, header extensions, scaled values and RGB (those
two: ITK's reading), with the issue-14 checks kept: a truncated or damaged file is an error, NaN
and infinite values are the file's (ITK reads them as 0)."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import SimpleITK as sitk

nib = pytest.importorskip("nibabel")

from napari_segsuite import io as sio  # noqa: E402
from napari_segsuite.core.base.errors import InputError  # noqa: E402
from napari_segsuite.io import from_sitk, read_image  # noqa: E402

# an oblique affine (rotation about z by 30 degrees, anisotropic voxels, an offset)
_C, _S = np.cos(np.pi / 6), np.sin(np.pi / 6)
AFFINE = np.array([[0.9 * _C, -0.7 * _S, 0, -12.5], [0.9 * _S, 0.7 * _C, 0, 30.25],
                   [0, 0, 2.5, 7.0], [0, 0, 0, 1]])
DTYPES = ["u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"]


def _values(dtype, shape, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = (rng.normal(size=shape) * 1e3).astype(dt)
        a.flat[:4] = [-0.0, np.finfo(dt).tiny / 4, np.finfo(dt).max, -np.finfo(dt).max]
        return a
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, size=shape, dtype=dt, endpoint=True)
    a.flat[:2] = [info.min, info.max]
    return a


def _save(path, data, *, endian="<", nifti2=False, slope=None, inter=None, ext_bytes=0,
          affine=AFFINE):
    """``data`` in nibabel's (x, y, z, ...) order written with the given header."""
    cls = nib.Nifti2Image if nifti2 else nib.Nifti1Image
    hdr = (nib.Nifti2Header if nifti2 else nib.Nifti1Header)(endianness=endian)
    hdr.set_data_dtype(data.dtype)
    img = cls(data, affine, hdr)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    if ext_bytes:
        img.header.extensions.append(nib.nifti1.Nifti1Extension(0, b"x" * ext_bytes))
    nib.save(img, str(path))
    return path


def _reference(path):
    """What SimpleITK's own reading gives (its 0 where the file holds NaN/inf left as it is)."""
    return from_sitk(sitk.ReadImage(str(path)), name="ref")


def _same(got, ref, raw=None):
    assert got.array.dtype == ref.array.dtype
    assert got.shape == ref.shape and got.multichannel == ref.multichannel
    assert got.spacing == ref.spacing and got.origin == ref.origin
    assert got.direction == ref.direction
    a, b = got.array, ref.array
    if raw is not None:  # where the file holds NaN/inf, ITK has 0 and we have the file's value
        bad = ~np.isfinite(raw)
        assert np.array_equal(a[bad], raw[bad], equal_nan=True)
        a, b = a[~bad], b[~bad]
    assert a.tobytes() == b.tobytes()  # bit for bit (-0.0, subnormals)


@pytest.fixture
def no_itk_voxels(monkeypatch):
    """SimpleITK's full reading fails: only the one-pass reader can read the file."""
    def fail(*args, **kwargs):
        raise AssertionError("sitk.ReadImage called: the file was not read in one pass")

    monkeypatch.setattr(sitk, "ReadImage", fail)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_and_byte_orders_read_as_itk_does(tmp_path, suffix, endian, dtype):
    path = _save(tmp_path / f"a{suffix}", _values(dtype, (7, 6, 5)), endian=endian)
    ref = _reference(path)
    assert (ref.array != 0).any()
    _same(read_image(path), ref)


def test_one_pass_reader_never_asks_itk_for_the_voxels(tmp_path, monkeypatch):
    """The old reader decompressed every .nii.gz twice (its check, then ITK)."""
    paths = [_save(tmp_path / f"a{i}.nii.gz", _values(dt, (7, 6, 5)))
             for i, dt in enumerate(DTYPES)]
    refs = [_reference(p) for p in paths]

    def fail(*args, **kwargs):
        raise AssertionError("sitk.ReadImage called")

    monkeypatch.setattr(sitk, "ReadImage", fail)
    for p, ref in zip(paths, refs):
        _same(read_image(p), ref)


@pytest.mark.parametrize("shape", [(7, 6), (7, 6, 1), (1, 6, 5), (7, 6, 5, 3), (7, 6, 5, 1),
                                   (4, 3, 2, 1, 1)])
@pytest.mark.parametrize("nifti2", [False, True])
def test_dimensions_and_nifti2(tmp_path, shape, nifti2):
    data = _values("f4", shape, seed=len(shape))
    path = _save(tmp_path / "a.nii.gz", data, nifti2=nifti2)
    try:
        ref = _reference(path)
    except RuntimeError:  # SimpleITK builds without NIfTI-2: an input error, as before
        with pytest.raises(InputError, match="cannot read it"):
            read_image(path)
        return
    _same(read_image(path), ref)


def test_header_extension_moves_the_data(tmp_path, no_itk_voxels):
    data = _values("i2", (7, 6, 5))
    path = _save(tmp_path / "a.nii.gz", data, ext_bytes=1000)
    got = read_image(path)
    assert np.array_equal(got.array, data.T)


@pytest.mark.parametrize("dtype", ["i2", "u1", "f4"])
@pytest.mark.parametrize("slope,inter", [(2.0, 0.0), (0.5, -3.0), (1.0, 10.0)])
def test_scaled_values_are_itks(tmp_path, dtype, slope, inter):
    """scl_slope / scl_inter: ITK's reading (its pixel type, its rounding)."""
    path = _save(tmp_path / "a.nii.gz", _values(dtype, (7, 6, 5)), slope=slope, inter=inter)
    ref = _reference(path)
    _same(read_image(path), ref)


def test_unit_slope_reads_in_one_pass(tmp_path, no_itk_voxels):
    data = _values("i2", (7, 6, 5))
    path = _save(tmp_path / "a.nii.gz", data, slope=1.0, inter=0.0)
    got = read_image(path)
    assert got.array.dtype == np.int16 and np.array_equal(got.array, data.T)


def test_rgb_is_itks(tmp_path):
    rgb = np.zeros((7, 6, 5), [("R", "u1"), ("G", "u1"), ("B", "u1")])
    v = _values("u1", (7, 6, 5, 3))
    rgb["R"], rgb["G"], rgb["B"] = v[..., 0], v[..., 1], v[..., 2]
    path = tmp_path / "rgb.nii.gz"
    nib.save(nib.Nifti1Image(rgb, AFFINE), str(path))
    ref = _reference(path)
    assert ref.multichannel
    _same(read_image(path), ref)


@pytest.mark.parametrize("suffix", [".nii.gz", ".nii"])
@pytest.mark.parametrize("slope", [None, 2.0])  # the one-pass reader, ITK's reading
def test_nan_and_inf_are_the_files(tmp_path, suffix, slope):
    """ITK reads NaN and +-inf as 0; both readers give the file's values (before: inf was 0)."""
    data = _values("f4", (7, 6, 5))
    data[1, 2, 3], data[4, 5, 0], data[0, 0, 4] = np.nan, np.inf, -np.inf
    path = _save(tmp_path / f"a{suffix}", data, slope=slope, inter=0.0 if slope else None)
    got = read_image(path)
    raw = np.asarray(nib.load(str(path)).dataobj).T  # nibabel applies the scaling
    _same(got, _reference(path), raw=raw.astype(got.array.dtype))
    assert np.isnan(got.array[3, 2, 1]) and got.array[0, 5, 4] == np.inf
    assert got.array[4, 0, 0] == -np.inf


def test_nan_in_a_4d_volume_is_refused(tmp_path):
    data = _values("f4", (7, 6, 5, 2))
    data[1, 2, 3, 1] = np.inf
    path = _save(tmp_path / "a.nii.gz", data)
    with pytest.raises(InputError, match="1 NaN or infinite values"):
        read_image(path)


def test_gzip_members_and_padding(tmp_path, no_itk_voxels):
    """As gzip reads them: several members one after the other, zero padding at the end."""
    data = _values("i4", (7, 6, 5))
    raw = gzip.decompress(_save(tmp_path / "a.nii.gz", data).read_bytes())
    for name, blob in [("members", gzip.compress(raw[:500]) + gzip.compress(raw[500:])),
                       ("padded", gzip.compress(raw) + b"\0" * 1000),
                       ("both", gzip.compress(raw[:100]) + gzip.compress(raw[100:]) + b"\0" * 9)]:
        path = tmp_path / f"{name}.nii.gz"
        path.write_bytes(blob)
        assert np.array_equal(read_image(path).array, data.T), name
        assert sio.file_incomplete(path) is None, name


@pytest.mark.parametrize("cut", [10, 200, 400, -40, -8, -1])
def test_truncated_anywhere_is_an_error(tmp_path, cut):
    """Cut inside the header, the voxels or the gzip trailer (CRC, length)."""
    path = _save(tmp_path / "a.nii.gz", _values("f4", (7, 6, 5)))
    blob = path.read_bytes()
    path.write_bytes(blob[:cut])
    with pytest.raises(InputError, match="incomplete"):
        read_image(path)
    assert sio.file_incomplete(path)


def test_damaged_and_trailing_garbage_are_errors(tmp_path):
    path = _save(tmp_path / "a.nii.gz", _values("f4", (7, 6, 5)))
    blob = bytearray(path.read_bytes())
    (tmp_path / "tail.nii.gz").write_bytes(bytes(blob) + b"garbage!")
    blob[len(blob) // 2] ^= 0xFF
    (tmp_path / "flip.nii.gz").write_bytes(bytes(blob))
    for name in ("tail", "flip"):
        with pytest.raises(InputError, match="incomplete .nii.gz file"):
            read_image(tmp_path / f"{name}.nii.gz")


def test_short_uncompressed_file_is_an_error(tmp_path):
    path = _save(tmp_path / "a.nii", _values("i2", (7, 6, 5)))
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(InputError, match="bytes where the header needs"):
        read_image(path)


def test_sample_files_read_as_before(tmp_path):
    """The bundled samples (brain, ct): exactly SimpleITK's reading."""
    from napari_segsuite.cli import main

    assert main(["sample", "brain", "-o", str(tmp_path / "brain"), "--quiet"]) == 0
    files = sorted((tmp_path / "brain").glob("*.nii.gz"))
    assert files
    for f in files:
        _same(read_image(f), _reference(f))


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
@pytest.mark.parametrize("offset", [348, 351, 360])
def test_odd_vox_offsets_as_itk_reads_them(tmp_path, suffix, offset):
    """Data right after the 348-byte header (no extension flag), or at an unaligned offset."""
    import struct

    data = _values("i2", (7, 6, 5))
    blob = _save(tmp_path / "a.nii", data).read_bytes()
    head = bytearray(blob[:348])
    head[108:112] = struct.pack("<f", offset)
    blob = bytes(head) + b"\0" * (offset - 348) + blob[352:]
    path = tmp_path / f"b{suffix}"
    path.write_bytes(blob if suffix == ".nii" else gzip.compress(blob))
    ref = _reference(path)
    assert np.array_equal(ref.array, data.T)
    _same(read_image(path), ref)


@pytest.mark.parametrize("size", [1, 7, 341, 4096])
def test_any_chunk_size_reads_the_same(tmp_path, monkeypatch, size):
    """The one pass goes through the file in chunks: the header and the voxels span chunk
    boundaries anywhere (real volumes take several 1 MiB chunks)."""
    import functools

    data = _values("f8", (9, 8, 7))
    data[2, 3, 4] = np.nan
    files = [_save(tmp_path / "a.nii.gz", data, endian=">"),
             _save(tmp_path / "b.nii", data, ext_bytes=100)]
    raw = gzip.decompress(files[0].read_bytes())
    members = tmp_path / "c.nii.gz"
    members.write_bytes(gzip.compress(raw[:777]) + gzip.compress(raw[777:]) + b"\0" * 3)
    files.append(members)
    refs = [_reference(p) for p in files]
    monkeypatch.setattr(sio, "_nifti_chunks",
                        functools.partial(sio._nifti_chunks, size=size))
    for p, ref in zip(files, refs):
        got = read_image(p)
        _same(got, ref, raw=data.T)
        assert sio.file_incomplete(p) is None
        assert sio._scan_nifti(p)[1][0].tolist() == [4 * 8 * 9 + 3 * 9 + 2]
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(files[0].read_bytes()[:-5])
    with pytest.raises(InputError, match="truncated"):
        read_image(cut)


@pytest.mark.parametrize("offset", [float("nan"), float("inf")])
def test_a_non_finite_vox_offset_is_read_as_itk_reads_it_not_a_traceback(tmp_path, offset):
    """A header whose vox_offset is NaN or infinite: the completeness check used to raise
    ValueError (int(nan)); now the file is ITK's to read, and the result is what SimpleITK gives
    (or a one-line InputError where SimpleITK refuses it)."""
    import struct

    p = tmp_path / "odd.nii"
    sitk.WriteImage(sitk.GetImageFromArray(_values("f4", (4, 5, 6))), str(p))
    raw = bytearray(p.read_bytes())
    raw[108:112] = struct.pack("<f", offset)
    p.write_bytes(bytes(raw))
    try:
        ref = from_sitk(sitk.ReadImage(str(p)))
    except RuntimeError:
        with pytest.raises(InputError):
            read_image(p)
        return
    out = read_image(p)
    np.testing.assert_array_equal(out.array, ref.array)
    assert (out.spacing, out.origin, out.direction) == (ref.spacing, ref.origin, ref.direction)
