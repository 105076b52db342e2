"""Reading and writing images with their geometry (SimpleITK), atomically.

- :func:`read_image` reads .nii/.nii.gz/.nrrd/.nhdr/.mha/.mhd/.tif/.tiff/.npy files and DICOM series
  folders into a :class:`~napari_segsuite.core.image.SegImage` (numpy order, geometry kept).
- :func:`write_image` writes a SegImage to any of those formats (DICOM excepted), through a
  temporary file in the same folder renamed into place, so a failed or interrupted write never
  leaves a partial file, and never overwrites an existing file unless ``force=True``.

Multi-channel data: SimpleITK vector images (multi-component NIfTI/NRRD/MHA, RGB TIFF) and 4D
scalar NIfTI volumes (contrasts along the 4th axis) are read as one multichannel SegImage,
channels last. Multichannel SegImages are written as vector images.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..core.errors import InputError
from ..core.image import SegImage

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
        return is_dicom_dir(p) or is_scene(p)
    return extension(p) in READ_EXTENSIONS or is_scene(p)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def read_image(path: PathLike, name: Optional[str] = None) -> SegImage:
    """Read an image file or a DICOM series folder into a SegImage.

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
        return geo.read_geotiff(p, label, lazy=False)
    import SimpleITK as sitk

    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as exc:
        raise InputError(f"{p}: cannot read it as {ext} ({_one_line(exc)})") from None
    out = from_sitk(img, name=label)
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


def write_image(path: PathLike, image: SegImage, force: bool = False) -> Path:
    """Write ``image`` with its geometry to ``path`` atomically (temporary file + rename).

    Refuses to overwrite an existing file unless ``force``. DICOM output is not supported.
    """
    p = check_writable(path, force)
    ext = extension(p)
    folder = p.parent
    # Write under the final name inside a hidden temporary folder next to the target, then move
    # the file(s) into place, the header last (.mhd writes a .raw/.zraw beside it).
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{stem(p)}.part-", dir=folder))
    except OSError as exc:  # e.g. a read-only file system
        raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
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
                sitk.WriteImage(img, str(tmp),
                                useCompression=ext in (".nrrd", ".mha", ".mhd", ".tif", ".tiff"))
            except RuntimeError as exc:
                raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
        for extra in sorted(tmpdir.iterdir()):
            if extra.name != tmp.name:
                os.replace(extra, folder / extra.name)
        os.replace(tmp, p)
    except OSError as exc:  # disk full, permissions changed under us, ...
        raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return p


__all__ = ["READ_EXTENSIONS", "WRITE_EXTENSIONS", "read_image", "write_image", "check_writable",
           "from_sitk", "to_sitk", "extension", "stem", "can_read", "is_dicom_dir"]
