"""Reading and writing images with their geometry (SimpleITK), atomically.

- :func:`read_image` reads .nii/.nii.gz/.nrrd/.nhdr/.mha/.mhd/.tif/.tiff/.npy files and DICOM series
  folders into a :class:`~napari_segsuite.core.base.image.SegImage` (numpy order, geometry kept).
- :func:`write_image` writes a SegImage to any of those formats (DICOM excepted), through a
  temporary file in the same folder renamed into place, so a failed or interrupted write never
  leaves a partial file, and never overwrites an existing file unless ``force=True``.

Multi-channel data: SimpleITK vector images (multi-component NIfTI/NRRD/MHA, RGB TIFF) and 4D
scalar NIfTI volumes (contrasts along the 4th axis) are read as one multichannel SegImage,
channels last. Multichannel SegImages are written as vector images.
"""

from __future__ import annotations

import itertools
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..core.base.errors import InputError
from ..core.base.image import SegImage

PathLike = Union[str, os.PathLike]

#: Extensions read by :func:`read_image` (lower case, with the dot).
READ_EXTENSIONS = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".tif", ".tiff", ".npy")
#: Extensions written by :func:`write_image`.
WRITE_EXTENSIONS = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd", ".tif", ".tiff", ".npy")


def extension(path: PathLike) -> str:
    """The file's extension in lower case, ``.nii.gz`` counted as one."""
    name = Path(path).name.lower()
    if name.endswith(".nii.gz"):
        return ".nii.gz"
    return Path(name).suffix


def stem(path: PathLike) -> str:
    """The file name without its (possibly double) extension."""
    name = Path(path).name
    ext = extension(path)
    return name[: len(name) - len(ext)] if ext else name


@contextmanager
def _itk_warnings_off():
    """Keep ITK's warnings (printed straight to stderr) quiet, e.g. GDCM's 'No Series were
    found' for a folder without DICOM files: the caller reports the problem in one line."""
    import SimpleITK as sitk

    was = sitk.ProcessObject.GetGlobalWarningDisplay()
    sitk.ProcessObject.SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject.SetGlobalWarningDisplay(was)


def _series_ids(folder: Path) -> tuple:
    import SimpleITK as sitk

    try:
        with _itk_warnings_off():
            return tuple(sitk.ImageSeriesReader.GetGDCMSeriesIDs(str(folder)))
    except RuntimeError:
        return ()


def is_dicom_dir(path: PathLike) -> bool:
    """True when ``path`` is a folder holding at least one DICOM series."""
    p = Path(path)
    if not p.is_dir():
        return False
    return bool(_series_ids(p))


def can_read(path: PathLike) -> bool:
    """Cheap check (extension / DICOM folder) used by the napari reader."""
    p = Path(path)
    from .scenes import is_scene

    if p.is_dir():
        from .lazy import is_zarr

        return is_zarr(p) or is_dicom_dir(p) or is_scene(p)
    return extension(p) in READ_EXTENSIONS or is_scene(p)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def read_image(path: PathLike, name: Optional[str] = None, lazy: bool = False) -> SegImage:
    """Read an image file, a zarr / OME-Zarr folder or a DICOM series folder into a SegImage.

    ``lazy=True``: zarr and TIFF are read as dask arrays, block by block when computed (see
    :mod:`.lazy`); otherwise everything is read into memory.

    Raises :class:`InputError` (one line) when the path is missing, not a supported format, or
    unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    label = name or (p.name if p.is_dir() else stem(p))
    ext = extension(p)
    if ext in (".nii", ".nii.gz") and p.is_file():  # never a scene, zarr store or GeoTIFF
        return _read_with_itk(p, ext, label)
    from . import geo, scenes

    if scenes.is_scene(p):  # a Landsat / Sentinel-2 folder or MTL file (rasterio)
        return scenes.read_scene(p, name=name, lazy=False)
    from . import lazy as _lazy

    if _lazy.is_zarr(p):
        img = _lazy.read_zarr(p, name=name)
        if not lazy:
            img.metadata.pop("multiscale", None)
            img.array = np.asarray(img.array)
        return img
    if p.is_dir():
        return _read_dicom_series(p, label)
    if ext not in READ_EXTENSIONS:
        raise InputError(
            f"{p}: unsupported format {ext or '(no extension)'}; use one of "
            + ", ".join(READ_EXTENSIONS) + " or a DICOM series folder")
    if ext == ".npy":
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise InputError(f"{p}: not a readable .npy file ({_one_line(exc)})") from None
        if arr.ndim < 2:
            raise InputError(f"{p}: expected a 2D or 3D array, got shape {arr.shape}")
        _check_real(arr, p)
        return SegImage(arr, name=label)
    if ext in (".tif", ".tiff") and geo.is_geotiff(p):  # CRS and geotransform kept (rasterio)
        return geo.read_geotiff(p, label, lazy=lazy)
    if ext in (".tif", ".tiff"):
        # tifffile reads every TIFF, lazily or not: one rule for axes and calibration (ITK
        # added an alpha channel to, or scrambled, a stack stored as separate planes, and
        # ignored Fiji's calibration)
        why = file_incomplete(p)
        if why:
            raise InputError(f"{p}: incomplete {ext} file ({why})")
        out = _lazy.read_tiff_lazy(p, label, lazy=lazy)
        if not lazy:
            _check_real(out.array, p)
        return out
    return _read_with_itk(p, ext, label)


def _read_with_itk(p: Path, ext: str, label: str) -> SegImage:
    """A file SimpleITK reads (NIfTI: in one pass where it can, see :func:`_read_nifti_once`),
    checked complete first, its NaN / infinite voxels kept."""
    import SimpleITK as sitk

    if ext in (".nii", ".nii.gz"):
        out = _read_nifti_once(p, label)  # None: a NIfTI only ITK's own reading decodes
        if out is not None:
            _check_real(out.array, p)
            return out
    why, bad = _scan_nifti(p) if ext in (".nii", ".nii.gz") else (file_incomplete(p), None)
    if why:
        raise InputError(f"{p}: incomplete {ext} file ({why})")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(f"{p}: cannot read it as {ext} ({_one_line(exc)})") from None
    out = from_sitk(img, name=label)
    if bad is not None:  # ITK read them as 0: put them back, in the file's voxel order
        idx, vals = bad
        if out.multichannel or out.array.dtype.kind != "f" or idx.max() >= out.array.size:
            _refuse_nonfinite(p, idx.size)
        out.array.reshape(-1)[idx] = vals
    _check_real(out.array, p)
    return out


def _refuse_nonfinite(p: Path, count: int) -> None:
    raise InputError(f"{p}: holds {count} NaN or infinite values (read as 0 otherwise); "
                     "replace them first")


#: NIfTI datatype codes of the scalar types read straight from the file's bytes.
_NIFTI_SCALARS = {2: "u1", 4: "i2", 8: "i4", 16: "f4", 64: "f8", 256: "i1", 512: "u2",
                  768: "u4", 1024: "i8", 1280: "u8"}


def _nifti_fields(head: bytes, strict: bool = True):
    """The fields of a NIfTI-1/2 header (a dict), or None when ``head`` is not one we read.

    ``strict`` (the one-pass reader): a single-file header (magic ``n+1`` / ``n+2``) whose voxels
    start after it at a whole byte offset; anything else is left to ITK's own reading. Not
    strict (the completeness check, :func:`_nifti_header`): any header of the right size with a
    positive bitpix and a non-negative offset."""
    import math
    import struct

    for end in ("<", ">"):
        if len(head) >= 348 and struct.unpack(end + "i", head[:4])[0] == 348:
            if strict and head[344:348] != b"n+1\0":
                return None
            dims = struct.unpack(end + "8h", head[40:56])
            code, bitpix = struct.unpack(end + "2h", head[70:74])
            offset = struct.unpack(end + "f", head[108:112])[0]
            slope, inter = struct.unpack(end + "2f", head[112:120])
            size = 348
        elif len(head) >= 540 and struct.unpack(end + "i", head[:4])[0] == 540:
            if strict and head[4:12] != b"n+2\0\r\n\x1a\n":
                return None
            code, bitpix = struct.unpack(end + "2h", head[12:16])
            dims = struct.unpack(end + "8q", head[16:80])
            offset = struct.unpack(end + "q", head[168:176])[0]
            slope, inter = struct.unpack(end + "2d", head[176:192])
            size = 540
        else:
            continue
        if not 1 <= dims[0] <= 7 or not math.isfinite(offset):
            return None
        if strict and (not offset >= size or offset != int(offset)):
            return None
        if not strict and (bitpix <= 0 or int(offset) < 0):
            return None
        n = 1
        for d in dims[1:dims[0] + 1]:
            n *= max(int(d), 1)
        return dict(end=end, dims=dims, code=code, bitpix=bitpix, offset=int(offset),
                    slope=slope, inter=inter, voxels=n)
    return None


def _nifti_head(chunks) -> bytes:
    """The first 540 bytes (or all, if fewer) of :func:`_nifti_chunks`' stream: the header."""
    head = b""
    for chunk in chunks:
        head += chunk
        if len(head) >= 540:
            break
    return head


def _read_nifti_once(p: Path, label: str) -> Optional[SegImage]:
    """A .nii/.nii.gz file read in one pass over its (decompressed) bytes, or None when it is not
    a plain one (then :func:`read_image` checks it with :func:`_scan_nifti` and lets ITK read it).

    ITK reads only the header (``ReadImageInformation``): the geometry (spacing, origin,
    direction), size, dimension and pixel type are ITK's own. The voxels are the file's bytes,
    decoded here where that is all ITK does with them: one scalar value per voxel of an integer
    or float type, not rescaled (``scl_slope`` 0 or 1 and ``scl_inter`` 0) and of the pixel
    type ITK reports; anything else (RGB, vectors, complex, scaled values, odd headers) takes
    ITK's reading. The checks are those of :func:`_scan_nifti`: a truncated or damaged file is
    an InputError, and NaN / infinite values are kept as they are in the file (ITK reads them
    as 0; a 4D volume holding some is refused, as before)."""
    import zlib

    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(p))
    try:
        reader.ReadImageInformation()
    except RuntimeError:
        return None  # ITK's full reading says why
    if reader.GetNumberOfComponents() != 1:
        return None
    itk_types = {sitk.sitkUInt8: "u1", sitk.sitkInt8: "i1", sitk.sitkUInt16: "u2",
                 sitk.sitkInt16: "i2", sitk.sitkUInt32: "u4", sitk.sitkInt32: "i4",
                 sitk.sitkUInt64: "u8", sitk.sitkInt64: "i8", sitk.sitkFloat32: "f4",
                 sitk.sitkFloat64: "f8"}
    itk_dtype = itk_types.get(reader.GetPixelID())
    size = tuple(int(v) for v in reader.GetSize())
    n = int(np.prod(size, dtype=np.int64))
    ext = extension(p)
    chunks = _nifti_chunks(p)
    try:
        head = _nifti_head(chunks)
        f = _nifti_fields(head)
        if (f is None or _NIFTI_SCALARS.get(f["code"]) != itk_dtype or itk_dtype is None
                or np.dtype(itk_dtype).itemsize * 8 != f["bitpix"] or f["voxels"] != n
                or f["slope"] not in (0.0, 1.0) or f["inter"] != 0.0):
            return None
        arr = np.empty(n, np.dtype(f["end"] + itk_dtype))
        buf = arr.view(np.uint8)
        start, stop = f["offset"], f["offset"] + buf.size  # the voxels' bytes in the file
        length = 0
        for chunk in itertools.chain((head,), chunks):
            lo, hi = max(start - length, 0), min(stop - length, len(chunk))
            if hi > lo:
                buf[length + lo - start:length + hi - start] = np.frombuffer(
                    chunk, np.uint8, hi - lo, lo)
            length += len(chunk)
    except EOFError:
        raise InputError(f"{p}: incomplete {ext} file (the compressed data ends early: the file "
                         "is truncated)") from None
    except (OSError, zlib.error) as exc:
        raise InputError(f"{p}: incomplete {ext} file (the compressed data is damaged "
                         f"({_one_line(exc)}))") from None
    finally:
        chunks.close()
    if length < stop:
        raise InputError(f"{p}: incomplete {ext} file ({length} bytes where the header needs "
                         f"{stop})")
    if not arr.dtype.isnative:
        arr.byteswap(inplace=True)  # the values in the machine's byte order
        arr = arr.view(arr.dtype.newbyteorder())
    arr = arr.reshape(size[::-1])
    dim = reader.GetDimension()
    if dim == 4 and arr.dtype.kind == "f" and not np.isfinite(arr).all():
        _refuse_nonfinite(p, int(np.count_nonzero(~np.isfinite(arr))))
    return _segimage(arr, dim, reader.GetSpacing(), reader.GetOrigin(), reader.GetDirection(),
                     1, label)


def _nifti_chunks(path: PathLike, size: int = 1 << 20):
    """The bytes of a .nii or .nii.gz file (decompressed), in chunks of at most ``size``, in one
    pass over the file. Raises EOFError when the compressed data ends early (truncated),
    zlib.error / OSError when it is damaged. As :mod:`gzip`: several members are read one after
    the other, and zero padding may follow the last one."""
    import zlib

    with open(path, "rb") as fh:
        if extension(path) != ".nii.gz":
            while True:
                chunk = fh.read(size)
                if not chunk:
                    return
                yield chunk
        d = zlib.decompressobj(31)  # gzip: zlib checks the header, the CRC and the length
        pending = b""  # compressed bytes not yet given to ``d``
        while True:
            if not pending:
                pending = fh.read(size)
                if not pending:
                    if d.eof:
                        return
                    raise EOFError("the compressed data ends before its end-of-stream marker")
            if d.eof:  # between members: zero padding, or the next member
                pending = pending.lstrip(b"\0")
                if not pending:
                    continue
                if len(pending) < 2:
                    more = fh.read(size)
                    if not more:
                        raise OSError("not a gzip file after the compressed data")
                    pending += more
                    continue
                if pending[:2] != b"\x1f\x8b":
                    raise OSError("not a gzip file after the compressed data")
                d = zlib.decompressobj(31)
            out = d.decompress(pending, size)
            if out:
                yield out
            pending = d.unused_data if d.eof else d.unconsumed_tail


def _check_real(arr: np.ndarray, p: Path) -> None:
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{p}: holds {arr.dtype} values; an image needs real numbers "
                         "(integers or floats)")


def _read_dicom_series(folder: Path, name: str) -> SegImage:
    import SimpleITK as sitk

    ids = _series_ids(folder)
    if not ids:
        raise InputError(f"{folder}: folder holds no DICOM series")
    if len(ids) > 1:
        # The largest series wins (the command line says so: metadata below)
        sizes = {sid: len(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid))
                 for sid in ids}
        sid = max(ids, key=lambda s: sizes[s])
    else:
        sid = ids[0]
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder), sid)
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"{folder}: cannot read the DICOM series ({_one_line(exc)})") from None
    out = from_sitk(img, name=name)
    out.metadata["dicom_series_uid"] = sid
    out.metadata["dicom_series_count"] = len(ids)
    out.metadata["dicom_series_files"] = len(files)
    return out


def from_sitk(img, name: str = "image") -> SegImage:
    """Convert a SimpleITK image to a SegImage (numpy order, geometry kept)."""
    import SimpleITK as sitk

    return _segimage(sitk.GetArrayFromImage(img), img.GetDimension(), img.GetSpacing(),
                     img.GetOrigin(), img.GetDirection(), img.GetNumberOfComponentsPerPixel(),
                     name)


def _segimage(arr: np.ndarray, dim: int, spacing, origin, direction, components: int,
              name: str) -> SegImage:
    """A SegImage from an array in ITK's numpy order (GetArrayFromImage's) and ITK's geometry."""
    spacing = tuple(spacing)[::-1]
    origin = tuple(origin)[::-1]
    direction = tuple(direction)
    multichannel = components > 1
    if dim == 4 and not multichannel:
        # 4D scalar volume (e.g. NIfTI with contrasts/bands along t): channels last.
        arr = np.moveaxis(arr, 0, -1)
        spacing, origin = spacing[1:], origin[1:]
        d = np.asarray(direction).reshape(4, 4)[:3, :3]
        direction = tuple(d.ravel())
        multichannel = True
    return SegImage(np.ascontiguousarray(arr), spacing=spacing, origin=origin,
                    direction=direction, multichannel=multichannel, name=name)


def to_sitk(image: SegImage):
    """Convert a SegImage to a SimpleITK image with its geometry."""
    import SimpleITK as sitk

    arr = image.array
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    elif arr.dtype == np.float16:
        arr = arr.astype(np.float32)
    try:
        img = sitk.GetImageFromArray(np.ascontiguousarray(arr), isVector=image.multichannel)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"cannot store an array of dtype {arr.dtype} ({_one_line(exc)})") from None
    img.SetSpacing(tuple(float(s) for s in image.spacing[::-1]))
    img.SetOrigin(tuple(float(o) for o in image.origin[::-1]))
    img.SetDirection(tuple(float(d) for d in image.direction))
    return img


def check_writable(path: PathLike, force: bool = False) -> Path:
    """Validate an output path before any work is done: supported extension, existing folder,
    and no existing file unless ``force``. Returns the path."""
    p = Path(path)
    ext = extension(p)
    if ext not in WRITE_EXTENSIONS:
        raise InputError(
            f"{p}: cannot write {ext or '(no extension)'}; use one of " + ", ".join(WRITE_EXTENSIONS))
    suffix = p.name[len(p.name) - len(ext):]
    if suffix != ext and (ext in (".mha", ".mhd") or
                          (ext.startswith(".nii") and suffix != ext.upper())):
        # SimpleITK reads .NII(.GZ) but neither '.Nii' nor upper-case MetaImage names
        raise InputError(f"{p}: SimpleITK cannot read a {suffix} file back; name it "
                         f"{stem(p)}{ext}")
    if p.is_dir():
        raise InputError(f"{p}: is a folder, give a file name")
    if not p.parent.exists():
        raise InputError(f"{p.parent}: output folder does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise InputError(f"{p.parent}: output folder is not writable")
    from ..core.base.atomic import check_folder

    check_folder(p.parent, str(p))  # the true test (a read-only mount, ...), stale temps cleaned
    if p.exists() and not force:
        raise InputError(f"{p}: already exists; use --force to overwrite it")
    if ext == ".mhd":  # its voxels go to a .zraw beside it
        data = p.with_name(stem(p) + ".zraw")
        if data.exists() and not force:
            raise InputError(f"{data}: already exists (it would hold {p.name}'s voxels); use "
                             "--force to overwrite it")
    return p


def _geotiff(ext: str, image: SegImage) -> bool:
    """A georeferenced 2D image bound for .tif is written as a GeoTIFF."""
    return ext in (".tif", ".tiff") and bool(image.metadata.get("crs")) and image.ndim == 2


def lost_geometry(path: PathLike, image: SegImage) -> list:
    """What of ``image``'s geometry a file at ``path`` cannot keep: ``.npy`` keeps none, TIFF
    keeps only the in-plane spacing (no origin, no direction, no spacing between slices).
    Empty for NIfTI, NRRD and MetaImage, and where the values are the defaults anyway."""
    ext = extension(path)
    if _geotiff(ext, image):
        return []
    nd = image.ndim
    eye = np.eye(nd).ravel()
    lost = []
    if ext == ".npy" and not np.allclose(image.spacing, 1.0):
        lost.append("spacing")
    if ext in (".tif", ".tiff") and nd == 3 and not np.isclose(image.spacing[0], 1.0):
        lost.append("the spacing between slices")
    if ext in (".npy", ".tif", ".tiff"):
        if not np.allclose(image.origin, 0.0):
            lost.append("origin")
        if not np.allclose(image.direction, eye):
            lost.append("direction")
    return lost


def grid_mismatch(image: SegImage, ref: SegImage, path: Optional[PathLike] = None) -> list:
    """How ``image`` (read from ``path``) is on another grid than ``ref``: a list like
    ``["spacing (1, 1, 1) vs (2, 1, 1)"]``, empty when the shapes' grids agree. Only what the
    file's format can hold is compared (a .npy holds no geometry, a TIFF only the in-plane
    spacing, and a TIFF without a resolution says 1): there the file is taken to be on
    ``ref``'s grid."""
    ext = extension(path) if path is not None else ""
    nd = min(image.ndim, ref.ndim)
    sp, sp0 = np.asarray(image.spacing[-nd:], float), np.asarray(ref.spacing[-nd:], float)
    tol = 1e-4 * float(np.max(np.abs(sp0))) if sp0.size else 1e-4
    out = []

    def fmt(v):
        return "(" + ", ".join(f"{x:g}" for x in v) + ")"

    if ext == ".npy":
        return out
    if ext in (".tif", ".tiff"):
        sp, sp0 = sp[-2:], sp0[-2:]
        if np.allclose(sp, 1.0):  # no resolution stored (most tools write none)
            return out
    if not np.allclose(sp, sp0, rtol=1e-5, atol=1e-6):
        out.append(f"spacing {fmt(sp)} vs {fmt(sp0)}")
    if ext in (".tif", ".tiff"):
        return out
    if not np.allclose(image.origin[-nd:], ref.origin[-nd:], rtol=0, atol=tol):
        out.append(f"origin {fmt(image.origin[-nd:])} vs {fmt(ref.origin[-nd:])}")
    if image.ndim == ref.ndim and not np.allclose(image.direction, ref.direction, atol=1e-4):
        out.append(f"direction {fmt(image.direction)} vs {fmt(ref.direction)}")
    return out


def write_image(path: PathLike, image: SegImage, force: bool = False) -> Path:
    """Write ``image`` with its geometry to ``path`` safely (see :mod:`..core.atomic`).

    The file is written into a hidden temporary folder beside the target, flushed to the disk
    and verified (the header read back: shape and channels; NIfTI: the data as long as its
    header says, so a short write on a full disk is an error, not a truncated file), then
    published: without ``force`` by an exclusive link that fails if ``path`` exists, even if it
    appeared during the work; with ``force`` by an atomic rename over it. DICOM output is not
    supported.
    """
    from ..core.base import atomic

    p = check_writable(path, force)
    ext = extension(p)
    folder = p.parent
    # Write under the final name inside a hidden temporary folder next to the target
    # (atomic.staged: removed with what is left in it), then move the file(s) into place, the
    # header last (.mhd writes a .raw/.zraw beside it).
    published = []
    with atomic.staged(p) as staged:
        tmpdir = staged.parent
        try:
            # the extension in lower case (ITK's NIfTI writer refuses '.NII.GZ'); the rename
            # below gives the file the name asked for
            tmp = tmpdir / (stem(p) + ext)
            if ext == ".npy":
                with open(tmp, "wb") as fh:
                    np.save(fh, image.array, allow_pickle=False)
            elif _geotiff(ext, image):  # CRS, transform and nodata kept (rasterio)
                from .geo import write_geotiff

                write_geotiff(tmp, image)
            else:
                import SimpleITK as sitk

                img = to_sitk(image)
                try:
                    with _itk_warnings_off():  # a short write is found below, said in one line
                        sitk.WriteImage(img, str(tmp), useCompression=ext in (
                            ".nrrd", ".mha", ".mhd", ".tif", ".tiff"))
                except RuntimeError as exc:
                    raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
            for f in tmpdir.iterdir():
                atomic.fsync(f)
            _verify_written(tmp, image, p)
            for extra in sorted(tmpdir.iterdir()):
                if extra.name != tmp.name:
                    published.append(atomic.publish(extra, folder / extra.name, force))
            atomic.publish(tmp, p, force)
            published.clear()
        except OSError as exc:  # disk full, permissions changed under us, ...
            raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
        finally:
            for f in published:  # the header could not be published: take its data file back
                atomic.unpublish(f)
    return p


def _verify_written(tmp: Path, image: SegImage, target: Path) -> None:
    """The written file holds all of ``image``: its header reads back with the right size and
    channels, and (NIfTI) its data is as long as the header says."""
    ext = extension(tmp)
    if ext == ".npy":
        try:  # a memory map checks the file holds all the data its header says
            shape = np.load(tmp, mmap_mode="r", allow_pickle=False).shape
        except (ValueError, OSError):
            shape = None
        if shape != image.array.shape:
            raise InputError(f"{target}: the written file is incomplete (the disk may be "
                             "full); nothing was written")
        return
    if ext in (".tif", ".tiff"):  # ITK misreads some TIFFs (e.g. GeoTIFFs) as 8-bit RGBA
        why = _tiff_incomplete(tmp)
        if not why:
            try:
                import tifffile

                with tifffile.TiffFile(tmp) as tf:
                    n = int(np.prod(tf.series[0].shape))
                if n != image.array.size:
                    why = f"{n} values where the image has {image.array.size}"
            except ImportError:  # pragma: no cover - scikit-image brings tifffile
                pass
            except Exception as exc:  # noqa: BLE001 - an unreadable file
                why = _one_line(exc)
        if why:
            raise InputError(f"{target}: the written file is incomplete ({why}; the disk may "
                             "be full); nothing was written")
        return
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(tmp))
    try:
        with _itk_warnings_off():
            reader.ReadImageInformation()
    except RuntimeError:
        raise InputError(f"{target}: the written file cannot be read back (the disk may be "
                         "full); nothing was written") from None
    comps = image.array.shape[-1] if image.multichannel else 1
    want = tuple(image.shape[::-1])
    got = tuple(reader.GetSize())
    if got != want or reader.GetNumberOfComponents() != comps:
        raise InputError(f"{target}: the written file holds size {got} but the image has "
                         f"{want}; nothing was written")
    why = file_incomplete(tmp)
    if why:
        raise InputError(f"{target}: the write was cut short ({why}; the disk may be full); "
                         "nothing was written")


def _tiff_incomplete(path: PathLike) -> Optional[str]:
    """Why a TIFF holds less than its directories say: a directory (page) or strip/tile beyond
    the end of the file (a truncated multi-page TIFF otherwise reads as fewer slices)."""
    import struct

    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(16)
        if len(head) < 8 or head[:2] not in (b"II", b"MM"):
            return None  # not a TIFF: the reader says so
        end = "<" if head[:2] == b"II" else ">"
        magic = struct.unpack(end + "H", head[2:4])[0]
        big = magic == 43
        if magic not in (42, 43):
            return None
        nxt = struct.unpack(end + "Q", head[8:16])[0] if big else \
            struct.unpack(end + "I", head[4:8])[0]
        cnt_f, ent_f, ent_n, off_n = (("Q", "HHQ8s", 20, 8) if big else ("H", "HHI4s", 12, 4))
        item = {3: "H", 4: "I", 16: "Q"}
        pages = 0
        while nxt:
            if nxt + 2 > size or pages > 1_000_000:
                return f"page {pages + 1} lies beyond the end of the file (truncated)"
            fh.seek(nxt)
            n = struct.unpack(end + cnt_f, fh.read(struct.calcsize(cnt_f)))[0]
            raw = fh.read(n * ent_n + off_n)
            if len(raw) < n * ent_n + off_n:
                return f"page {pages + 1} is cut off (truncated)"
            tags = {}
            for i in range(n):
                tag, typ, count, val = struct.unpack(end + ent_f, raw[i * ent_n:(i + 1) * ent_n])
                if tag in (273, 279, 324, 325) and typ in item:
                    fmt = f"{end}{count}{item[typ]}"
                    nbytes = struct.calcsize(fmt)
                    if nbytes <= off_n:
                        tags[tag] = struct.unpack(fmt, val[:nbytes])
                    else:
                        offset = struct.unpack(end + ("Q" if big else "I"), val)[0]
                        if offset + nbytes > size:
                            return f"page {pages + 1}'s strip table lies beyond the end of the file"
                        fh.seek(offset)
                        tags[tag] = struct.unpack(fmt, fh.read(nbytes))
            for offs, counts in ((273, 279), (324, 325)):
                if offs in tags and counts in tags:
                    last = max((o + c for o, c in zip(tags[offs], tags[counts])), default=0)
                    if last > size:
                        return f"page {pages + 1}'s data ends beyond the end of the file"
            nxt = struct.unpack(end + ("Q" if big else "I"), raw[n * ent_n:])[0]
            pages += 1
    return None


def file_incomplete(path: PathLike) -> Optional[str]:
    """Why a NIfTI or TIFF file holds less than its header says (None when it is complete, or
    another format, whose reader finds it). A truncated .nii.gz, or a .nii shorter than
    ``vox_offset`` + the voxels' bytes, would otherwise read as the full volume padded with
    zeros, a truncated multi-page TIFF as fewer slices."""
    ext = extension(path)
    if ext in (".tif", ".tiff"):
        return _tiff_incomplete(path)
    return _scan_nifti(path, values=False)[0]


def _nifti_header(head: bytes):
    """(need, offset, dtype or None) from a NIfTI-1/2 header; None when not one we know."""
    f = _nifti_fields(head, strict=False)
    if f is None:
        return None  # not a header we understand: ITK decides
    offset = max(f["offset"], 348)
    dtype = {16: np.dtype(f["end"] + "f4"), 64: np.dtype(f["end"] + "f8")}.get(f["code"])
    return offset + f["voxels"] * f["bitpix"] // 8, offset, dtype


def _scan_nifti(path: PathLike, values: bool = True):
    """(why incomplete or None, (flat indices, values) of the NaN / infinite voxels or None) of
    a .nii/.nii.gz file, in one pass over its data (``values=False``: the completeness only).
    ITK's NIfTI reader turns NaN and infinities into 0 without a word; :func:`read_image` puts
    them back so the checks see them."""
    import zlib

    if extension(path) not in (".nii", ".nii.gz"):
        return None, None
    bad, vals = [], []
    chunks = _nifti_chunks(path)
    try:
        head = _nifti_head(chunks)
        info = _nifti_header(head)
        if info is None:
            return ("the header is incomplete" if len(head) < 348 else None), None
        need, offset, dtype = info
        if not values:
            dtype = None
        length = 0
        buf = b""
        done = 0  # voxels scanned
        for chunk in itertools.chain((head,), chunks):
            if dtype is not None:
                lo = max(offset - length, 0)
                if lo < len(chunk):
                    buf += chunk[lo:] if lo else chunk
                    k = len(buf) // dtype.itemsize * dtype.itemsize
                    v = np.frombuffer(buf, dtype, k // dtype.itemsize)
                    idx = np.flatnonzero(~np.isfinite(v))
                    if idx.size:
                        bad.append(idx + done)
                        vals.append(v[idx])
                    done += v.size
                    buf = buf[k:]
            length += len(chunk)
    except EOFError:
        return "the compressed data ends early: the file is truncated", None
    except (OSError, zlib.error) as exc:
        return f"the compressed data is damaged ({_one_line(exc)})", None
    finally:
        chunks.close()
    if length < need:
        return f"{length} bytes where the header needs {need}", None
    if not bad:
        return None, None
    return None, (np.concatenate(bad), np.concatenate(vals))


__all__ = ["READ_EXTENSIONS", "WRITE_EXTENSIONS", "read_image", "write_image", "check_writable",
           "from_sitk", "to_sitk", "file_incomplete", "grid_mismatch", "extension", "stem", "can_read",
           "is_dicom_dir"]
