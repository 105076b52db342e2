"""GeoTIFF / Cloud-Optimised GeoTIFF in and out with rasterio (GDAL), keeping the georeference.

rasterio is imported only here, and only when a georeferenced file is read or written: a plain
TIFF, NIfTI or DICOM never loads it (:func:`is_geotiff` sniffs the TIFF tags itself).

Geometry. A north-up GeoTIFF's affine transform ``(a, b, c, d, e, f)`` (x = a*col + b*row + c,
y = d*col + e*row + f, corner of the first pixel at (c, f)) becomes the SegImage's

- ``spacing`` = (pixel height, pixel width), positive (numpy order y, x), i.e. the layer's scale;
- ``origin`` = the *centre* of the first pixel, (northing, easting), i.e. the layer's translate;
- ``direction`` = the unit columns of ``[[a, b], [d, e]]`` in SimpleITK's (x, y) order: for
  north-up images ``(1, 0, 0, -1)`` (rows run south).

and back: the transform written is rebuilt from spacing, origin and direction, so a result on the
image's grid (or a crop, whose translate moved) is georeferenced correctly. The CRS (WKT), the
nodata value and the transform as read are kept in ``metadata["crs"]``, ``["nodata"]``,
``["transform"]``; band descriptions in ``metadata["channel_names"]``.

Large rasters are read lazily (``lazy=True``, or automatically above :data:`LAZY_BYTES`): a dask
array whose chunks each open the file and read one window, so nothing is read until a chunk is
needed, and every scheduler (threads, processes, distributed) can read it.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple, Union

import numpy as np

from ..core.base.errors import InputError
from ..core.base.image import GEO_KEYS, SegImage

PathLike = Union[str, os.PathLike]

#: Rasters larger than this are read lazily (dask) unless ``lazy=False``.
LAZY_BYTES = 512 * 2**20
#: Chunk size (pixels per side) of lazily read rasters.
CHUNK = 1024
# GeoTIFF tags: ModelPixelScale, ModelTiepoint, ModelTransformation, GeoKeyDirectory
_GEO_TAGS = {33550, 33922, 34264, 34735}

#: Colours of known class names (RGB), for the colour table of a label GeoTIFF.
CLASS_COLOURS = {
    "water": (31, 120, 180), "vegetation": (51, 160, 44), "urban": (227, 26, 28),
    "bare soil": (177, 89, 40), "cloud": (240, 240, 240), "cloud shadow": (90, 90, 90),
    "fill": (0, 0, 0), "snow": (166, 206, 227), "cirrus": (202, 178, 214),
    "dilated cloud": (200, 200, 200), "clear": (255, 255, 191),
}
# A qualitative palette for classes without a known colour (class 1 = first entry).
_PALETTE = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
            (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
            (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
            (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (128, 128, 128)]


def rasterio():
    """Import rasterio, or a one-line InputError saying how to install it."""
    try:
        import rasterio as rio
    except ImportError:
        raise InputError("reading or writing georeferenced files needs rasterio; install it with "
                         "'pip install rasterio'") from None
    return rio


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


# -- sniffing ----------------------------------------------------------------------------------
def tiff_tags(path: PathLike) -> set:
    """The tag numbers of a TIFF's first image directory (classic or BigTIFF), read from the
    header alone; an empty set when the file is not a TIFF or cannot be read."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
            if len(head) < 8 or head[:2] not in (b"II", b"MM"):
                return set()
            e = "<" if head[:2] == b"II" else ">"
            magic = struct.unpack(e + "H", head[2:4])[0]
            if magic == 42:
                fh.seek(struct.unpack(e + "I", head[4:8])[0])
                n = struct.unpack(e + "H", fh.read(2))[0]
                size, fmt = 12, e + "H"
            elif magic == 43 and len(head) >= 16:
                fh.seek(struct.unpack(e + "Q", head[8:16])[0])
                n = struct.unpack(e + "Q", fh.read(8))[0]
                size, fmt = 20, e + "H"
            else:
                return set()
            if n > 4096:
                return set()
            raw = fh.read(n * size)
            return {struct.unpack(fmt, raw[i * size:i * size + 2])[0]
                    for i in range(len(raw) // size)}
    except (OSError, struct.error):
        return set()


def is_geotiff(path: PathLike) -> bool:
    """True when ``path`` is a TIFF carrying GeoTIFF georeferencing tags."""
    return bool(tiff_tags(path) & _GEO_TAGS)


def is_georeferenced(image: SegImage) -> bool:
    """True when ``image`` carries a CRS (read from a GeoTIFF or a scene)."""
    return bool(image.metadata.get("crs"))


# -- geometry <-> affine transform -----------------------------------------------------------
def geometry_from_transform(t: Sequence[float]) -> Dict[str, tuple]:
    """SegImage ``spacing``/``origin``/``direction`` (2D) from an affine ``(a, b, c, d, e, f)``."""
    a, b, c, d, e, f = (float(v) for v in tuple(t)[:6])
    m = np.array([[a, b], [d, e]])
    sx, sy = float(np.hypot(a, d)), float(np.hypot(b, e))
    if sx == 0 or sy == 0:
        raise InputError(f"the geotransform {tuple(t)[:6]} has a zero pixel size")
    direction = (m / np.array([sx, sy])[None, :]).ravel()
    centre = m @ np.array([0.5, 0.5]) + np.array([c, f])  # (x, y) of the first pixel's centre
    return {"spacing": (sy, sx), "origin": (float(centre[1]), float(centre[0])),
            "direction": tuple(float(v) for v in direction)}


def transform_from_geometry(image: SegImage) -> Tuple[float, ...]:
    """The affine ``(a, b, c, d, e, f)`` of a 2D SegImage's grid (inverse of
    :func:`geometry_from_transform`)."""
    if image.ndim != 2:
        raise InputError(f"a GeoTIFF holds 2D rasters; this image has {image.ndim} spatial axes")
    sy, sx = image.spacing
    m = np.asarray(image.direction, dtype=float).reshape(2, 2) * np.array([sx, sy])[None, :]
    centre = np.array([image.origin[1], image.origin[0]])
    corner = centre - m @ np.array([0.5, 0.5])
    return (float(m[0, 0]), float(m[0, 1]), float(corner[0]),
            float(m[1, 0]), float(m[1, 1]), float(corner[1]))


def crs_name(crs_wkt: str) -> str:
    """A short name for a CRS ('EPSG:32633' where known, else its WKT name)."""
    rio = rasterio()
    try:
        crs = rio.crs.CRS.from_user_input(crs_wkt)
        epsg = crs.to_epsg()
        return f"EPSG:{epsg}" if epsg else (crs.to_string() or "custom")
    except Exception:  # noqa: BLE001 - only a label
        return "custom"


# -- lazy reading --------------------------------------------------------------------------------
class WindowReader:
    """An array-like over one band of a raster (optionally warped onto another grid) whose
    ``__getitem__`` opens the file and reads only the window asked for; for ``dask.array``.

    Opening per read keeps it safe with threads and picklable for distributed workers."""

    def __init__(self, path: PathLike, band: int, shape: Tuple[int, int], dtype,
                 warp: Optional[dict] = None) -> None:
        self.path, self.band, self.shape, self.dtype = str(path), int(band), tuple(shape), \
            np.dtype(dtype)
        self.ndim = 2
        self.warp = warp  # WarpedVRT keywords (crs, transform, width, height, resampling)

    def __getitem__(self, key) -> np.ndarray:
        rio = rasterio()
        from rasterio.windows import Window

        if not isinstance(key, tuple):
            key = (key,)
        key = key + (slice(None),) * (2 - len(key))
        (r0, r1, rs), (c0, c1, cs) = (k.indices(n) for k, n in zip(key, self.shape))
        h, w = max(0, r1 - r0), max(0, c1 - c0)
        if h == 0 or w == 0:
            return np.zeros((h, w), self.dtype)
        win = Window(c0, r0, w, h)
        with rio.open(self.path) as src:
            if self.warp:
                from rasterio.vrt import WarpedVRT

                with WarpedVRT(src, **self.warp) as vrt:
                    out = vrt.read(self.band, window=win)
            else:
                out = src.read(self.band, window=win)
        return out[::rs, ::cs].astype(self.dtype, copy=False)


def lazy_band(path: PathLike, band: int, shape, dtype, warp: Optional[dict] = None,
              chunks: int = CHUNK):
    """A dask array reading band ``band`` (1-based) of ``path`` window by window."""
    import dask.array as da

    reader = WindowReader(path, band, shape, dtype, warp)
    return da.from_array(reader, chunks=(chunks, chunks), asarray=False, lock=False,
                         name=f"geo-{Path(path).name}-{band}-{abs(hash(str(warp)))}-"
                              f"{os.path.getmtime(path)}")


def want_lazy(lazy: Optional[bool], nbytes: float) -> bool:
    return bool(lazy) if lazy is not None else nbytes > LAZY_BYTES


# -- reading ---------------------------------------------------------------------------------------
def read_geotiff(path: PathLike, name: Optional[str] = None,
                 lazy: Optional[bool] = None) -> SegImage:
    """Read a GeoTIFF / COG (or any raster GDAL reads, e.g. JPEG 2000) with its georeference.

    One band gives a 2D image; several give a multichannel image (bands last) named by their
    descriptions. ``lazy``: True a dask array, False numpy, None numpy unless larger than
    :data:`LAZY_BYTES`. Raises a one-line :class:`InputError` for unreadable files.
    """
    rio = rasterio()
    p = Path(path)
    try:
        with rio.open(p) as src:
            info = _describe(src)
    except rio.errors.RasterioIOError as exc:
        raise InputError(f"{p}: cannot read it as a GeoTIFF ({_one_line(exc)})") from None
    if len(set(info["dtypes"])) > 1:
        raise InputError(f"{p}: its bands have different types {sorted(set(info['dtypes']))}")
    dtype = np.dtype(info["dtypes"][0])
    count, (h, w) = info["count"], info["shape"]
    if dtype.kind not in "biuf":
        raise InputError(f"{p}: holds {dtype} values; an image needs real numbers")
    if want_lazy(lazy, h * w * count * dtype.itemsize):
        import dask.array as da

        bands = [lazy_band(p, i + 1, (h, w), dtype) for i in range(count)]
        arr = bands[0] if count == 1 else da.stack(bands, axis=-1)
    else:
        try:
            with rio.open(p) as src:
                data = src.read()
        except rio.errors.RasterioIOError as exc:
            raise InputError(f"{p}: cannot read its pixels ({_one_line(exc)})") from None
        arr = data[0] if count == 1 else np.ascontiguousarray(np.moveaxis(data, 0, -1))
    meta = geo_metadata(info)
    if count > 1:
        meta["channel_names"] = [d or f"band {i + 1}" for i, d in enumerate(info["descriptions"])]
    elif info["descriptions"][0]:
        meta["band_name"] = info["descriptions"][0]
    return SegImage(arr, multichannel=count > 1, name=name or _stem(p), metadata=meta,
                    **geometry_from_transform(info["transform"]))


def _stem(p: Path) -> str:
    from . import stem

    return stem(p)


def _describe(src) -> dict:
    """What :func:`read_geotiff` and the scene readers need to know of an open dataset."""
    names = {}
    tags = src.tags()
    if "LABEL_NAMES" in tags:
        try:
            names = {int(k): str(v) for k, v in json.loads(tags["LABEL_NAMES"]).items()}
        except (ValueError, AttributeError):
            names = {}
    return {"count": src.count, "shape": (src.height, src.width), "dtypes": list(src.dtypes),
            "crs": src.crs.to_wkt() if src.crs else None, "transform": tuple(src.transform)[:6],
            "nodata": src.nodata, "descriptions": list(src.descriptions),
            "res": tuple(src.res), "label_names": names}


def geo_metadata(info: dict) -> dict:
    meta: Dict[str, Any] = {"transform": info["transform"]}
    if info.get("crs"):
        meta["crs"] = info["crs"]
    if info.get("nodata") is not None:
        meta["nodata"] = float(info["nodata"])
    if info.get("label_names"):
        meta["label_names"] = dict(info["label_names"])
    return meta


# -- writing ---------------------------------------------------------------------------------------
def _nodata_for(dtype: np.dtype, nodata) -> Optional[float]:
    """The nodata value to write: the source's when ``dtype`` can hold it, else None."""
    if nodata is None:
        return None
    nodata = float(nodata)
    if dtype.kind == "f":
        return nodata
    if np.isnan(nodata) or nodata != round(nodata):
        return None
    info = np.iinfo(dtype)
    return nodata if info.min <= nodata <= info.max else None


def write_geotiff(path: PathLike, image: SegImage) -> Path:
    """Write a 2D SegImage as a tiled, DEFLATE-compressed GeoTIFF with its CRS
    (``metadata["crs"]``), the transform of its grid and its nodata value (when the data type can
    hold it; labels otherwise get 0, "no class"). Bands are named by ``channel_names``. Integer
    images with ``metadata["label_names"]`` are label maps: a colour table (8/16-bit) and the
    class names (tags ``LABEL_NAMES`` as JSON and ``CLASS_<n>``) go with them.
    A dask array is written chunk by chunk. The caller (:func:`napari_segsuite.io.write_image`)
    makes the write atomic."""
    rio = rasterio()
    from rasterio.transform import Affine
    from rasterio.windows import Window

    arr = image.array
    dtype = np.dtype(arr.dtype)
    if dtype == bool:
        dtype = np.dtype(np.uint8)
    elif dtype == np.float16:
        dtype = np.dtype(np.float32)
    count = image.n_channels
    h, w = image.shape
    transform = Affine(*transform_from_geometry(image))
    meta = image.metadata
    label_names = meta.get("label_names") if dtype.kind in "iu" and count == 1 else None
    nodata = _nodata_for(dtype, meta.get("nodata"))
    if label_names is not None and nodata is None and meta.get("nodata") is not None:
        nodata = 0.0
    profile = dict(driver="GTiff", width=w, height=h, count=count, dtype=dtype.name,
                   crs=meta.get("crs") or None, transform=transform, nodata=nodata,
                   compress="deflate", BIGTIFF="IF_SAFER")
    if h >= 256 and w >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if dtype.kind == "f":
        profile["predictor"] = 3
    elif dtype.itemsize > 1:
        profile["predictor"] = 2
    names = meta.get("channel_names") or []
    try:
        with rio.open(path, "w", **profile) as dst:
            _write_pixels(dst, arr, dtype, count, Window)
            for i in range(count):
                if i < len(names) and names[i]:
                    dst.set_band_description(i + 1, str(names[i]))
            if count == 1 and meta.get("band_name"):
                dst.set_band_description(1, str(meta["band_name"]))
            if label_names is not None:
                _write_classes(dst, label_names, dtype, arr)
    except rio.errors.RasterioError as exc:
        raise InputError(f"{path}: cannot write it as a GeoTIFF ({_one_line(exc)})") from None
    return Path(path)


def _write_pixels(dst, arr, dtype, count, Window) -> None:
    if hasattr(arr, "dask"):  # lazily: chunk by chunk along rows and columns
        a = arr if count > 1 else arr[..., None]
        a = a.rechunk({2: -1})
        for (r, c) in np.ndindex(*a.numblocks[:2]):
            blk = np.asarray(a.blocks[r, c].compute()).astype(dtype, copy=False)
            r0 = sum(a.chunks[0][:r])
            c0 = sum(a.chunks[1][:c])
            win = Window(c0, r0, blk.shape[1], blk.shape[0])
            dst.write(np.moveaxis(blk, -1, 0), window=win)
        return
    a = np.asarray(arr).astype(dtype, copy=False)
    dst.write(a[None] if count == 1 else np.moveaxis(a, -1, 0))


def _write_classes(dst, label_names: dict, dtype: np.dtype, arr) -> None:
    names = {int(k): str(v) for k, v in label_names.items()}
    dst.update_tags(LABEL_NAMES=json.dumps({str(k): v for k, v in sorted(names.items())}))
    dst.update_tags(1, **{f"CLASS_{k}": v for k, v in sorted(names.items())})
    dst.set_band_description(1, "classes")
    if dtype.itemsize <= 2 and dtype.kind == "u":
        top = max(names) if names else 0
        cmap = {0: (0, 0, 0, 0)}
        for v in range(1, min(top, 255) + 1):
            rgb = CLASS_COLOURS.get(names.get(v, "").lower(), _PALETTE[(v - 1) % len(_PALETTE)])
            cmap[v] = tuple(rgb) + (255,)
        dst.write_colormap(1, cmap)


def geo_keys(metadata: dict) -> dict:
    """The georeference entries of a metadata dict (to carry over to a result's metadata)."""
    return {k: metadata[k] for k in GEO_KEYS if metadata.get(k) is not None}
