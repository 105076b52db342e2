"""The clustering job, assembled once for ``segsuite cluster`` and the Clustering widget.

:class:`ClusterParams` declares every parameter (default, help, limits) and
:func:`cluster_job` makes every decision: which method runs on voxels or on superpixels, the
number of superpixels, the sample size, which pixels are left out (the user's mask, a scene's
clouds / fill / nodata), what non-finite values mean, in-memory or block by block, and the
label type. The CLI reads files into it, the widget reads layers into it.

Examples
--------
>>> import numpy as np
>>> from napari_segsuite.core.base.image import SegImage
>>> from napari_segsuite.core.base.progress import run
>>> arr = np.zeros((20, 24), np.float32); arr[:, 12:] = 1.0
>>> out = run(cluster_job(SegImage(arr), ClusterParams(method="kmeans", k=2)))
>>> out.array.dtype, sorted(np.unique(out.array).tolist()), int(out.array[0, 0])
(dtype('uint8'), [1, 2], 1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base.errors import InputError
from ..base.labels import label_dtype
from ..base.params import ParamError, param
from ..base.progress import Progress

METHODS = ("kmeans", "kmedoids", "slic", "spectral")

#: superpixels made by ``slic`` and ``spectral`` when ``segments`` is not given
DEFAULT_SEGMENTS = 400
#: voxels sampled for the fit when ``sample`` is not given
DEFAULT_SAMPLE = {"kmeans": 50_000, "kmedoids": 3000}


@dataclass(frozen=True)
class ClusterParams:
    """Parameters of :func:`cluster_job` (shared by ``segsuite cluster`` and the widget).

    Examples
    --------
    >>> p = ClusterParams(k=3)
    >>> p.method, p.k, p.compactness
    ('kmeans', 3, 0.1)
    """

    method: str = param(
        "kmeans", "kmeans / kmedoids: every voxel into K labels (superpixels first with "
        "--segments); slic: the superpixel map (with --k, the superpixels then clustered into K "
        "by K-means); spectral: superpixels clustered into K by spectral clustering, refined by "
        "K-means on voxels; default kmeans (its inertia equals scikit-learn's full fit to "
        "0.03 per cent on the real MNI T1)",
        choices=METHODS)
    k: Optional[int] = param(
        None, "number of clusters K (>= 2); needed by kmeans, kmedoids and spectral; with slic "
        "it clusters the superpixels into K labels", label="K clusters", minimum=2, maximum=64,
        none_text="none")
    segments: Optional[int] = param(
        None, f"number of SLIC superpixels (>= 1); slic and spectral use {DEFAULT_SEGMENTS} "
        "when not given (on real MRI slices: boundary recall 0.96, spectral within 0.02 Dice "
        "of K-means), kmeans / kmedoids cluster voxels then", label="Superpixels",
        minimum=1, maximum=1_000_000, none_text="auto")
    compactness: float = param(
        0.1, "SLIC compactness on channels scaled to [0, 1]: higher = more regular "
        "superpixels, lower = closer to intensity edges; default 0.1 (adheres to tissue "
        "boundaries on real MRI in 2D and 3D; 1.0 cuts across them)", minimum=0.001,
        maximum=1000.0, step=0.01)
    spatial_weight: float = param(
        0.0, "weight of the physical position among the features (0 = off: classes are "
        "intensities, the same tissue anywhere in the image is one class)", minimum=0.0,
        maximum=100.0, step=0.1, advanced=True)
    sample: Optional[int] = param(
        None, "voxels sampled for the fit (default 50000 for kmeans: inertia within 0.004 per cent of a "
        "100000-voxel fit in half the time; 3000 for kmedoids: its distance matrix grows as "
        "the square)",
        label="Sample size", minimum=1, maximum=10_000_000, advanced=True, none_text="auto")
    seed: int = param(0, "random seed (fixed: the same input gives the same labels)", label="Random seed", minimum=0, maximum=2**31 - 1,
                      advanced=True)


def check_params(params: ClusterParams) -> None:
    """InputError (a :class:`~..base.params.ParamError`: the CLI names the flag, a widget the
    control) for a parameter out of range or missing.

    Raises
    ------
    ParamError
        The first bad parameter.

    Examples
    --------
    >>> check_params(ClusterParams(k=3))
    >>> check_params(ClusterParams(method="spectral"))
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.params.ParamError: --method spectral needs the number of clusters K (--k)
    """
    def bad(template: str, **values):
        return ParamError(ClusterParams, template, **values)

    if params.method not in METHODS:
        raise InputError(f"unknown method {params.method!r}; choose from {', '.join(METHODS)}")
    if params.k is not None and params.k < 2:
        raise bad("{k} must be at least 2, got {got}", got=params.k)
    if params.segments is not None and params.segments < 1:
        raise bad("{segments} must be at least 1, got {got}", got=params.segments)
    if params.method in ("kmeans", "kmedoids", "spectral") and params.k is None:
        raise bad("{method} {m} needs the number of clusters K ({k})", m=params.method)
    if not params.compactness > 0:
        raise bad("{compactness} must be positive, got {got}", got=params.compactness)
    if not (params.spatial_weight >= 0 and math.isfinite(params.spatial_weight)):
        raise bad("{spatial_weight} must be a number >= 0, got {got}", got=params.spatial_weight)
    if params.sample is not None and params.sample < 1:
        raise bad("{sample} must be at least 1, got {got}", got=params.sample)


def cluster_job(image, params: ClusterParams = ClusterParams(), *, mask=None, invalid=None):
    """Cluster the voxels (or superpixels) of ``image`` into labels (job generator).

    Parameters
    ----------
    image : SegImage
        2D or 3D, one or several channels (channels last). A lazily read (dask) image is
        clustered block by block with ``kmeans`` / ``kmedoids`` (no superpixels, no spatial
        weight there); the other methods read it into memory.
    params : ClusterParams
        Method, K, superpixels, compactness, spatial weight, sample size, seed.
    mask : array_like of bool, optional
        The image's spatial shape: only voxels where it is non-zero are clustered.
    invalid : array_like of bool, optional
        Pixels to leave out whatever their value (a scene's fill, clouds, cloud shadows,
        nodata): label 0, their values ignored.

    Returns
    -------
    SegImage
        Labels 1..K ordered by the mean of the first channel (1 = darkest; ``slic`` without K:
        superpixel ids 1..N), 0 outside ``mask`` and on ``invalid``; uint8 / uint16 / uint32 by
        the largest label (``core.base.labels``); the image's geometry; a georeferenced image's labels are named
        ("cluster 1" ...).

    Raises
    ------
    InputError
        Bad parameters, a mask of another shape, or NaN / infinite values in pixels not left
        out by ``invalid``.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> arr = np.zeros((16, 16), np.float32); arr[:, 8:] = 1; arr[0, 0] = np.nan
    >>> bad = np.zeros((16, 16), bool); bad[0, 0] = True
    >>> out = run(cluster_job(SegImage(arr), ClusterParams(k=2), invalid=bad))
    >>> int(out.array[0, 0]), int(out.array[5, 0]), int(out.array[5, 15])
    (0, 1, 2)
    """
    check_params(params)
    mask = _check_mask(image, mask)
    if hasattr(image.array, "dask") and params.method in ("kmeans", "kmedoids"):
        return (yield from _blockwise(image, params, mask, invalid))
    from ..base.memory import check_fits  # in memory: refused at once when it would not fit

    job = "slic" if params.segments is not None and params.method != "spectral" else params.method
    check_fits(job, image.shape, image.array.dtype, image.n_channels)
    arr, keep = _valid_pixels(image, mask, invalid)
    from . import cluster_steps

    kw = dict(channel_axis=-1 if image.multichannel else None, spacing=image.spacing,
              mask=keep, spatial_weight=params.spatial_weight, random_state=params.seed,
              compactness=params.compactness)
    if params.sample is not None:
        kw["sample_size"] = params.sample
    labels = yield from cluster_steps(arr, params.method, params.k, params.segments, **kw)
    top = int(labels.max()) if labels.size else 0
    return _result(image, labels.astype(label_dtype(top)), top)  # the one rule


def _check_mask(image, mask):
    """``mask`` as booleans (non-zero), checked against the image's spatial shape."""
    if mask is None:
        return None
    mask = np.asarray(mask) != 0
    if mask.shape != tuple(image.shape):
        raise InputError(f"MASK has shape {mask.shape} but IMAGE has {tuple(image.shape)}")
    return mask


def _valid_pixels(image, mask, invalid):
    """(in-memory array, voxels to cluster or None): ``invalid`` pixels set to 0 and left out;
    a NaN / infinite value anywhere else is an InputError."""
    arr = np.asarray(image.array)
    keep = mask
    if invalid is not None:
        invalid = np.asarray(invalid)
        if invalid.any():
            arr = arr.copy()
            arr[invalid] = 0
        keep = ~invalid if keep is None else (keep & ~invalid)
    if arr.dtype.kind == "f" and not all(np.isfinite(part).all() for part in arr):
        raise InputError("IMAGE holds NaN or infinite values; replace them first (e.g. with "
                         "0 or the background value), or leave them out (a scene's QA mask)")
    return arr, keep


def _blockwise(image, params: ClusterParams, mask, invalid):
    """K-means / K-medoids of a lazily read image, block by block (a lazy dask result)."""
    from . import cluster_dask

    if params.spatial_weight:
        raise InputError("--spatial-weight is not supported on a lazily read scene; leave out "
                         "--lazy")
    if params.segments is not None:
        raise InputError("--segments (superpixels first) is not supported on a lazily read "
                         "scene; leave out --lazy")
    keep = None if invalid is None else ~invalid
    if mask is not None:
        keep = mask if keep is None else keep & mask
    kw = {"sample_size": params.sample} if params.sample is not None else {}
    yield Progress(0, 1, f"{params.method}: fitting on a sample, then block by block")
    labels = cluster_dask(image.array, params.k, params.method,
                          channel_axis=-1 if image.multichannel else None,
                          random_state=params.seed, mask=keep, **kw)
    yield Progress(1, 1, f"{params.method}: lazy result ready")
    return _result(image, labels.astype(label_dtype(params.k)), params.k)


def _result(image, labels, top: int):
    """The label image on ``image``'s grid; a georeferenced one names its classes."""
    extra = ({"label_names": {v: f"cluster {v}" for v in range(1, top + 1)}}
             if image.metadata.get("crs") else {})
    return image.like(labels, name="clusters", **extra)


def k_sweep_job(image, params: ClusterParams = ClusterParams(), *, ks=range(2, 11), mask=None,
                invalid=None):
    """K-means inertia and silhouette for each K in ``ks`` on the pixels :func:`cluster_job`
    would cluster (same mask, invalid-pixel and NaN rules; ``spatial_weight`` and ``seed`` from
    ``params``), to choose K (job generator).

    Returns
    -------
    dict
        ``{"k": [...], "inertia": [...], "silhouette": [...]}``

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> arr = np.zeros((20, 30), np.float32); arr[:, 10:] = 1; arr[:, 20:] = 2
    >>> run(k_sweep_job(SegImage(arr), ks=[2, 3]))["k"]
    [2, 3]
    """
    from . import k_sweep_steps

    arr, keep = _valid_pixels(image, _check_mask(image, mask), invalid)
    return (yield from k_sweep_steps(arr, ks, channel_axis=-1 if image.multichannel else None,
                                     spacing=image.spacing, mask=keep,
                                     spatial_weight=params.spatial_weight,
                                     random_state=params.seed))
