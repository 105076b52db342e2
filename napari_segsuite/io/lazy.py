"""Zarr (OME-Zarr multiscale included) and large TIFF read lazily, as dask arrays.

- :func:`is_zarr`: a ``.zarr`` folder, or any folder holding zarr metadata (``.zarray``,
  ``.zgroup``, ``.zattrs`` or ``zarr.json``).
- :func:`read_zarr`: a zarr array, or an OME-Zarr (NGFF 0.4 / 0.5) image group, into a
  :class:`~napari_segsuite.core.base.image.SegImage` whose array is a ``dask.array`` of the finest
  level. The NGFF ``coordinateTransformations`` give the geometry: ``scale`` -> spacing,
  ``translation`` -> origin (the multiscale's own transformations applied after the dataset's,
  as the specification says); NGFF has no direction, so the direction comes from our own
  attribute ``segsuite_geometry`` (written by :func:`write_zarr`; identity when absent). A ``channel`` axis goes last (a multichannel image); a ``time``
  axis of length 1 is dropped. The coarser levels are kept in ``metadata["multiscale"]``
  (finest first) for napari's multiscale image layer.
- :func:`read_tiff_lazy`: a TIFF through tifffile's zarr store, page/tile by page/tile; the
  in-plane pixel size from its resolution tags, the slice spacing from ImageJ's ``spacing``.
- :func:`write_zarr`: a SegImage written block by block into a new OME-Zarr (one level),
  atomically (a hidden folder renamed into place); its spacing, origin and direction are also
  kept in the attribute ``segsuite_geometry``, so the geometry survives every write and read.

The NGFF metadata is read here (a few lines of JSON) rather than with ``ome-zarr``, to keep the
dependencies to ``zarr`` itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Optional, Union

import numpy as np

from ..core.base.errors import InputError
from ..core.base.image import SegImage

PathLike = Union[str, os.PathLike]

_ZARR_FILES = (".zarray", ".zgroup", ".zattrs", "zarr.json")

#: our own zarr attribute: {"spacing", "origin", "direction"} (numpy order; direction as
#: :class:`~napari_segsuite.core.base.image.SegImage` holds it), since NGFF's
#: coordinateTransformations carry no direction
GEOMETRY_ATTR = "segsuite_geometry"


def is_zarr(path: PathLike) -> bool:
    """True for a zarr store folder (``*.zarr`` or a folder with zarr metadata)."""
    p = Path(path)
    if not p.is_dir():
        return False
    return p.name.lower().endswith(".zarr") or any((p / f).exists() for f in _ZARR_FILES)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__


def _zarr():
    try:
        import zarr
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("reading zarr needs the zarr package: pip install zarr") from None
    return zarr


def _multiscales(attrs: dict) -> Optional[dict]:
    """The first NGFF ``multiscales`` entry (0.4: at the top, 0.5: under ``ome``)."""
    ms = attrs.get("multiscales") or (attrs.get("ome") or {}).get("multiscales")
    return ms[0] if ms else None


def _transform(transforms, n: int):
    """(scale, translation) of a list of NGFF coordinateTransformations over ``n`` axes."""
    scale, trans = np.ones(n), np.zeros(n)
    for t in transforms or ():
        if t.get("type") == "scale" and "scale" in t:
            scale = np.asarray(t["scale"], float)
        elif t.get("type") == "translation" and "translation" in t:
            trans = np.asarray(t["translation"], float)
    if scale.size != n or trans.size != n:
        raise InputError(f"coordinateTransformations have {scale.size}/{trans.size} values for "
                         f"{n} axes")
    return scale, trans


def read_zarr(path: PathLike, name: Optional[str] = None) -> SegImage:
    """A zarr array or OME-Zarr image as a lazy SegImage (see the module's docstring)."""
    import dask.array as da

    zarr = _zarr()
    p = Path(path)
    label = name or (p.name[:-5] if p.name.lower().endswith(".zarr") else p.name)
    try:
        node = zarr.open(str(p), mode="r")
    except Exception as exc:  # noqa: BLE001 - zarr raises many kinds; one line for the user
        raise InputError(f"{p}: cannot open it as zarr ({_one_line(exc)})") from None
    if not hasattr(node, "shape"):  # a group: OME-Zarr multiscales, else its first array
        ms = _multiscales(dict(node.attrs))
        if ms is None:
            arrays = sorted(k for k, _ in node.arrays())
            if not arrays:
                raise InputError(f"{p}: zarr group holds no array and no OME-Zarr multiscales")
            return _plain(node[arrays[0]], label, da)
        return _ome(node, ms, p, label, da)
    return _plain(node, label, da)


def _plain(arr, label: str, da) -> SegImage:
    attrs = dict(getattr(arr, "attrs", {}) or {})
    data = da.from_zarr(arr)
    nd = data.ndim
    geo = attrs.get(GEOMETRY_ATTR) or {}
    spacing = attrs.get("spacing") or geo.get("spacing")
    origin = attrs.get("origin") or geo.get("origin")
    return SegImage(data, spacing=spacing if spacing and len(spacing) == nd else None,
                    origin=origin if origin and len(origin) == nd else None,
                    direction=_direction(attrs, nd), name=label)


def _direction(attrs: dict, nd: int):
    """The direction of our ``segsuite_geometry`` attribute (or a plain ``direction``) when it
    has ``nd * nd`` values; None (identity) otherwise."""
    d = (attrs.get(GEOMETRY_ATTR) or {}).get("direction") or attrs.get("direction")
    try:
        d = [float(v) for v in np.ravel(d)] if d is not None else None
    except (TypeError, ValueError):
        return None
    return d if d is not None and len(d) == nd * nd and np.isfinite(d).all() else None


def _ome(group, ms: dict, p: Path, label: str, da) -> SegImage:
    axes = ms.get("axes") or []
    datasets = ms.get("datasets") or []
    if not datasets:
        raise InputError(f"{p}: OME-Zarr multiscales lists no datasets")
    levels = []
    for d in datasets:
        try:
            levels.append(da.from_zarr(group[d["path"]]))
        except (KeyError, TypeError) as exc:
            raise InputError(f"{p}: OME-Zarr dataset {d.get('path')!r} is missing "
                             f"({_one_line(exc)})") from None
    n = levels[0].ndim
    if not axes:  # NGFF 0.1-0.3: t, c, z, y, x
        axes = [{"name": a} for a in "tczyx"[5 - n:]]
    axes = [{"name": a} if isinstance(a, str) else a for a in axes]
    if len(axes) != n:
        raise InputError(f"{p}: {len(axes)} axes in the metadata for a {n}D array")
    scale, trans = _transform(datasets[0].get("coordinateTransformations"), n)
    gscale, gtrans = _transform(ms.get("coordinateTransformations"), n)
    scale, trans = scale * gscale, trans * gscale + gtrans
    kinds = [a.get("type") or {"c": "channel", "t": "time"}.get(a.get("name"), "space")
             for a in axes]
    for i, k in enumerate(kinds):
        if k == "time" and levels[0].shape[i] != 1:
            raise InputError(f"{p}: a time series ({levels[0].shape[i]} time points); "
                             "segsuite reads one time point, extract it first")
    keep = [i for i, k in enumerate(kinds) if k != "time"]
    space = [i for i in keep if kinds[i] not in ("channel", "time")]
    chan = [i for i in keep if kinds[i] == "channel"]
    if len(chan) > 1 or not 2 <= len(space) <= 3:
        raise InputError(f"{p}: axes {[a.get('name') for a in axes]}: expected 2 or 3 "
                         "spatial axes and at most one channel axis")
    order = space + chan

    def arrange(a):
        a = a[tuple(0 if kinds[i] == "time" else slice(None) for i in range(n))]
        idx = [keep.index(i) for i in order]
        return a.transpose(idx)

    levels = [arrange(a) for a in levels]
    units = {a.get("unit") for i, a in enumerate(axes) if i in space} - {None}
    meta = {"multiscale": levels, "ngff_axes": [axes[i].get("name") for i in order]}
    if units:
        meta["unit"] = units.pop() if len(units) == 1 else sorted(units)
    if chan:
        names = [c.get("label") for c in (group.attrs.get("omero") or {}).get("channels", [])]
        if len(names) == levels[0].shape[-1] and all(names):
            meta["channel_names"] = names
    return SegImage(levels[0], spacing=scale[space], origin=trans[space],
                    direction=_direction(dict(group.attrs), len(space)),
                    multichannel=bool(chan),
                    name=label, metadata=meta)


def _tiff_spacing(tif, ndim: int):
    """(spacing in numpy order, unit) from a TIFF's resolution tags and ImageJ metadata."""
    sp = [1.0] * ndim
    unit = None
    try:
        page = tif.pages.first
        tags = page.tags
        ij = tif.imagej_metadata or {}
        # ImageJ/Fiji calibration: pixels per `unit` (kept in metadata); otherwise ITK's rule
        # (what the file readers of this package used before): inch and centimetre resolutions
        # in mm, a resolution without a unit says nothing about the spacing
        res_unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
        per = 1.0 if ij.get("unit") else {2: 25.4, 3: 10.0}.get(res_unit)
        for axis, tag in ((-1, "XResolution"), (-2, "YResolution")):
            if per and tag in tags:
                num, den = tags[tag].value
                if num and den:
                    sp[axis] = float(f"{per * den / num:.7g}")  # float32 rationals
        if ndim == 3 and ij.get("spacing"):
            sp[0] = float(ij["spacing"])
        unit = ij.get("unit")
    except Exception:  # noqa: BLE001 - geometry is a bonus; the data is read regardless
        pass
    return sp, unit


def read_tiff_lazy(path: PathLike, name: Optional[str] = None, lazy: bool = True) -> SegImage:
    """A (large) TIFF as a lazy SegImage, read page by page / tile by tile (tifffile); with
    ``lazy=False`` the same image (axes, calibration) read into memory."""
    import tifffile

    p = Path(path)
    label = name or p.stem
    try:
        with tifffile.TiffFile(str(p)) as tif:
            series = tif.series[0]
            shape, axes = series.shape, series.axes
            spacing, unit = _tiff_spacing(tif, 3 if len(shape) >= 3 else 2)
            if not lazy:
                arr = series.asarray()
        if lazy:
            import dask.array as da

            store = tifffile.imread(str(p), aszarr=True)
            arr = da.from_zarr(_zarr().open(store, mode="r"))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{p}: cannot read it as TIFF ({_one_line(exc)})") from None
    multichannel = axes[-1:] in ("S", "C") and arr.ndim >= 3
    if arr.ndim - multichannel not in (2, 3):
        raise InputError(f"{p}: TIFF axes {axes} (shape {shape}): expected a 2D or 3D image")
    spacing = spacing[-(arr.ndim - multichannel):]
    meta = {"unit": unit} if unit else {}
    return SegImage(arr, spacing=spacing, multichannel=multichannel, name=label, metadata=meta)


def write_zarr(path: PathLike, image: SegImage, force: bool = False,
               chunks: Optional[tuple] = None) -> Path:
    """Write ``image`` as a one-level OME-Zarr (NGFF 0.4), block by block (a dask array is
    never held whole), into a hidden folder renamed into place.

    Spacing and origin go into its coordinateTransformations; spacing, origin and direction into
    the attribute ``segsuite_geometry`` (NGFF has no direction), which :func:`read_zarr` reads
    back. The zarr's chunks are the dask array's largest chunk per axis (or ``chunks``) and the
    array is rechunked to that regular grid first, so no two blocks ever write into the same
    zarr chunk (blocks are written in parallel without a lock: irregular blocks, such as
    ``map_overlap`` gives when it merges chunks smaller than its depth, would otherwise race on
    a shared chunk and lose voxels).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.zarr`` folder to create.
    image : SegImage
        The image (its array numpy or dask).
    force : bool
        Replace an existing folder.
    chunks : tuple of int, optional
        The zarr's chunk shape.

    Returns
    -------
    pathlib.Path
        ``path``.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> img = SegImage(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), spacing=(2, 1, 1),
    ...                direction=(0, 1, 0, 1, 0, 0, 0, 0, 1))
    >>> p = write_zarr(Path(tempfile.mkdtemp()) / "a.zarr", img, chunks=(1, 2, 2))
    >>> back = read_zarr(p)
    >>> back.spacing, back.direction[:3], bool((back.array.compute() == img.array).all())
    ((2.0, 1.0, 1.0), (0.0, 1.0, 0.0), True)
    """
    import dask.array as da

    zarr = _zarr()
    p = Path(path)
    if p.exists() and not force:
        raise InputError(f"{p}: already exists; use --force to overwrite it")
    if not p.parent.exists():
        raise InputError(f"{p.parent}: output folder does not exist")
    tmp = p.parent / f".{p.name}.part-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    arr = image.array
    nd = image.ndim
    data = arr if hasattr(arr, "dask") else da.from_array(
        arr, chunks=chunks or tuple(min(s, 128) for s in arr.shape))
    if chunks is not None:
        data = data.rechunk(chunks)
    chunk = tuple(max(max(c), 1) if c else 1 for c in data.chunks)
    if any(len(set(c[:-1])) > 1 or (c and c[-1] > c[0]) for c in data.chunks):
        data = data.rechunk(chunk)  # a regular grid: every block is one zarr chunk
    names = "zyx"[3 - nd:] + ("c" if image.multichannel else "")
    axes = [{"name": a, "type": "space"} for a in names[:nd]]
    if image.multichannel:
        axes.append({"name": "c", "type": "channel"})
    extra = [1.0] if image.multichannel else []
    ms = [{"version": "0.4", "name": image.name, "axes": axes, "datasets": [{
        "path": "0", "coordinateTransformations": [
            {"type": "scale", "scale": list(map(float, image.spacing)) + extra},
            {"type": "translation", "translation": list(map(float, image.origin)) + [0.0] * len(extra)}]}]}]
    try:
        if hasattr(zarr, "create_array"):  # zarr 3: write the widely read format 2
            group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
            target = group.create_array("0", shape=data.shape, dtype=data.dtype, chunks=chunk)
        else:  # zarr 2
            group = zarr.open_group(str(tmp), mode="w")
            target = group.create_dataset("0", shape=data.shape, dtype=data.dtype, chunks=chunk)
        group.attrs["multiscales"] = ms
        group.attrs[GEOMETRY_ATTR] = {"spacing": [float(v) for v in image.spacing],
                                      "origin": [float(v) for v in image.origin],
                                      "direction": [float(v) for v in image.direction]}
        da.store(data, target, lock=False)
        if p.exists():
            shutil.rmtree(p)
        os.replace(tmp, p)
    except OSError as exc:
        raise InputError(f"{p}: cannot write it ({_one_line(exc)})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return p


__all__ = ["is_zarr", "read_zarr", "read_tiff_lazy", "write_zarr", "GEOMETRY_ATTR"]
