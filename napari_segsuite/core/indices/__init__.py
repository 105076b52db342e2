"""Spectral indices of multispectral scenes: NDVI, NDWI, MNDWI, NDBI, NBR, SAVI, EVI.

Bands are found by name (``metadata["channel_names"]``: ``red``, ``NIR``, ``B4 red``,
``landsat [NIR]`` ... a word of the name equal to the band, case ignored), so the same call works
for Landsat 4-9, Sentinel-2 and the sample. Where a scene's bands are stored as integers with
their reflectance scaling in ``metadata["reflectance_scaling"]`` (``{band: [mult, add]}``), the
scaling is applied first (an index of raw digital numbers with an offset is wrong). Pixels in
``invalid`` (clouds, shadows, fill: see :func:`napari_segsuite.io.scenes.invalid_mask`) and
pixels where the denominator is 0 are NaN. Works on numpy and dask arrays alike (elementwise).

==========  ==============================================  ==========================
index       formula                                         reference
==========  ==============================================  ==========================
ndvi        (NIR - red) / (NIR + red)                       Rouse et al. 1974
ndwi        (green - NIR) / (green + NIR)                   McFeeters 1996
mndwi       (green - SWIR1) / (green + SWIR1)               Xu 2006
ndbi        (SWIR1 - NIR) / (SWIR1 + NIR)                   Zha et al. 2003
nbr         (NIR - SWIR2) / (NIR + SWIR2)                   Key & Benson 2006
savi        1.5 (NIR - red) / (NIR + red + 0.5)             Huete 1988
evi         2.5 (NIR - red) / (NIR + 6 red - 7.5 blue + 1)  Huete et al. 2002
==========  ==============================================  ==========================
"""

from __future__ import annotations

import re
from typing import Dict, Optional, Sequence

import numpy as np

from ..base.errors import InputError
from ..base.image import SegImage

#: index -> the bands it needs
INDICES: Dict[str, tuple] = {
    "ndvi": ("NIR", "red"), "ndwi": ("green", "NIR"), "mndwi": ("green", "SWIR1"),
    "ndbi": ("SWIR1", "NIR"), "nbr": ("NIR", "SWIR2"), "savi": ("NIR", "red"),
    "evi": ("NIR", "red", "blue"),
}


def _words(name: str) -> set:
    return {w.lower() for w in re.split(r"[^A-Za-z0-9]+", str(name)) if w}


def band_index(names: Sequence[str], band: str) -> int:
    """Position of ``band`` (e.g. ``"NIR"``) among channel ``names``; a one-line InputError when
    no (or more than one) channel is called so.

    Parameters
    ----------
    names : sequence of str
        The channel names.
    band : str
        A band name (``"red"``, ``"NIR"``, ``"SWIR1"`` ...), case ignored.

    Returns
    -------
    int

    Examples
    --------
    >>> band_index(["B4 red", "B5 NIR"], "nir")
    1
    >>> band_index(["B4 red", "B5 NIR"], "blue")
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: no band named 'blue' among ['B4 red', ...]; ...
    """
    hits = [i for i, n in enumerate(names) if band.lower() in _words(n)]
    if len(hits) != 1:
        what = "no" if not hits else "more than one"
        raise InputError(f"{what} band named {band!r} among {list(names)}; name the bands (a "
                         "scene folder or a GeoTIFF with band descriptions does)")
    return hits[0]


def _normalised(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        den = a + b
        return (a - b) / den


def spectral_index(image: SegImage, index: str, invalid=None):
    """The float32 index map of a multichannel ``image`` (2D or 3D, bands last), NaN where
    ``invalid`` (a boolean array of the image's shape) is True or the index is undefined.

    Parameters
    ----------
    image : SegImage
        Multichannel, bands named in ``metadata["channel_names"]``.
    index : str
        One of :data:`INDICES` (case ignored).
    invalid : ndarray of bool, optional
        Pixels to set to NaN.

    Returns
    -------
    ndarray of float32 (dask array for a dask image)

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> img = SegImage(np.array([[[0.1, 0.5], [0.2, 0.2]]], np.float32), multichannel=True,
    ...                metadata={"channel_names": ["B4 red", "B5 NIR"]})
    >>> spectral_index(img, "NDVI")  # (0.5 - 0.1) / (0.5 + 0.1), then 0 / 0.4
    array([[0.6666666, 0.       ]], dtype=float32)
    """
    key = str(index).lower()
    if key not in INDICES:
        raise InputError(f"unknown index {index!r}; choose from {', '.join(INDICES)}")
    if not image.multichannel:
        raise InputError(f"{key.upper()} needs a multi-band image (bands "
                         f"{', '.join(INDICES[key])})")
    names = list(image.metadata.get("channel_names") or [])
    if len(names) != image.n_channels:
        raise InputError(f"{key.upper()} needs named bands; this image's {image.n_channels} "
                         "bands have no names")
    scaling = ({} if image.metadata.get("units") == "surface reflectance"
               else image.metadata.get("reflectance_scaling") or {})
    band = {}
    for b in INDICES[key]:
        i = band_index(names, b)
        x = image.array[..., i].astype(np.float32)
        factors = scaling.get(b, scaling.get(names[i]))  # keyed by band ("red") or channel
        if factors is not None:
            mult, add = factors
            x = x * np.float32(mult) + np.float32(add)
        band[b] = x
    nir = band.get("NIR")
    with np.errstate(divide="ignore", invalid="ignore"):
        if key == "ndvi":
            out = _normalised(nir, band["red"])
        elif key == "ndwi":
            out = _normalised(band["green"], nir)
        elif key == "mndwi":
            out = _normalised(band["green"], band["SWIR1"])
        elif key == "ndbi":
            out = _normalised(band["SWIR1"], nir)
        elif key == "nbr":
            out = _normalised(nir, band["SWIR2"])
        elif key == "savi":
            out = np.float32(1.5) * (nir - band["red"]) / (nir + band["red"] + np.float32(0.5))
        else:  # evi
            out = np.float32(2.5) * (nir - band["red"]) / (
                nir + 6 * band["red"] - np.float32(7.5) * band["blue"] + np.float32(1.0))
    bad = ~(abs(out) < np.inf)  # NaN or infinite (0/0, x/0)
    if invalid is not None:
        if tuple(invalid.shape) != tuple(image.shape):
            raise InputError(f"the mask has shape {tuple(invalid.shape)}, the image "
                             f"{tuple(image.shape)}")
        bad = bad | invalid
    where = _where(out)
    return where(bad, np.float32(np.nan), out).astype(np.float32)


def _where(arr):
    if hasattr(arr, "dask"):
        import dask.array as da

        return da.where
    return np.where


def index_image(image: SegImage, indices: Sequence[str], invalid=None) -> SegImage:
    """A SegImage on ``image``'s grid holding one index (2D/3D float32) or several (bands last,
    named by the index), NaN where invalid; keeps the georeference (nodata NaN).

    Parameters
    ----------
    image : SegImage
        Multichannel, named bands.
    indices : sequence of str
        Index names.
    invalid : ndarray of bool, optional
        Pixels to set to NaN.

    Returns
    -------
    SegImage

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> img = SegImage(np.array([[[0.1, 0.5], [0.2, 0.2]]], np.float32), multichannel=True,
    ...                metadata={"channel_names": ["B4 red", "B5 NIR"]})
    >>> out = index_image(img, ["ndvi", "savi"])
    >>> out.array.shape, out.metadata["channel_names"]
    ((1, 2, 2), ['NDVI', 'SAVI'])
    """
    keys = [str(i).lower() for i in indices]
    if not keys:
        raise InputError("name at least one index")
    maps = [spectral_index(image, k, invalid) for k in keys]
    if len(maps) == 1:
        data, multi = maps[0], False
    else:
        stack = np.stack if not hasattr(maps[0], "dask") else _dask_stack()
        data, multi = stack(maps, axis=-1), True
    meta = {"nodata": float("nan"), "units": "index"}
    if multi:
        meta["channel_names"] = [k.upper() for k in keys]
    else:
        meta["band_name"] = keys[0].upper()
    return image.like(data, name=f"{image.name} {'+'.join(k.upper() for k in keys)}",
                      multichannel=multi, **meta)


def _dask_stack():
    import dask.array as da

    return da.stack


def available(names: Optional[Sequence[str]]) -> list:
    """The indices computable from bands named ``names``.

    Examples
    --------
    >>> available(["B2 blue", "B3 green", "B4 red", "B5 NIR"])
    ['ndvi', 'ndwi', 'savi', 'evi']
    """
    out = []
    for key, need in INDICES.items():
        try:
            for b in need:
                band_index(list(names or []), b)
        except InputError:
            continue
        out.append(key)
    return out


# the job shared by ``segsuite index`` and the widget (imports INDICES from here)
from .pipeline import IndexParams, index_job, index_keys  # noqa: E402,F401
