"""Satellite scene folders as one multi-band image: Landsat Collection 2 and Sentinel-2.

- **Landsat 4-9 Collection 2** (Level-2 surface reflectance ``..._SR_B1.TIF``, or Level-1
  ``..._B1.TIF``), with its ``..._QA_PIXEL.TIF`` and ``..._MTL.txt`` / ``..._MTL.json``: the
  folder or the MTL file opens as one image whose bands are named coastal, blue, green, red, NIR,
  SWIR1, SWIR2 (Landsat 8/9 OLI bands 1-7; TM/ETM+ lack the coastal band).
- **Sentinel-2** (a ``.SAFE`` folder or any folder of ``*_B02.jp2`` / ``*_B02_10m.tif`` files):
  bands B01, B02, B03, B04, B08, B11, B12 named as above, the scene classification ``SCL`` (L2A)
  as its QA band. Its bands are at 10, 20 and 60 m: a ``resolution`` must be chosen, and every
  band is resampled onto that grid (average when coarsening, bilinear when refining; QA by
  nearest neighbour), lazily through GDAL's warped VRTs.

``reflectance=True`` applies the surface-reflectance scaling of the metadata (Landsat C2 L2:
``REFLECTANCE_MULT_BAND_n`` and ``REFLECTANCE_ADD_BAND_n`` of the MTL; Sentinel-2:
``BOA_QUANTIFICATION_VALUE`` and ``BOA_ADD_OFFSET`` of ``MTD_MSIL2A.xml``) and gives float32
reflectance with NaN where the pixels are fill; otherwise the bands keep their stored integers
and their scaling is kept in ``metadata["reflectance_scaling"]`` (the spectral indices use it).

The QA band becomes ``metadata["qa"]``: a class map (uint8) with :data:`QA_CLASSES`, 0 clear;
:func:`invalid_mask` gives the pixels to leave out of clustering and indices (fill, cloud,
cloud shadow, dilated cloud, cirrus, and nodata in any band).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Union

import numpy as np

from ..core.base.errors import InputError
from ..core.base.image import SegImage
from . import geo

PathLike = Union[str, os.PathLike]

#: The band names every scene uses (in this order where the sensor has them).
BAND_NAMES = ("coastal", "blue", "green", "red", "NIR", "SWIR1", "SWIR2")
#: QA class map values (0 = clear).
QA_CLASSES = {1: "fill", 2: "cloud", 3: "cloud shadow", 4: "dilated cloud", 5: "cirrus",
              6: "snow"}
#: QA classes left out of clustering and indices by default.
QA_EXCLUDE = (1, 2, 3, 4, 5)

# Landsat: sensor prefix -> {band name: band number}
_LANDSAT_BANDS = {
    "LC08": dict(zip(BAND_NAMES, range(1, 8))), "LC09": dict(zip(BAND_NAMES, range(1, 8))),
    "LO08": dict(zip(BAND_NAMES, range(1, 8))), "LO09": dict(zip(BAND_NAMES, range(1, 8))),
    **{p: {"blue": 1, "green": 2, "red": 3, "NIR": 4, "SWIR1": 5, "SWIR2": 7}
       for p in ("LT04", "LT05", "LE07")},
}
# Sentinel-2: band name -> band id
_S2_BANDS = {"coastal": "B01", "blue": "B02", "green": "B03", "red": "B04", "NIR": "B08",
             "SWIR1": "B11", "SWIR2": "B12"}
_S2_FILE = re.compile(r"(?:^|_)(B0[1-9]|B1[0-2]|B8A|SCL)(?:_(\d+)m)?\.(jp2|tiff?)$", re.I)
_LANDSAT_FILE = re.compile(r"^(L[COTE]0[4-9])_.*?_(SR_B\d|B\d{1,2}|QA_PIXEL)\.tiff?$", re.I)
_MTL = re.compile(r"_MTL\.(txt|json)$", re.I)
# Sentinel-2 SCL -> QA class
_SCL_TO_QA = {0: 1, 1: 1, 3: 3, 8: 2, 9: 2, 10: 5, 11: 6}
_RASTER_EXT = (".tif", ".tiff", ".jp2")


# -- finding the files ---------------------------------------------------------------------------
def _raster_files(folder: Path, depth: int = 6) -> List[Path]:
    out = []
    for root, dirs, files in os.walk(folder):
        if Path(root).relative_to(folder).parts.__len__() >= depth:
            dirs[:] = []
        dirs.sort()
        out += [Path(root) / f for f in sorted(files) if f.lower().endswith(_RASTER_EXT)]
    return out


def scene_kind(path: PathLike) -> Optional[str]:
    """'landsat' or 'sentinel2' when ``path`` is a scene folder (or a Landsat MTL file), else
    None. Cheap: looks at file names only."""
    p = Path(path)
    if p.is_file():
        return "landsat" if _MTL.search(p.name) else None
    if not p.is_dir():
        return None
    names = [q.name for q in p.iterdir()] if p.is_dir() else []
    if any(_LANDSAT_FILE.match(n) for n in names) or any(_MTL.search(n) for n in names):
        return "landsat"
    if p.name.upper().endswith(".SAFE") or any(_S2_FILE.search(n) for n in names):
        return "sentinel2"
    if (p / "GRANULE").is_dir():
        return "sentinel2"
    return None


def is_scene(path: PathLike) -> bool:
    return scene_kind(path) is not None


# -- Landsat MTL -----------------------------------------------------------------------------------
def parse_mtl(path: PathLike) -> dict:
    """A Landsat MTL file (``.txt`` ODL groups or ``.json``) as nested dicts of strings."""
    p = Path(path)
    try:
        text = p.read_text(errors="replace")
    except OSError as exc:
        raise InputError(f"{p}: cannot read the metadata file ({exc.strerror or exc})") from None
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise InputError(f"{p}: not valid JSON ({exc})") from None
        return data.get("LANDSAT_METADATA_FILE", data)
    root: dict = {}
    stack = [root]
    for line in text.splitlines():
        if "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key == "GROUP":
            stack[-1][value] = {}
            stack.append(stack[-1][value])
        elif key == "END_GROUP":
            if len(stack) > 1:
                stack.pop()
        else:
            stack[-1][key] = value.strip('"')
    return root.get("LANDSAT_METADATA_FILE", root)


def _find(tree: dict, key: str):
    """The first value of ``key`` anywhere in a nested dict."""
    if key in tree:
        return tree[key]
    for v in tree.values():
        if isinstance(v, dict):
            found = _find(v, key)
            if found is not None:
                return found
    return None


# -- reading ----------------------------------------------------------------------------------
def read_scene(path: PathLike, *, resolution: Optional[float] = None, reflectance: bool = False,
               lazy: Optional[bool] = None, name: Optional[str] = None) -> SegImage:
    """Read a Landsat or Sentinel-2 scene folder (or a Landsat MTL file) as one multichannel
    SegImage, bands named, QA classes in ``metadata["qa"]`` (see the module docstring).

    ``resolution`` (metres): the pixel size of the result; needed when the bands are on different
    grids (Sentinel-2); ``"finest"`` takes the finest band's grid. ``lazy``: dask arrays (None:
    when the scene is larger than :data:`geo.LAZY_BYTES`). Errors are one-line :class:`InputError`.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file or folder")
    kind = scene_kind(p)
    if kind is None:
        raise InputError(f"{p}: not a Landsat or Sentinel-2 scene (no *_SR_B1.TIF ... band files, "
                         "*_MTL.txt or *_B02.jp2 found)")
    if resolution not in (None, "finest") and not (np.isfinite(resolution) and resolution > 0):
        raise InputError(f"the resolution must be a positive number of metres, got {resolution}")
    folder = p.parent if p.is_file() else p
    if kind == "landsat":
        bands, qa, scaling, info = _landsat_files(folder, p if p.is_file() else None)
    else:
        bands, qa, scaling, info = _sentinel2_files(folder)
    return _assemble(bands, qa, scaling, info, resolution, reflectance, lazy,
                     name or info["id"])


def _landsat_files(folder: Path, mtl_path: Optional[Path]):
    names = {q.name: q for q in folder.iterdir() if q.is_file()}
    if mtl_path is None:
        mtls = sorted(q for n, q in names.items() if _MTL.search(n))
        mtl_path = next((q for q in mtls if q.suffix.lower() == ".json"), mtls[0] if mtls else None)
    mtl = parse_mtl(mtl_path) if mtl_path else {}
    product = _find(mtl, "LANDSAT_PRODUCT_ID") if mtl else None
    files = {}
    for n, q in names.items():
        m = _LANDSAT_FILE.match(n)
        if m and (product is None or n.upper().startswith(product.upper())):
            files[m.group(2).upper()] = q
            prefix = m.group(1).upper()
            product = product or n[: n.upper().rfind("_" + m.group(2).upper())]
    if not files:
        raise InputError(f"{folder}: no Landsat band files (*_SR_B1.TIF ... *_SR_B7.TIF) found")
    prefix = product[:4].upper()
    table = _LANDSAT_BANDS.get(prefix)
    if table is None:
        raise InputError(f"{folder}: unknown Landsat sensor {prefix!r} (expected LC08, LC09, "
                         "LE07, LT05 or LT04)")
    level2 = any(k.startswith("SR_") for k in files)
    key = "SR_B{}" if level2 else "B{}"
    missing = [key.format(n) for n in table.values() if key.format(n) not in files]
    if missing:
        raise InputError(f"{folder}: the scene {product} lacks band file(s) "
                         f"{', '.join(f'*_{m}.TIF' for m in missing)}")
    bands = {b: files[key.format(n)] for b, n in table.items()}
    scaling = {}
    for b, n in table.items():
        mult = _find(mtl, f"REFLECTANCE_MULT_BAND_{n}") if mtl else None
        add = _find(mtl, f"REFLECTANCE_ADD_BAND_{n}") if mtl else None
        if mult is not None and add is not None:
            scaling[b] = (float(mult), float(add))
    info = {"id": product, "sensor": _find(mtl, "SPACECRAFT_ID") or prefix,
            "kind": "landsat", "level": "L2 surface reflectance" if level2 else "L1",
            "qa_kind": "landsat", "metadata_file": str(mtl_path) if mtl_path else None,
            "date": _find(mtl, "DATE_ACQUIRED") if mtl else None}
    return bands, files.get("QA_PIXEL"), scaling, info


def _sentinel2_files(folder: Path):
    found: Dict[str, Dict[int, Path]] = {}
    for q in _raster_files(folder):
        m = _S2_FILE.search(q.name)
        if m:
            res = int(m.group(2)) if m.group(2) else 0
            found.setdefault(m.group(1).upper(), {})[res] = q
    missing = [bid for bid in _S2_BANDS.values() if bid not in found]
    if missing:
        raise InputError(f"{folder}: the Sentinel-2 scene lacks band file(s) "
                         f"{', '.join(f'*_{m}.jp2/.tif' for m in missing)}")
    # the finest copy of each band (L2A products hold B02 at 10, 20 and 60 m)
    pick = {bid: v[min(v, key=lambda r: r or 10**6)] for bid, v in found.items()}
    bands = {b: pick[bid] for b, bid in _S2_BANDS.items()}
    scaling = _s2_scaling(folder)
    first = bands["blue"].name
    tile = re.search(r"T\d{2}[A-Z]{3}_\d{8}T\d{6}", first)
    info = {"id": folder.name[:-5] if folder.name.upper().endswith(".SAFE") else
            (tile.group(0) if tile else folder.name),
            "sensor": "Sentinel-2", "kind": "sentinel2",
            "level": "L2A" if "SCL" in pick else "L1C", "qa_kind": "scl",
            "metadata_file": None, "date": None}
    return bands, pick.get("SCL"), scaling, info


def _s2_scaling(folder: Path) -> dict:
    """Sentinel-2 reflectance scaling from MTD_MSIL2A.xml / MTD_MSIL1C.xml when present."""
    mtd = sorted(folder.glob("MTD_MSIL*.xml")) + sorted(folder.glob("*/MTD_MSIL*.xml"))
    if not mtd:
        return {}
    text = mtd[0].read_text(errors="replace")
    q = re.search(r"<(?:BOA_)?QUANTIFICATION_VALUE[^>]*>\s*([\d.eE+-]+)\s*<", text)
    if not q:
        return {}
    quant = float(q.group(1))
    offsets = {int(i): float(v) for i, v in re.findall(
        r'<(?:BOA|RADIO)_ADD_OFFSET band_id="(\d+)"[^>]*>\s*([\d.eE+-]+)\s*<', text)}
    order = ["B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10",
             "B11", "B12"]
    return {b: (1.0 / quant, offsets.get(order.index(bid), 0.0) / quant)
            for b, bid in _S2_BANDS.items()}


def _grid(info: dict) -> tuple:
    return (info["crs"], tuple(round(v, 6) for v in info["transform"]), info["shape"])


def _assemble(bands: Dict[str, Path], qa: Optional[Path], scaling: dict, info: dict,
              resolution: Optional[float], reflectance: bool, lazy: Optional[bool],
              name: str) -> SegImage:
    rio = geo.rasterio()
    descr = {}
    for b, f in bands.items():
        try:
            with rio.open(f) as src:
                descr[b] = geo._describe(src)
        except rio.errors.RasterioIOError as exc:
            raise InputError(f"{f}: cannot read the band ({geo._one_line(exc)})") from None
        if not descr[b]["crs"]:
            raise InputError(f"{f}: the band has no coordinate reference system; a scene's bands "
                             "must be georeferenced GeoTIFF or JPEG 2000 files")
        if descr[b]["count"] != 1:
            raise InputError(f"{f}: a band file must hold one band, it holds {descr[b]['count']}")
    grids = {_grid(d) for d in descr.values()}
    ref = min(descr.values(), key=lambda d: abs(d["res"][0]))  # the finest band
    if resolution == "finest":  # napari's reader: no way to ask, take the finest grid
        resolution = None if len(grids) == 1 else abs(ref["res"][0])
    if resolution is None:
        if len(grids) > 1:
            res = sorted({round(abs(d["res"][0]), 3) for d in descr.values()})
            raise InputError(
                f"the bands are on different grids ({', '.join(f'{r:g} m' for r in res)}); "
                f"choose the resolution to resample them to (--resolution "
                f"{' or '.join(f'{r:g}' for r in res)})")
        target = None
        shape, transform, crs = ref["shape"], ref["transform"], ref["crs"]
    else:
        a, b, c, d, e, f = ref["transform"]
        if b != 0 or d != 0:
            raise InputError("resampling a rotated grid is not supported; leave --resolution out")
        width = ref["shape"][1] * abs(a)
        height = ref["shape"][0] * abs(e)
        shape = (max(1, int(round(height / resolution))), max(1, int(round(width / resolution))))
        transform = (np.sign(a) * width / shape[1], 0.0, c, 0.0, np.sign(e) * height / shape[0], f)
        crs = ref["crs"]
        target = (crs, tuple(round(v, 6) for v in transform), shape)
    dtype = np.dtype(descr[next(iter(bands))]["dtypes"][0])
    out_dtype = np.dtype(np.float32) if reflectance else dtype
    nbytes = shape[0] * shape[1] * len(bands) * out_dtype.itemsize
    use_lazy = geo.want_lazy(lazy, nbytes)
    nodata = descr[next(iter(bands))]["nodata"]
    arrays = []
    for b, f in bands.items():
        d = descr[b]
        warp = None if target is None or _grid(d) == target else _warp(
            d, crs, transform, shape, coarser=abs(d["res"][0]) < abs(transform[0]))
        arrays.append(_band_array(f, d, shape, warp, use_lazy))
    if reflectance and len(scaling) < len(bands):
        raise InputError(f"{name}: the metadata gives no reflectance scaling for band(s) "
                         f"{', '.join(b for b in bands if b not in scaling)} (is the MTL / "
                         "MTD file beside the bands?); leave out --reflectance")
    if use_lazy:
        import dask.array as xp
    else:
        xp = np
    stack = xp.stack(arrays, axis=-1)
    if reflectance:
        mult = np.array([scaling[b][0] for b in bands], np.float32)
        add = np.array([scaling[b][1] for b in bands], np.float32)
        scaled = stack.astype(np.float32) * mult + add
        if nodata is not None:
            scaled = xp.where(stack == nodata, np.float32(np.nan), scaled)
        stack = scaled
    meta = {"crs": crs, "transform": tuple(float(v) for v in transform),
            "channel_names": list(bands), "scene": {k: v for k, v in info.items() if v},
            "band_files": [str(f) for f in bands.values()]}
    if reflectance:
        meta["nodata"] = float("nan")
        meta["units"] = "surface reflectance"
    else:
        if nodata is not None:
            meta["nodata"] = float(nodata)
        if scaling:
            meta["reflectance_scaling"] = {b: list(scaling[b]) for b in bands if b in scaling}
    if qa is not None:
        with rio.open(qa) as src:
            dq = geo._describe(src)
        warp = None if _grid(dq) == (crs, tuple(round(v, 6) for v in transform), shape) else \
            _warp(dq, crs, transform, shape, coarser=False, nearest=True)
        raw = _band_array(qa, dq, shape, warp, use_lazy)
        decode = decode_landsat_qa if info["qa_kind"] == "landsat" else decode_scl
        meta["qa"] = raw.map_blocks(decode, dtype=np.uint8) if use_lazy else decode(raw)
        meta["qa_file"] = str(qa)
    return SegImage(stack, multichannel=True, name=name, metadata=meta,
                    **geo.geometry_from_transform(transform))


def _warp(d: dict, crs, transform, shape, coarser: bool, nearest: bool = False) -> dict:
    from rasterio.enums import Resampling
    from rasterio.transform import Affine

    how = (Resampling.nearest if nearest else Resampling.average if coarser
           else Resampling.bilinear)
    return {"crs": crs, "transform": Affine(*transform), "width": shape[1], "height": shape[0],
            "resampling": how, **({"src_nodata": d["nodata"], "nodata": d["nodata"]}
                                  if d["nodata"] is not None else {})}


def _band_array(f: Path, d: dict, shape, warp: Optional[dict], lazy: bool):
    dtype = np.dtype(d["dtypes"][0])
    if lazy:
        return geo.lazy_band(f, 1, shape, dtype, warp)
    return geo.WindowReader(f, 1, shape, dtype, warp)[:, :]


# -- QA -------------------------------------------------------------------------------------------
def decode_landsat_qa(qa: np.ndarray) -> np.ndarray:
    """Landsat Collection 2 QA_PIXEL bits -> QA classes (fill > cloud > shadow > dilated cloud >
    cirrus > snow; 0 clear). Bits: 0 fill, 1 dilated cloud, 2 cirrus, 3 cloud, 4 shadow, 5 snow."""
    qa = np.asarray(qa).astype(np.uint16, copy=False)
    out = np.zeros(qa.shape, np.uint8)
    for bit, cls in ((5, 6), (2, 5), (1, 4), (4, 3), (3, 2), (0, 1)):  # lowest priority first
        out[(qa >> bit) & 1 == 1] = cls
    return out


def decode_scl(scl: np.ndarray) -> np.ndarray:
    """Sentinel-2 L2A scene classification (SCL) -> QA classes."""
    lut = np.zeros(256, np.uint8)
    for v, cls in _SCL_TO_QA.items():
        lut[v] = cls
    return lut[np.asarray(scl).astype(np.uint8, copy=False)]


def invalid_mask(image: SegImage, exclude=QA_EXCLUDE):
    """True where a scene's pixels should be left out: QA classes in ``exclude`` and nodata (or
    NaN) in any band. None when the image has neither a QA band nor a nodata value."""
    meta = image.metadata
    parts = []
    qa = meta.get("qa")
    if qa is not None:
        lazy = hasattr(qa, "dask")
        parts.append(qa.map_blocks(np.isin, list(exclude), dtype=bool) if lazy
                     else np.isin(qa, list(exclude)))
    nodata = meta.get("nodata")
    arr = image.array
    if nodata is not None:
        if np.isnan(nodata):
            bad = (arr != arr) if arr.dtype.kind == "f" else None
        else:
            bad = arr == nodata
        if bad is not None:
            parts.append(bad.any(axis=-1) if image.multichannel else bad)
    if not parts:
        return None
    out = parts[0]
    for q in parts[1:]:
        out = out | q
    return out


def qa_layer_metadata() -> dict:
    """Metadata of the QA mask labels layer: class names and which classes are excluded."""
    return {"label_names": dict(QA_CLASSES), "qa_exclude": list(QA_EXCLUDE)}
