"""Surface and boundary figures of one label: normalised surface Dice, boundary IoU, clDice, and
the HD95 / ASSD of three libraries' conventions.

Definitions (``a`` = PRED's mask of the label, ``b`` = GT's; distances in physical units):

- **Voxel boundary** (MedPy, MONAI): the mask minus its erosion by the face-connected structuring
  element, outside the image counting as background (:func:`..boundary`).
- **Surface elements** (DeepMind): one per 2x2(x2) cube of voxels holding both foreground and
  background, weighted by its area (3D) or contour length (2D) (:mod:`._surfels`).
- ``hd95`` and ``assd`` by ``convention``:

  - ``"medpy"`` (default): the 95th percentile of the pooled distances from each voxel-boundary
    point of one mask to the other's boundary, both directions together (``medpy.metric.hd95``);
    ``assd`` is the mean of the same pooled distances (``medpy.metric.assd``, MedPy >= 0.5).
  - ``"monai"``: the larger of the two directed 95th percentiles over the same voxel boundaries
    (``monai.metrics.compute_hausdorff_distance(percentile=95)``); ``assd`` the mean of the pooled
    distances, as MedPy's (``compute_average_surface_distance(symmetric=True)``).
  - ``"deepmind"``: per direction, the smallest distance below which 95 % of the surface *area*
    lies, the larger of the two (``surface_distance.compute_robust_hausdorff(.., 95)``); ``assd``
    the mean of the two area-weighted directed averages
    (``compute_average_surface_distance``).

- ``nsd``: normalised surface Dice at ``tolerance``: the surface area of each mask lying within
  the tolerance of the other surface, over the total area of both (DeepMind's
  ``compute_surface_dice_at_tolerance``; ``monai.metrics.compute_surface_dice`` with
  ``use_subvoxels=True``).
- ``boundary_iou`` (Cheng et al. 2021): IoU of the two masks' boundary regions, a mask's boundary
  region being its voxels within ``tolerance`` of a voxel outside it (centre to centre, outside
  the image counting as outside) and at least its voxel boundary.
- ``cldice`` (Shit et al. 2021): ``2 Tprec Tsens / (Tprec + Tsens)`` with ``Tprec`` the fraction
  of PRED's skeleton inside GT and ``Tsens`` the fraction of GT's skeleton inside PRED; skeletons
  as scikit-image's ``skeletonize`` makes them (Zhang in 2D; Lee in 3D, by our voxel-identical
  numba version, :mod:`._thinning`; topological, spacing plays no role).

Empty masks (the label absent from PRED and/or GT): the three distances are NaN; ``nsd`` is 1
when both are empty (as Metrics Reloaded sets it), 0 when one is; ``boundary_iou`` and ``cldice``
are NaN when both are empty (0/0), 0 when one is.
"""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np

from ..base.errors import InputError
from ..base.progress import Progress

HD95_CONVENTIONS = ("medpy", "monai", "deepmind")
DEFAULT_TOLERANCE = 1.0
SURFACE_KEYS = ("nsd", "boundary_iou", "cldice")
_NAN = float("nan")

#: Most elements of the ball-shaped structuring element for the boundary region by erosion;
#: larger tolerances use a distance transform.
_MAX_BALL = 125


def check_options(tolerance: float, convention: str):
    """Validate ``tolerance`` (mm, >= 0, finite) and the HD95 ``convention``.

    Parameters
    ----------
    tolerance : float
        The surface tolerance in mm (finite, >= 0).
    convention : {"medpy", "monai", "deepmind"}
        The HD95 / ASSD convention.

    Returns
    -------
    tuple of (float, str)
        The tolerance as a float and the convention.

    Raises
    ------
    InputError
        On a bad tolerance or an unknown convention.

    Examples
    --------
    >>> check_options(2, "monai")
    (2.0, 'monai')
    """
    try:
        tol = float(tolerance)
    except (TypeError, ValueError):
        raise InputError(f"the tolerance must be a number in mm, got {tolerance!r}") from None
    if not np.isfinite(tol) or tol < 0:
        raise InputError(f"the tolerance must be a non-negative number in mm, got {tolerance!r}")
    if convention not in HD95_CONVENTIONS:
        raise InputError(f"the HD95 convention must be one of {', '.join(HD95_CONVENTIONS)}, "
                         f"got {convention!r}")
    return tol, convention


def empty_figures(pred_empty: bool, gt_empty: bool) -> Dict[str, float]:
    """The surface figures of a label missing from PRED and/or GT (see the module docstring).

    Parameters
    ----------
    pred_empty, gt_empty : bool
        Whether the label is missing from PRED / from GT.

    Returns
    -------
    dict of str to float
        ``hausdorff``, ``hd95``, ``assd``, ``nsd``, ``boundary_iou``, ``cldice``.

    Examples
    --------
    >>> empty_figures(True, False)["nsd"], empty_figures(True, True)["nsd"]
    (0.0, 1.0)
    """
    both = pred_empty and gt_empty
    return {"hausdorff": _NAN, "hd95": _NAN, "assd": _NAN,
            "nsd": 1.0 if both else 0.0,
            "boundary_iou": _NAN if both else 0.0,
            "cldice": _NAN if both else 0.0}


def _area_percentile(d: np.ndarray, w: np.ndarray, percent: float) -> float:
    """DeepMind's robust percentile: the distance at which the cumulated area reaches it."""
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(w[order]) / np.sum(w)
    idx = int(np.searchsorted(cum, percent / 100.0))
    return float(d[order][min(idx, len(d) - 1)])


def surfel_figures(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                   tolerance: float) -> Dict[str, float]:
    """DeepMind's figures for two non-empty masks: ``nsd`` and the area-weighted ``hd95`` /
    ``assd`` (returned as ``dm_hd95`` / ``dm_assd``).

    Parameters
    ----------
    a, b : numpy.ndarray of bool
        PRED's and GT's masks of the label (same shape, non-empty).
    spacing : sequence of float
        Voxel size per axis, numpy order.
    tolerance : float
        The NSD tolerance (physical units).

    Returns
    -------
    dict of str to float
        ``nsd``, ``dm_hd95``, ``dm_assd``.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool)
    >>> a[2:6, 2:6] = True
    >>> b = np.zeros((8, 8), bool)
    >>> b[2:6, 3:7] = True
    >>> surfel_figures(a, b, (1.0, 1.0), 0.0)
    {'nsd': 0.5, 'dm_hd95': 1.0, 'dm_assd': 0.5}
    """
    from ._surfels import surfel_grid
    from .distances import _nearest_distances

    sa, wa = surfel_grid(a, spacing)
    sb, wb = surfel_grid(b, spacing)
    d_ab, = _nearest_distances(sb, (sa,), spacing)
    d_ba, = _nearest_distances(sa, (sb,), spacing)
    total = wa.sum() + wb.sum()
    nsd = (wa[d_ab <= tolerance].sum() + wb[d_ba <= tolerance].sum()) / total
    hd95 = max(_area_percentile(d_ab, wa, 95), _area_percentile(d_ba, wb, 95))
    assd = 0.5 * (float(np.dot(d_ab, wa) / wa.sum()) + float(np.dot(d_ba, wb) / wb.sum()))
    return {"nsd": float(nsd), "dm_hd95": hd95, "dm_assd": assd}


def boundary_region(mask: np.ndarray, spacing: Sequence[float], width: float) -> np.ndarray:
    """The mask's voxels within ``width`` (physical units) of a voxel outside it, centre to
    centre, outside the array counting as outside; always at least the voxel boundary.

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The mask.
    spacing : sequence of float
        Voxel size per axis, numpy order.
    width : float
        Width of the region (physical units).

    Returns
    -------
    numpy.ndarray of bool
        The boundary region, of the mask's shape.

    Examples
    --------
    >>> import numpy as np
    >>> m = np.zeros((6, 6), bool)
    >>> m[1:5, 1:5] = True
    >>> boundary_region(m, (1.0, 1.0), 1.0)[1:5, 1:5].astype(int)
    array([[1, 1, 1, 1],
           [1, 0, 0, 1],
           [1, 0, 0, 1],
           [1, 1, 1, 1]])
    """
    from scipy import ndimage as ndi

    from .distances import boundary

    m = np.pad(np.asarray(mask, dtype=bool), 1)
    sp = np.asarray(spacing, dtype=np.float64)
    r = np.maximum(np.floor(width / sp + 1e-9).astype(int), 1)
    if int(np.prod(2 * r + 1)) <= _MAX_BALL:
        grids = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
        struct = sum((g * s) ** 2 for g, s in zip(grids, sp)) <= width ** 2 * (1 + 1e-12)
        struct[tuple(slice(k - 1, k + 2) for k in r)] |= ndi.generate_binary_structure(m.ndim, 1)
        # the erosion (outside counting as background) as an AND of shifted copies: several
        # times faster than scipy's binary_erosion for these small balls
        big = np.pad(m, [(int(k), int(k)) for k in r])
        eroded = m.copy()
        for off in np.argwhere(struct) - r:
            eroded &= big[tuple(slice(int(k + o), int(k + o) + n)
                                for k, o, n in zip(r, off, m.shape))]
        band = m & ~eroded
    else:
        band = (m & (ndi.distance_transform_edt(m, sampling=sp) <= width * (1 + 1e-12))) | boundary(m)
    return band[tuple(slice(1, -1) for _ in range(m.ndim))]


def boundary_iou(a: np.ndarray, b: np.ndarray, spacing: Sequence[float], width: float) -> float:
    """Boundary IoU of two masks: IoU of their :func:`boundary_region` of ``width``.

    Parameters
    ----------
    a, b : numpy.ndarray of bool
        The two masks (same shape).
    spacing : sequence of float
        Voxel size per axis, numpy order.
    width : float
        Width of the boundary regions (physical units).

    Returns
    -------
    float
        The IoU (NaN when both regions are empty).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool)
    >>> a[2:6, 2:6] = True
    >>> b = np.zeros((8, 8), bool)
    >>> b[2:6, 3:7] = True
    >>> boundary_iou(a, a, (1.0, 1.0), 1.0), round(boundary_iou(a, b, (1.0, 1.0), 1.0), 3)
    (1.0, 0.333)
    """
    ra = boundary_region(a, spacing, width)
    rb = boundary_region(b, spacing, width)
    union = int(np.count_nonzero(ra | rb))
    return float(np.count_nonzero(ra & rb)) / union if union else _NAN


def _skeletons(a: np.ndarray, b: np.ndarray):
    if a.ndim == 3:  # Lee's thinning, our numba version (same skeleton, several times faster)
        from ._thinning import skeletonize_3d

        return skeletonize_3d(a), skeletonize_3d(b)
    from skimage.morphology import skeletonize

    return skeletonize(a), skeletonize(b)


def cldice(a: np.ndarray, b: np.ndarray, skeletons=None) -> float:
    """clDice of PRED ``a`` against GT ``b`` (both non-empty); ``skeletons``: theirs, if
    already computed.

    Parameters
    ----------
    a, b : numpy.ndarray of bool
        PRED's and GT's masks (same shape, non-empty).
    skeletons : tuple of numpy.ndarray, optional
        The skeletons of ``a`` and ``b`` (None: computed here).

    Returns
    -------
    float
        clDice in [0, 1] (NaN when a skeleton is empty).

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool)
    >>> a[2:6, 2:6] = True
    >>> b = np.zeros((8, 8), bool)
    >>> b[2:6, 3:7] = True
    >>> cldice(a, b)
    1.0
    """
    sa, sb = skeletons if skeletons is not None else _skeletons(a, b)
    na, nb = int(np.count_nonzero(sa)), int(np.count_nonzero(sb))
    if na == 0 or nb == 0:
        return _NAN
    tprec = np.count_nonzero(sa & b) / na
    tsens = np.count_nonzero(sb & a) / nb
    return float(2 * tprec * tsens / (tprec + tsens)) if tprec + tsens > 0 else 0.0


def combine(d_ab: np.ndarray, d_ba: np.ndarray, convention: str) -> Dict[str, float]:
    """``hd95`` and ``assd`` from the two directed voxel-boundary distance sets (MedPy, MONAI).

    Parameters
    ----------
    d_ab, d_ba : numpy.ndarray
        Distances from ``a``'s boundary to ``b``'s and back.
    convention : {"medpy", "monai", "deepmind"}
        ``"monai"``: the larger directed 95th percentile; otherwise the pooled one.

    Returns
    -------
    dict of str to float
        ``hd95`` and ``assd``.

    Examples
    --------
    >>> import numpy as np
    >>> combine(np.array([0.0, 1.0]), np.array([0.0, 2.0]), "medpy")["assd"]
    0.75
    """
    both = np.concatenate([d_ab, d_ba])
    if convention == "monai":
        hd95 = max(float(np.percentile(d_ab, 95)), float(np.percentile(d_ba, 95)))
    else:
        hd95 = float(np.percentile(both, 95))
    return {"hd95": hd95, "assd": float(both.mean())}


def label_figures_steps(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                        tolerance: float = DEFAULT_TOLERANCE, convention: str = "medpy",
                        message: str = "surface figures", skeletons=None):
    """Every surface figure of two non-empty masks (cropped with a background margin, or at the
    array border): ``hausdorff``, ``hd95``, ``assd`` (by ``convention``), ``nsd``,
    ``boundary_iou``, ``cldice``. A job generator (yields between the expensive parts).

    Parameters
    ----------
    a, b : numpy.ndarray of bool
        PRED's and GT's masks of the label (same shape, non-empty).
    spacing : sequence of float
        Voxel size per axis, numpy order.
    tolerance : float
        Tolerance of ``nsd`` and width of the boundary regions (physical units).
    convention : {"medpy", "monai", "deepmind"}
        The HD95 / ASSD convention.
    message : str
        The progress message.
    skeletons : concurrent.futures.Future, optional
        clDice's skeletons of ``a`` and ``b`` being computed elsewhere (None: on a second
        thread started here).

    Yields
    ------
    Progress
        Between the expensive parts.

    Returns
    -------
    dict of str to float
        The six figures (the generator's return value).

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> import numpy as np
    >>> a = np.zeros((8, 8), bool)
    >>> a[2:6, 2:6] = True
    >>> b = np.zeros((8, 8), bool)
    >>> b[2:6, 3:7] = True
    >>> run(label_figures_steps(a, a, (1.0, 1.0)))
    {'hausdorff': 0.0, 'hd95': 0.0, 'assd': 0.0, 'nsd': 1.0, 'boundary_iou': 1.0, 'cldice': 1.0}
    """
    from concurrent.futures import ThreadPoolExecutor, wait

    from .distances import _boundary_distances_steps

    # the thinning (the slowest part) releases the GIL: it runs on a second thread while the
    # distances are computed here
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        if skeletons is None:
            skeletons = pool.submit(_skeletons, a, b)
        d_ab, d_ba, hd = yield from _boundary_distances_steps(a, b, spacing, message=message)
        out = {"hausdorff": hd}
        out.update(combine(d_ab, d_ba, convention))
        yield Progress(None, None, message)
        dm = surfel_figures(a, b, spacing, tolerance)
        out["nsd"] = dm["nsd"]
        if convention == "deepmind":
            out["hd95"], out["assd"] = dm["dm_hd95"], dm["dm_assd"]
        yield Progress(None, None, message)
        out["boundary_iou"] = boundary_iou(a, b, spacing, tolerance)
        while not skeletons.done():  # a chance to cancel while the skeletons are thinned
            yield Progress(None, None, message)
            wait([skeletons], timeout=0.25)
        out["cldice"] = cldice(a, b, skeletons.result())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return out
