"""The spectral index job, assembled once for ``segsuite index`` and the Spectral index widget.

:class:`IndexParams` declares the parameter; :func:`index_job` makes the decisions: which
indices (a comma-separated list), reflectance scaling, NaN where a pixel is invalid or the
index undefined, the output's bands, names and nodata.

Examples
--------
>>> import numpy as np
>>> from napari_segsuite.core.base.image import SegImage
>>> from napari_segsuite.core.base.progress import run
>>> bands = np.stack([np.full((2, 2), 0.1, np.float32), np.full((2, 2), 0.5, np.float32)], -1)
>>> img = SegImage(bands, multichannel=True, metadata={"channel_names": ["red", "NIR"]})
>>> out = run(index_job(img, IndexParams("ndvi")))
>>> out.name, round(float(out.array[0, 0]), 4)
('image NDVI', 0.6667)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List

from ..base.params import ParamError, param
from ..base.progress import Progress
from . import INDICES


@dataclass(frozen=True)
class IndexParams:
    """Parameters of :func:`index_job` (shared by ``segsuite index`` and the widget).

    Examples
    --------
    >>> IndexParams().index
    'ndvi'
    >>> index_keys(IndexParams(index="ndvi, nbr").index)
    ['ndvi', 'nbr']
    """

    index: str = param("ndvi", "ndvi, ndwi, mndwi, ndbi, nbr, savi, evi (comma-separated for "
                               "several)", choices=tuple(INDICES))


def index_keys(text: str) -> List[str]:
    """The index names of ``"ndvi, NDWI"`` (lower case, in order); InputError for an unknown
    or missing one.

    >>> index_keys("NDVI, ndwi")
    ['ndvi', 'ndwi']
    """
    keys = [k.strip().lower() for k in str(text).split(",") if k.strip()]
    bad = [k for k in keys if k not in INDICES]
    if not keys or bad:
        raise ParamError(IndexParams, "{index}: unknown index {bad}; choose from {known}",
                         bad=", ".join(bad) or repr(text), known=", ".join(INDICES))
    return keys


def index_job(image, params: IndexParams = IndexParams(), *, invalid=None):
    """Spectral indices of a multi-band scene (job generator).

    Parameters
    ----------
    image : SegImage
        Bands last, named (``metadata["channel_names"]``: red, NIR, ...); stored digital
        numbers are scaled to reflectance with ``metadata["reflectance_scaling"]``.
    params : IndexParams
        ``index``: one name or several, comma-separated.
    invalid : array_like of bool, optional
        Pixels to leave out (a scene's fill, clouds, shadows, nodata): NaN.

    Returns
    -------
    SegImage
        float32 on the image's grid: one index, or one band per index (named by it); NaN where
        invalid or undefined; ``nodata`` NaN, so a GeoTIFF says so.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> bands = np.ones((2, 2, 3), np.float32)
    >>> img = SegImage(bands, multichannel=True,
    ...                metadata={"channel_names": ["green", "red", "NIR"]})
    >>> run(index_job(img, IndexParams("ndvi,ndwi"))).metadata["channel_names"]
    ['NDVI', 'NDWI']
    """
    from . import index_image

    keys = index_keys(params.index)
    yield Progress(0, 1, f"index {', '.join(k.upper() for k in keys)}")
    out = index_image(image, keys, invalid)
    yield Progress(1, 1, "done")
    return out
