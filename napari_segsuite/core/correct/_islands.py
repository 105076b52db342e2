"""Islands (connected components of one label) and holes."""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
from scipy import ndimage as ndi

from ..base.neighbours import parse_connectivity
from ._common import bbox, result_dtype, structure


def components(arr: np.ndarray, acting: List[int], connectivity: str
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected components of each acting label (voxels of equal value, ``connectivity``).
    ``acting=None``: every label.

    Returns (comp, sizes, value): ``comp`` numbers the components 1..n (0 elsewhere), ``sizes[i]``
    and ``value[i]`` are component i's voxel count and label (index 0 unused).
    """
    fast = _components_fast(arr, acting, connectivity)
    if fast is not None:
        return fast
    from skimage.measure import label as sk_label

    work = arr
    if arr.dtype == bool:
        work = arr.astype(np.uint8)
    if acting is not None:
        work = np.where(np.isin(work, acting), work, 0)
    conn = parse_connectivity(connectivity, arr.ndim)
    comp = sk_label(work, background=0, connectivity=conn)
    flat = comp.ravel()
    sizes = np.bincount(flat)
    value = np.zeros(sizes.size, np.int64)
    value[flat] = work.ravel()
    return comp, sizes, value


def _components_fast(arr, acting, connectivity):
    """:func:`components` by union-find over runs along the last axis in numba (the same
    numbering as scikit-image: raster order of each component's first voxel); None when a
    value is outside the look-up table's range."""
    from ..base.neighbours import offsets
    from . import _kernels as K

    if arr.size == 0 or arr.dtype == np.uint64:
        return None
    if acting is not None and acting and not K.lut_ok((min(acting), max(acting))):
        return None
    a = K.as3(arr)
    rank = parse_connectivity(connectivity, arr.ndim)
    offs = np.asarray(offsets(arr.ndim, rank), np.int64)
    back = K.offsets3(offs)
    act = K.lut(acting or ()) if acting is not None else np.zeros(1, np.bool_)
    runs = K.runs_kernel(a, act, acting is not None, K.row_steps(back))
    comp = np.zeros(a.size, K.stack_dtype(a.size))
    sizes, value = K.runs_components(*runs, a.shape[2], comp)
    sizes[0] = a.size - int(sizes[1:].sum())
    return comp.reshape(arr.shape), sizes, value


def remove_small(arr, acting, connectivity, min_voxels: float) -> np.ndarray:
    comp, sizes, _ = components(arr, acting, connectivity)
    drop = sizes < min_voxels
    drop[0] = False
    out = arr.copy()
    out[drop[comp]] = 0
    return out


def _largest_per_label(sizes: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Boolean per component: the largest of its label (ties: the first in raster order)."""
    ids = np.arange(1, sizes.size)
    order = np.lexsort((ids, -sizes[1:], value[1:]))  # by label, then size desc, then id
    ids = ids[order]
    first = np.ones(ids.size, bool)
    first[1:] = value[ids][1:] != value[ids][:-1]
    largest = np.zeros(sizes.size, bool)
    largest[ids[first]] = True
    return largest


def keep_largest(arr, acting, connectivity) -> np.ndarray:
    comp, sizes, value = components(arr, acting, connectivity)
    drop = ~_largest_per_label(sizes, value)
    drop[0] = False
    out = arr.copy()
    out[drop[comp]] = 0
    return out


def split(arr, acting, connectivity) -> np.ndarray:
    """Each label's largest island keeps its value; the others, label by label in increasing
    order and island by decreasing size (ties: raster order), get max+1, max+2, ..."""
    comp, sizes, value = components(arr, acting, connectivity)
    largest = _largest_per_label(sizes, value)
    ids = np.arange(1, sizes.size)
    order = np.lexsort((ids, -sizes[1:], value[1:]))
    ids = ids[order]
    extra = ids[~largest[ids]]
    top = int(arr.max()) if arr.size else 0
    new = value.copy()
    new[extra] = top + 1 + np.arange(extra.size)
    out = arr.astype(result_dtype(arr, top + extra.size), copy=True)
    if extra.size:
        moved = np.zeros(sizes.size, bool)
        moved[extra] = True
        sel = moved[comp]
        out[sel] = new[comp[sel]]
    return out


def _holes(mask: np.ndarray, st: np.ndarray) -> np.ndarray:
    """The components of ~mask (connected by ``st``) that do not touch the array's border:
    what scipy.ndimage.binary_fill_holes adds, by one labelling instead of iterated
    dilations."""
    comp, n = ndi.label(~mask, structure=st)
    if n == 0:
        return np.zeros_like(mask)
    border = np.zeros(n + 1, bool)
    for ax in range(mask.ndim):
        for end in (0, -1):
            border[np.take(comp, end, axis=ax)] = True
    border[0] = True
    return ~border[comp]


def fill_holes(arr, acting, connectivity, per_slice_axis: Optional[int]) -> np.ndarray:
    """Each label's holes (non-label regions, ``connectivity``-connected, that do not reach the
    array's border; in 2D slices along ``per_slice_axis`` when given) become the label. Labels
    are filled from the largest bounding box to the smallest, so a hole nested in several
    labels goes to the innermost."""
    out = arr.copy()
    boxes = []
    for lab in acting:
        box = bbox(arr == lab, pad=1)
        if box is not None:
            vol = int(np.prod([s.stop - s.start for s in box]))
            boxes.append((-vol, lab, box))
    boxes.sort()
    nd = arr.ndim if per_slice_axis is None else arr.ndim - 1
    st = structure(connectivity, nd)
    for _, lab, box in boxes:
        mask = arr[box] == lab
        holes = _holes_fast(mask, st, per_slice_axis)
        if holes.any():
            view = out[box]
            view[holes] = lab
    return out


def _holes_fast(mask, st, per_slice_axis):
    """:func:`_holes` of the whole mask, or of each of its slices along ``per_slice_axis``
    (the slices' own borders), by union-find over runs in numba."""
    from . import _kernels as K

    ndim = mask.ndim
    offs = np.argwhere(st) - 1
    offs = offs[np.any(offs != 0, axis=1)]
    border = [True] * ndim
    if per_slice_axis is not None:
        offs = np.insert(offs, per_slice_axis, 0, axis=1)
        border[per_slice_axis] = False
    if ndim == 2:
        border = [False] + border
    m = K.as3(mask)
    border = np.array(border)
    if per_slice_axis is not None:
        # runs go along the last axis: move the slice axis first (it then has no steps)
        axis = per_slice_axis + 3 - ndim
        m = np.ascontiguousarray(np.moveaxis(m, axis, 0))
        order = [axis] + [i for i in range(3) if i != axis]
        offs = np.ascontiguousarray(K.offsets3(offs)[:, order])
        border = border[order]
    else:
        offs = K.offsets3(offs)
    runs = K.runs_kernel(1 - m, np.zeros(1, np.bool_), False, K.row_steps(offs))
    out = np.zeros(m.size, np.uint8)
    K.runs_enclosed(runs[0], runs[1], runs[2], runs[4], np.array(m.shape, np.int64), border,
                    out)
    out = out.reshape(m.shape)
    if per_slice_axis is not None:
        out = np.moveaxis(out, 0, axis)
    return out.view(bool).reshape(mask.shape)
