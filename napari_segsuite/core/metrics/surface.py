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
  by scikit-image's ``skeletonize`` (Zhang in 2D, Lee in 3D; topological, spacing plays no role).

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
    """Validate ``tolerance`` (mm, >= 0, finite) and the HD95 ``convention``."""
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
    """The surface figures of a label missing from PRED and/or GT (see the module docstring)."""
    both = pred_empty and gt_empty
    return {"hausdorff": _NAN, "hd95": _NAN, "assd": _NAN,
            "nsd": 1.0 if both else 0.0,
            "boundary_iou": _NAN if both else 0.0,
            "cldice": _NAN if both else 0.0}


def _nearest(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    from scipy.spatial import cKDTree

    tree = cKDTree(dst, balanced_tree=False, compact_nodes=False)
    return tree.query(src, workers=-1)[0]


def _area_percentile(d: np.ndarray, w: np.ndarray, percent: float) -> float:
    """DeepMind's robust percentile: the distance at which the cumulated area reaches it."""
    order = np.argsort(d, kind="stable")
    cum = np.cumsum(w[order]) / np.sum(w)
    idx = int(np.searchsorted(cum, percent / 100.0))
    return float(d[order][min(idx, len(d) - 1)])


def surfel_figures(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                   tolerance: float) -> Dict[str, float]:
    """DeepMind's figures for two non-empty masks: ``nsd`` and the area-weighted ``hd95`` /
    ``assd`` (returned as ``dm_hd95`` / ``dm_assd``)."""
    from ._surfels import surfels

    pa, wa = surfels(a, spacing)
    pb, wb = surfels(b, spacing)
    d_ab = _nearest(pa, pb)
    d_ba = _nearest(pb, pa)
    total = wa.sum() + wb.sum()
    nsd = (wa[d_ab <= tolerance].sum() + wb[d_ba <= tolerance].sum()) / total
    hd95 = max(_area_percentile(d_ab, wa, 95), _area_percentile(d_ba, wb, 95))
    assd = 0.5 * (float(np.dot(d_ab, wa) / wa.sum()) + float(np.dot(d_ba, wb) / wb.sum()))
    return {"nsd": float(nsd), "dm_hd95": hd95, "dm_assd": assd}


def boundary_region(mask: np.ndarray, spacing: Sequence[float], width: float) -> np.ndarray:
    """The mask's voxels within ``width`` (physical units) of a voxel outside it, centre to
    centre, outside the array counting as outside; always at least the voxel boundary."""
    from scipy import ndimage as ndi

    from .distances import boundary

    m = np.pad(np.asarray(mask, dtype=bool), 1)
    sp = np.asarray(spacing, dtype=np.float64)
    r = np.maximum(np.floor(width / sp + 1e-9).astype(int), 1)
    if int(np.prod(2 * r + 1)) <= _MAX_BALL:
        grids = np.ogrid[tuple(slice(-k, k + 1) for k in r)]
        struct = sum((g * s) ** 2 for g, s in zip(grids, sp)) <= width ** 2 * (1 + 1e-12)
        struct[tuple(slice(k - 1, k + 2) for k in r)] |= ndi.generate_binary_structure(m.ndim, 1)
        band = m & ~ndi.binary_erosion(m, struct, border_value=0)
    else:
        band = (m & (ndi.distance_transform_edt(m, sampling=sp) <= width * (1 + 1e-12))) | boundary(m)
    return band[tuple(slice(1, -1) for _ in range(m.ndim))]


def boundary_iou(a: np.ndarray, b: np.ndarray, spacing: Sequence[float], width: float) -> float:
    ra = boundary_region(a, spacing, width)
    rb = boundary_region(b, spacing, width)
    union = int(np.count_nonzero(ra | rb))
    return float(np.count_nonzero(ra & rb)) / union if union else _NAN


def _skeletons(a: np.ndarray, b: np.ndarray):
    from skimage.morphology import skeletonize

    return skeletonize(a), skeletonize(b)


def cldice(a: np.ndarray, b: np.ndarray, skeletons=None) -> float:
    """clDice of PRED ``a`` against GT ``b`` (both non-empty); ``skeletons``: theirs, if
    already computed."""
    sa, sb = skeletons if skeletons is not None else _skeletons(a, b)
    na, nb = int(np.count_nonzero(sa)), int(np.count_nonzero(sb))
    if na == 0 or nb == 0:
        return _NAN
    tprec = np.count_nonzero(sa & b) / na
    tsens = np.count_nonzero(sb & a) / nb
    return float(2 * tprec * tsens / (tprec + tsens)) if tprec + tsens > 0 else 0.0


def combine(d_ab: np.ndarray, d_ba: np.ndarray, convention: str) -> Dict[str, float]:
    """``hd95`` and ``assd`` from the two directed voxel-boundary distance sets (MedPy, MONAI)."""
    both = np.concatenate([d_ab, d_ba])
    if convention == "monai":
        hd95 = max(float(np.percentile(d_ab, 95)), float(np.percentile(d_ba, 95)))
    else:
        hd95 = float(np.percentile(both, 95))
    return {"hd95": hd95, "assd": float(both.mean())}


def label_figures_steps(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                        tolerance: float = DEFAULT_TOLERANCE, convention: str = "medpy",
                        message: str = "surface figures"):
    """Every surface figure of two non-empty masks (cropped with a background margin, or at the
    array border): ``hausdorff``, ``hd95``, ``assd`` (by ``convention``), ``nsd``,
    ``boundary_iou``, ``cldice``. A job generator (yields between the expensive parts)."""
    from concurrent.futures import ThreadPoolExecutor, wait

    from .distances import _boundary_distances_steps

    # scikit-image's thinning (the slowest part) releases the GIL: it runs on a second thread
    # while the distances are computed here
    pool = ThreadPoolExecutor(max_workers=1)
    try:
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
