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
    ext = extension(p)
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
    import SimpleITK as sitk

    why, nans = _scan_nifti(p) if ext in (".nii", ".nii.gz") else (file_incomplete(p), None)
    if why:
        raise InputError(f"{p}: incomplete {ext} file ({why})")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(f"{p}: cannot read it as {ext} ({_one_line(exc)})") from None
    out = from_sitk(img, name=label)
    if nans is not None:  # ITK read them as 0: put them back, in the file's voxel order
        if out.multichannel or out.array.dtype.kind != "f" or nans.max() >= out.array.size:
            raise InputError(f"{p}: holds {nans.size} NaN values (read as 0 otherwise); "
                             "replace them first")
        out.array.reshape(-1)[nans] = np.nan
    _check_real(out.array, p)
    return out


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

    arr = sitk.GetArrayFromImage(img)
    dim = img.GetDimension()
    spacing = tuple(img.GetSpacing())[::-1]
    origin = tuple(img.GetOrigin())[::-1]
    direction = tuple(img.GetDirection())
    multichannel = img.GetNumberOfComponentsPerPixel() > 1
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
    return _scan_nifti(path)[0]


def _nifti_header(head: bytes):
    """(need, offset, dtype or None) from a NIfTI-1/2 header; None when not one we know."""
    import struct

    for end in ("<", ">"):
        if len(head) >= 348 and struct.unpack(end + "i", head[:4])[0] == 348:
            dims = struct.unpack(end + "8h", head[40:56])
            code = struct.unpack(end + "h", head[70:72])[0]
            bitpix = struct.unpack(end + "h", head[72:74])[0]
            offset = int(struct.unpack(end + "f", head[108:112])[0])
        elif len(head) >= 540 and struct.unpack(end + "i", head[:4])[0] == 540:
            dims = struct.unpack(end + "8q", head[16:80])
            code = struct.unpack(end + "h", head[12:14])[0]
            bitpix = struct.unpack(end + "h", head[14:16])[0]
            offset = struct.unpack(end + "q", head[168:176])[0]
        else:
            continue
        if not 1 <= dims[0] <= 7 or bitpix <= 0 or offset < 0:
            return None  # not a header we understand: ITK decides
        n = 1
        for d in dims[1:dims[0] + 1]:
            n *= max(int(d), 1)
        offset = max(offset, 348)
        dtype = {16: np.dtype(end + "f4"), 64: np.dtype(end + "f8")}.get(code)
        return offset + n * bitpix // 8, offset, dtype
    return None


def _scan_nifti(path: PathLike):
    """(why incomplete or None, flat indices of NaN voxels or None) of a .nii/.nii.gz file,
    in one pass over its data. ITK's NIfTI reader turns NaN into 0 without a word; the reader
    puts them back so the NaN checks see them."""
    import gzip
    import zlib

    if extension(path) not in (".nii", ".nii.gz"):
        return None, None
    opener = gzip.open if extension(path) == ".nii.gz" else open
    nans = []
    try:
        with opener(path, "rb") as fh:
            head = fh.read(540)
            info = _nifti_header(head)
            if info is None:
                return ("the header is incomplete" if len(head) < 348 else None), None
            need, offset, dtype = info
            length = len(head)
            buf = head[offset:] if dtype is not None else b""
            done = 0  # voxels scanned
            while True:
                chunk = fh.read(1 << 24)
                if not chunk:
                    break
                length += len(chunk)
                if dtype is not None:
                    buf += chunk
                    k = len(buf) // dtype.itemsize * dtype.itemsize
                    vals = np.frombuffer(buf[:k], dtype)
                    bad = np.flatnonzero(np.isnan(vals))
                    if bad.size:
                        nans.append(bad + done)
                    done += vals.size
                    buf = buf[k:]
            if dtype is not None and buf:
                k = len(buf) // dtype.itemsize * dtype.itemsize
                vals = np.frombuffer(buf[:k], dtype)
                bad = np.flatnonzero(np.isnan(vals))
                if bad.size:
                    nans.append(bad + done)
    except EOFError:
        return "the compressed data ends early: the file is truncated", None
    except (OSError, zlib.error) as exc:
        return f"the compressed data is damaged ({_one_line(exc)})", None
    if length < need:
        return f"{length} bytes where the header needs {need}", None
    return None, (np.concatenate(nans) if nans else None)


__all__ = ["READ_EXTENSIONS", "WRITE_EXTENSIONS", "read_image", "write_image", "check_writable",
           "from_sitk", "to_sitk", "file_incomplete", "grid_mismatch", "extension", "stem", "can_read",
           "is_dicom_dir"]
