"""Surface distances of two masks in physical units: Hausdorff (voxel sets), HD95 and ASSD
(boundaries), computed on the masks' common bounding box by a distance transform or a k-d tree,
whichever is cheaper."""

from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from numba import njit

from ..base.errors import InputError
from ..base.progress import Progress, run
from ._inputs import _unpack

DISTANCE_KEYS = ("hausdorff", "hd95", "assd")


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask minus its erosion by the face-connected structuring element (outside the array
    counts as background): a voxel is on the boundary when one of its 2*ndim face neighbours is
    background. Same as ``mask & ~binary_erosion(mask, generate_binary_structure(ndim, 1),
    border_value=0)``, computed with array shifts (several times faster).

    Parameters
    ----------
    mask : numpy.ndarray of bool
        The mask, any dimension.

    Returns
    -------
    numpy.ndarray of bool
        Its voxel boundary.

    Examples
    --------
    >>> m = np.zeros((5, 5), bool)
    >>> m[1:4, 1:4] = True
    >>> boundary(m)[1:4, 1:4].astype(int).tolist()
    [[1, 1, 1], [1, 0, 1], [1, 1, 1]]
    """
    mask = np.asarray(mask, dtype=bool)
    interior = mask.copy()
    for ax in range(mask.ndim):
        n = mask.shape[ax]
        lo = [slice(None)] * mask.ndim
        hi = [slice(None)] * mask.ndim
        if n < 3:
            interior[...] = False
            break
        lo[ax], hi[ax] = slice(0, n - 1), slice(1, n)
        interior[tuple(hi)] &= mask[tuple(lo)]   # neighbour at -1 along ax
        interior[tuple(lo)] &= mask[tuple(hi)]   # neighbour at +1 along ax
        edge = [slice(None)] * mask.ndim
        edge[ax] = 0
        interior[tuple(edge)] = False
        edge[ax] = n - 1
        interior[tuple(edge)] = False
    return mask & ~interior


def _bbox(mask: np.ndarray) -> Optional[Tuple[slice, ...]]:
    from scipy import ndimage as ndi

    objs = ndi.find_objects(mask.view(np.uint8) if mask.dtype == bool else mask, max_label=1)
    return objs[0] if objs else None


@njit(cache=True, nogil=True)
def _boxes_kernel(img, top, box):
    n0, n1, n2 = img.shape
    for i in range(n0):
        for j in range(n1):
            for k in range(n2):
                v = img[i, j, k]
                if v <= 0 or v > top:
                    continue
                v -= 1
                if box[v, 0] < 0:
                    box[v, 0] = i
                    box[v, 2] = j
                    box[v, 4] = k
                box[v, 1] = i
                if j < box[v, 2]:
                    box[v, 2] = j
                if j > box[v, 3]:
                    box[v, 3] = j
                if k < box[v, 4]:
                    box[v, 4] = k
                if k > box[v, 5]:
                    box[v, 5] = k


def label_boxes(image: np.ndarray, top: int) -> list:
    """The bounding box of each label ``1..top`` of an integer image (2D or 3D) as a tuple of
    slices, None for a label absent: ``scipy.ndimage.find_objects(image, max_label=top)`` in one
    compiled pass (several times faster on large images).

    Parameters
    ----------
    image : numpy.ndarray of int
        The label image.
    top : int
        The largest label wanted.

    Returns
    -------
    list of (tuple of slice or None)
        ``top`` entries.

    Examples
    --------
    >>> label_boxes(np.array([[0, 2, 2], [0, 0, 2]]), 2)
    [None, (slice(0, 2, None), slice(1, 3, None))]
    """
    img = np.asarray(image)
    nd = img.ndim
    if nd not in (2, 3) or img.dtype.kind not in "iu" or top <= 0:
        from scipy import ndimage as ndi

        return list(ndi.find_objects(img, max_label=top)) if top > 0 else []
    box = np.full((top, 6), -1, np.int64)
    _boxes_kernel(img.reshape((1,) * (3 - nd) + img.shape), top, box)
    return [None if b[0] < 0 else tuple(slice(int(b[2 * a]), int(b[2 * a + 1]) + 1)
                                         for a in range(3 - nd, 3))
            for b in box]


def _union_crop(a: Optional[Tuple[slice, ...]], b: Optional[Tuple[slice, ...]],
                shape: Sequence[int], margin: int = 1) -> Tuple[slice, ...]:
    return tuple(slice(max(0, min(sa.start, sb.start) - margin),
                       min(n, max(sa.stop, sb.stop) + margin))
                 for sa, sb, n in zip(a, b, shape))


#: For the points the window search leaves, a k-d tree is used when (points * this) < voxels
#: in the crop, else our distance transform (a few tens of nanoseconds a voxel, against about a
#: microsecond a k-d tree query).
_KDTREE_FACTOR = 24

#: About how many offsets the window of the exact local search holds.
_WINDOW_POINTS = 250


@njit(cache=True, nogil=True)
def _window_search(dst, qidx, offs, dist, out):
    """For each flat index in ``qidx``: the distance of the first offset (nearest first) at
    which ``dst`` is set, or -1 when none in the window is."""
    left = 0
    for t in range(qidx.size):
        i = qidx[t]
        res = -1.0
        for k in range(offs.size):
            if dst[i + offs[k]]:
                res = dist[k]
                break
        out[t] = res
        if res < 0:
            left += 1
    return left


def _window(spacing: Sequence[float]):
    """The offsets (as index tuples) of the voxels within a physical radius chosen to hold
    about ``_WINDOW_POINTS`` of them, nearest first, their distances, and the radius."""
    sp = np.asarray(spacing, dtype=np.float64)
    unit = 4.0 / 3.0 * np.pi if sp.size == 3 else np.pi if sp.size == 2 else 2.0
    radius = float((_WINDOW_POINTS * np.prod(sp) / unit) ** (1.0 / sp.size))
    reach = np.floor(radius / sp).astype(np.int64)
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij")
    offs = np.stack([g.ravel() for g in grids], axis=1)
    dist = np.sqrt(((offs * sp) ** 2).sum(axis=1))
    keep = dist <= radius
    order = np.argsort(dist[keep], kind="stable")
    return offs[keep][order], dist[keep][order], reach


def _nearest_distances(dst: np.ndarray, queries: Sequence[np.ndarray], spacing: Sequence[float],
                       method: str = "auto") -> list:
    """For each boolean mask in ``queries``: the physical distance from each of its voxels (raster
    order) to the nearest voxel of ``dst`` (non-empty).

    ``"auto"``: first an exact local search, the voxels of a ball around each point visited
    nearest first (:func:`_window_search`): the first one set in ``dst`` is the nearest of all,
    since every voxel outside the ball is farther than any inside; the points with none in
    their ball then go to a k-d tree of ``dst``'s voxels (``"kdtree"``) or our distance
    transform of ``dst`` (``"edt"``, :mod:`._edt`), whichever is cheaper for their number.
    All give the same numbers up to rounding.
    """
    sp = np.asarray(spacing, dtype=np.float64)
    if method == "auto":
        offs, dist, reach = _window(sp)
        pad = [(int(k), int(k)) for k in reach]
        padded = np.pad(dst, pad)
        flat_offs = offs @ (np.array(padded.strides, np.int64) // padded.itemsize)
        qidx = [np.flatnonzero(np.pad(q, pad)) for q in queries]
        outs = [np.empty(len(qi)) for qi in qidx]
        left = 0
        for qi, out in zip(qidx, outs):
            left += _window_search(padded.reshape(-1), qi, flat_offs, dist, out)
        if left == 0:
            return outs
        todo = [out < 0 for out in outs]
        coords = [tuple(c - k for c, k in zip(np.unravel_index(qi[td], padded.shape), reach))
                  for qi, td in zip(qidx, todo)]
        method = "kdtree" if left * _KDTREE_FACTOR < dst.size else "edt"
    else:
        coords = [np.nonzero(q) for q in queries]
        outs = [np.empty(len(c[0])) for c in coords]
        todo = [np.ones(len(c[0]), bool) for c in coords]
    if method == "kdtree":
        from scipy.spatial import cKDTree

        tree = cKDTree(np.argwhere(dst) * sp, balanced_tree=False, compact_nodes=False)
        for c, out, td in zip(coords, outs, todo):
            if len(c[0]):
                out[td] = tree.query(np.stack(c, axis=1) * sp, workers=-1)[0]
        return outs
    from ._edt import squared_edt

    d2 = squared_edt(dst, sp)
    for c, out, td in zip(coords, outs, todo):
        out[td] = np.sqrt(d2[c])
    return outs


def _distances_cropped(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                       method: str = "auto") -> Dict[str, float]:
    """:func:`_distances_steps` run to the end."""
    return run(_distances_steps(a, b, spacing, method))


def _distances_steps(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                     method: str = "auto", message: str = "surface distances",
                     convention: str = "medpy"):
    """Hausdorff, HD95 and ASSD of two non-empty boolean masks (already cropped with a
    background margin or at the array border); HD95/ASSD in MedPy's or MONAI's ``convention``
    (see :mod:`.surface`)."""
    from .surface import combine

    d_ab, d_ba, hd = yield from _boundary_distances_steps(a, b, spacing, method, message)
    return {"hausdorff": hd, **combine(d_ab, d_ba, convention)}


def _boundary_distances_steps(a: np.ndarray, b: np.ndarray, spacing: Sequence[float],
                              method: str = "auto", message: str = "surface distances"):
    """``(d_ab, d_ba, hausdorff)``: the distances from each voxel-boundary point of ``a`` to
    ``b``'s boundary and back, and the voxel-set Hausdorff distance, for two non-empty boolean
    masks (already cropped with a background margin or at the array border).

    The distances by :func:`_nearest_distances` (``method``: ``"auto"``, ``"edt"`` or
    ``"kdtree"``, exact all three). Outside a mask, the nearest mask voxel always lies on its
    face-connected boundary, so the same distances also give the voxel-set Hausdorff
    distance.
    """
    ba, bb = boundary(a), boundary(b)
    only_a = a & ~b
    only_b = b & ~a
    d_ab, h_ab = _nearest_distances(bb, (ba, only_a), spacing, method)  # PRED -> GT boundary
    yield Progress(None, None, message)  # a chance to cancel between the two
    d_ba, h_ba = _nearest_distances(ba, (bb, only_b), spacing, method)
    hd = max(float(h_ab.max()) if h_ab.size else 0.0, float(h_ba.max()) if h_ba.size else 0.0)
    return d_ab, d_ba, hd


_NAN_DIST = {"hausdorff": float("nan"), "hd95": float("nan"), "assd": float("nan")}


def surface_distances(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                      convention: str = "medpy") -> Dict[str, float]:
    """Hausdorff (voxel sets), HD95 and ASSD (boundaries) between two binary masks.

    Parameters
    ----------
    pred, gt
        Masks (any non-zero voxel is foreground) of the same shape, arrays or SegImages.
    spacing
        Voxel spacing, numpy order (default: GT's, PRED's, or 1).
    convention
        Whose HD95 and ASSD: ``"medpy"``, ``"monai"``, ``"deepmind"`` (see :mod:`.surface`).

    Returns
    -------
    dict
        ``hausdorff``, ``hd95``, ``assd`` in physical units; NaN for all three when either mask
        is empty. See the package docstring for the definitions.

    Examples
    --------
    >>> a = np.zeros((1, 8), bool); a[0, 1:4] = True
    >>> b = np.zeros((1, 8), bool); b[0, 2:6] = True
    >>> d = surface_distances(a, b, spacing=(1.0, 2.0))
    >>> d["hausdorff"], round(d["hd95"], 2), round(d["assd"], 4)
    (4.0, 3.4, 1.1429)
    """
    p, sp = _unpack(pred, "PRED")
    g, sg = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must match")
    spacing = spacing if spacing is not None else (sg or sp or (1.0,) * g.ndim)
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != g.ndim:
        raise InputError(f"spacing has {len(spacing)} values but the images are {g.ndim}D")
    a, b = p != 0, g != 0
    ba, bb = _bbox(a), _bbox(b)
    if ba is None or bb is None:
        return dict(_NAN_DIST)
    crop = _union_crop(ba, bb, a.shape)
    if convention == "deepmind":
        from .surface import surfel_figures

        out = _distances_cropped(a[crop], b[crop], spacing)
        dm = surfel_figures(a[crop], b[crop], spacing, 0.0)
        out.update(hd95=dm["dm_hd95"], assd=dm["dm_assd"])
        return out
    return run(_distances_steps(a[crop], b[crop], spacing, convention=convention))
