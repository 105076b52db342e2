"""Logical operations between labels and instance proofreading (merge, split, delete, relabel)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..base.errors import InputError
from ._common import result_dtype


def logical(arr, op, a, region_b) -> np.ndarray:
    out = arr.copy()
    in_a = arr == a
    if op == "copy":
        out[in_a & ~region_b] = 0
        out[region_b] = a
    elif op == "union":
        out[region_b] = a
    elif op == "intersect":
        out[in_a & ~region_b] = 0
    elif op == "subtract":
        out[in_a & region_b] = 0
    elif op == "invert":
        out[in_a] = 0
        out[~in_a] = a
    elif op == "clear":
        out[in_a] = 0
    return out


def replace(arr, values, new, out) -> None:
    """out[arr in values] = new (out: a copy of arr)."""
    from . import _kernels as K

    vals = [int(v) for v in values]
    if arr.dtype != bool and vals and K.lut_ok((min(vals), max(vals))) and \
            out.flags.c_contiguous:
        K.where_kernel(K.as3(arr).reshape(-1), K.lut(vals), out.dtype.type(new),
                       out.reshape(-1))
    else:
        out[np.isin(arr, vals)] = new


def _points(points, arr, what="points"):
    try:
        pts = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be an N x {arr.ndim} array of coordinates") from None
    if pts.ndim != 2 or pts.shape[1] != arr.ndim:
        raise InputError(f"{what} must be an N x {arr.ndim} array of coordinates, got shape "
                         f"{pts.shape}")
    idx = np.round(pts).astype(np.int64)
    if (idx < 0).any() or (idx >= np.array(arr.shape)).any():
        raise InputError(f"{what} lie outside the labels (shape {arr.shape})")
    return pts, idx


def _pieces_to_labels(arr, label, pieces, n, order_first=None):
    """Write pieces 1..n of ``label`` back: piece ``order_first`` (or the largest) keeps
    ``label``, the others get max+1, ... by decreasing size."""
    sizes = np.bincount(pieces.ravel(), minlength=n + 1)[1:]
    ids = list(np.argsort(-sizes, kind="stable") + 1)
    if order_first is not None:
        ids.remove(order_first)
        ids.insert(0, order_first)
    top = int(arr.max())
    out = arr.astype(result_dtype(arr, top + n - 1), copy=True)
    for k, pid in enumerate(ids[1:]):
        out[pieces == pid] = top + 1 + k
    return out


def split_by_line(arr, label, points) -> np.ndarray:
    from skimage.draw import line

    pts, idx = _points(points, arr, "line points")
    if len(idx) < 2:
        raise InputError("a split line needs at least two points")
    mask = arr == label
    cut = np.zeros(arr.shape, bool)
    if arr.ndim == 2:
        for p, q in zip(idx[:-1], idx[1:]):
            rr, cc = line(p[0], p[1], q[0], q[1])
            cut[rr, cc] = True
    else:
        flat = [ax for ax in range(3) if np.all(idx[:, ax] == idx[0, ax])]
        if not flat:
            raise InputError("the split line's points must lie in one slice of the volume")
        ax = flat[0]
        plane = np.zeros([n for i, n in enumerate(arr.shape) if i != ax], bool)
        p2 = np.delete(idx, ax, axis=1)
        for p, q in zip(p2[:-1], p2[1:]):
            rr, cc = line(p[0], p[1], q[0], q[1])
            plane[rr, cc] = True
        cut = np.broadcast_to(np.expand_dims(plane, ax), arr.shape)
    # the rasterised line is 8-connected, so it separates face-connected pieces
    rest = mask & ~cut
    pieces, n = ndi.label(rest)
    if n < 2:
        raise InputError(f"the line does not cut label {label} into pieces; draw it right "
                         "across the label")
    # voxels under the line join their nearest piece
    under = mask & cut
    if under.any():
        _, near = ndi.distance_transform_edt(pieces == 0, return_indices=True)
        pieces[under] = pieces[tuple(i[under] for i in near)]
    return _pieces_to_labels(arr, label, pieces, n)


def split_by_seeds(arr, label, points, image, spacing) -> np.ndarray:
    from skimage.segmentation import watershed

    pts, idx = _points(points, arr, "seed points")
    if len(idx) < 2:
        raise InputError("splitting by seeds needs at least two seed points")
    mask = arr == label
    inside = mask[tuple(idx.T)]
    if not inside.all():
        raise InputError(f"every seed point must lie inside label {label}")
    markers = np.zeros(arr.shape, np.int32)
    for k, p in enumerate(idx):
        markers[tuple(p)] = k + 1
    if len(np.unique(markers[markers > 0])) < len(idx):
        raise InputError("two seed points fall on the same voxel")
    compactness = 0.0
    if image is None:
        # touching objects: split at the neck of the distance map; a compact flood (half a
        # distance unit per voxel from the seed) keeps an off-centre click from losing its
        # object to the other seed's deeper basin
        land = -ndi.distance_transform_edt(mask, sampling=spacing)
        compactness = 0.5 * min(spacing)
    else:
        img = np.asarray(image, dtype=np.float64)
        if img.ndim == arr.ndim + 1:
            grads = [ndi.gaussian_gradient_magnitude(img[..., c], 1.0) for c in
                     range(img.shape[-1])]
            land = np.sqrt(sum(g ** 2 for g in grads))
        else:
            land = ndi.gaussian_gradient_magnitude(img, 1.0)
    pieces = watershed(land, markers, mask=mask, compactness=compactness)
    return _pieces_to_labels(arr, label, pieces, len(idx), order_first=1)


def relabel(arr, locked) -> np.ndarray:
    from . import _kernels as K
    from ._common import present_labels

    vals = present_labels(arr)
    free = [v for v in vals if v not in locked]
    taken = set(v for v in vals if v in locked)
    mapping = {}
    nxt = 1
    for v in free:
        while nxt in taken:
            nxt += 1
        mapping[v] = nxt
        nxt += 1
    out = arr.copy()
    if not mapping:
        return out
    src = np.array(list(mapping), np.int64)
    dst = np.array([mapping[v] for v in src], np.int64)
    if arr.dtype != bool and K.lut_ok((vals[0], vals[-1])):
        table = np.arange(vals[-1] + 1, dtype=np.int64)
        table[src] = dst
        K.map_kernel(K.as3(arr).reshape(-1), table.astype(arr.dtype), out.reshape(-1))
        return out
    sel = np.isin(arr, src)
    out[sel] = dst[np.searchsorted(src, arr[sel])].astype(arr.dtype)
    return out
