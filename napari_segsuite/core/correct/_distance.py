"""Margin, hollow and smoothing: exact Euclidean distances in physical units.

All distances are centre to centre with the voxel spacing (scipy's exact Euclidean distance
transform with ``sampling=spacing``); only voxels of the array count (the space beyond the
array's border is neither inside nor outside a label). Each label is processed in its bounding
box grown by the reach of the operation, which gives the same result as the whole array.
"""

from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np
from scipy import ndimage as ndi

from ._common import bbox

#: relative slack on "distance <= r" for the rounding of the distance transform
_EPS = 1e-9


def _reach(r: float, spacing: Sequence[float]) -> Tuple[int, ...]:
    """Voxels per axis within physical distance r."""
    return tuple(int(math.floor(r / s + 1e-9)) for s in spacing)


def _pad(*reaches) -> Tuple[int, ...]:
    return tuple(sum(v) + 1 for v in zip(*reaches))


def _dist_to_zero(mask: np.ndarray, spacing) -> np.ndarray:
    """Distance of every voxel to the nearest False voxel (inf when there is none)."""
    if mask.all():
        return np.full(mask.shape, np.inf)
    return ndi.distance_transform_edt(mask, sampling=spacing)


def grow(arr, acting, r: float, spacing) -> np.ndarray:
    """Every voxel not of an acting label within distance <= r of one gets the nearest acting
    label (ties: whichever the distance transform finds first)."""
    out = arr.copy()
    seeds = np.isin(arr, acting)
    box = bbox(seeds, pad=_pad(_reach(r, spacing)))
    if box is None:
        return out
    s = seeds[box]
    if s.all():
        return out
    d, idx = ndi.distance_transform_edt(~s, sampling=spacing, return_indices=True)
    new = (d <= r * (1 + _EPS)) & ~s
    sub = arr[box]
    view = out[box]
    view[new] = sub[tuple(i[new] for i in idx)]
    return out


def inner_distance(arr, lab, pad, spacing):
    """(box, mask, distance to the nearest voxel not of ``lab``) in ``lab``'s padded box."""
    m = arr == lab
    box = bbox(m, pad=pad)
    if box is None:
        return None, None, None
    mask = m[box]
    return box, mask, _dist_to_zero(mask, spacing)


def shrink(arr, acting, r: float, spacing) -> np.ndarray:
    """Each acting label keeps the voxels farther than r from the nearest voxel outside it."""
    out = arr.copy()
    pad = _pad(_reach(r, spacing))
    for lab in acting:
        box, mask, d = inner_distance(arr, lab, pad, spacing)
        if box is None:
            continue
        view = out[box]
        view[mask & (d <= r * (1 + _EPS))] = 0
    return out


def hollow(arr, acting, t: float, spacing) -> np.ndarray:
    """Each acting label keeps the voxels within distance <= t of the nearest voxel outside
    it (the label minus its shrink by t)."""
    out = arr.copy()
    pad = _pad(_reach(t, spacing))
    for lab in acting:
        box, mask, d = inner_distance(arr, lab, pad, spacing)
        if box is None:
            continue
        view = out[box]
        view[mask & (d > t * (1 + _EPS))] = 0
    return out


def _open_close(mask, r, spacing, opening: bool):
    if opening:
        core = _dist_to_zero(mask, spacing) > r * (1 + _EPS)          # erosion by the ball
        return _dist_to_zero(~core, spacing) <= r * (1 + _EPS)        # dilation of the core
    grown = _dist_to_zero(~mask, spacing) <= r * (1 + _EPS)
    return _dist_to_zero(grown, spacing) > r * (1 + _EPS)


def open_close(arr, acting, r: float, spacing, opening: bool) -> np.ndarray:
    """Morphological opening / closing of each acting label by the ball of radius r."""
    out = arr.copy()
    reach = _reach(r, spacing)
    pad = _pad(reach, reach)
    for lab in acting:
        m = arr == lab
        box = bbox(m, pad=pad)
        if box is None:
            continue
        mask = m[box]
        res = _open_close(mask, r, spacing, opening)
        view = out[box]
        if opening:
            view[mask & ~res] = 0
        else:
            view[res & ~mask] = lab
    return out


def median(arr, acting, r: float, spacing) -> np.ndarray:
    """Binary median of each acting label over a box of half-size round(r / spacing) voxels
    per axis (edges replicated): a voxel belongs to the label when more than half the box
    does."""
    half = tuple(int(round(r / s)) for s in spacing)
    size = tuple(2 * h + 1 for h in half)
    out = arr.copy()
    pad = tuple(h + 1 for h in half)
    for lab in acting:
        m = arr == lab
        box = bbox(m, pad=pad)
        if box is None:
            continue
        mask = m[box]
        frac = ndi.uniform_filter(mask.astype(np.float64), size=size, mode="nearest")
        res = frac > 0.5
        view = out[box]
        view[mask & ~res] = 0
        view[res & ~mask] = lab
    return out


def joint(arr, acting, r: float, spacing) -> np.ndarray:
    """Joint smoothing: each acting label's indicator is smoothed by a Gaussian of sigma r
    (physical units) and every voxel takes the strongest of them or of the rest (background and
    the other labels together), so neighbours keep no gaps or overlaps between them."""
    sigma = tuple(r / s for s in spacing)
    pad = tuple(int(math.ceil(4 * sg)) + 1 for sg in sigma)
    total = np.zeros(arr.shape, np.float32)
    best = np.zeros(arr.shape, np.float32)
    best_lab = np.zeros(arr.shape, np.int64)
    boxes = []
    for lab in acting:
        m = arr == lab
        box = bbox(m, pad=pad)
        if box is None:
            continue
        sm = ndi.gaussian_filter(m[box].astype(np.float32), sigma, mode="nearest")
        total[box] += sm
        bv = best[box]
        better = sm > bv
        bv[better] = sm[better]
        best_lab[box][better] = lab
        boxes.append(box)
    out = arr.copy()
    rest = 1.0 - total
    win = best > rest
    # voxels where a label wins take it; voxels of an acting label where the rest wins become
    # the background
    out[win] = best_lab[win].astype(arr.dtype)
    lost = ~win & np.isin(arr, acting)
    out[lost] = 0
    return out
