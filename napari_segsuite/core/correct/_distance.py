"""Margin, hollow and smoothing: exact Euclidean distances in physical units.

All distances are centre to centre with the voxel spacing: exact Euclidean distance transforms
with the spacing as anisotropy (the ``edt`` package: Felzenszwalb's separable algorithm,
multi-label, several threads; it agrees with scipy.ndimage.distance_transform_edt to float32
rounding). Only voxels of the array count (the space beyond the array's border is neither inside
nor outside a label). Labels are processed in their bounding box grown by the reach of the
operation, which gives the same result as the whole array. A multi-label transform gives every
voxel its distance to the nearest voxel of another value in one pass, which is the distance to
the outside for every label at once (shrink, hollow, opening).
"""

from __future__ import annotations

import math
import os
from typing import Sequence, Tuple

import numpy as np
from scipy import ndimage as ndi

from . import _kernels
from ._common import bbox, label_boxes

#: relative slack on "distance <= r" for the float32 rounding of the distance transform
_EPS = 1e-6


def _edt(arr: np.ndarray, spacing) -> np.ndarray:
    """Distance of every voxel to the nearest voxel of another value (0 on zero voxels is NOT
    given: callers pass arrays without zeros where zeros would matter); inf when none."""
    import edt

    return edt.edt(np.ascontiguousarray(arr), anisotropy=tuple(float(v) for v in spacing),
                   black_border=False, parallel=os.cpu_count() or 1)


def _reach(r: float, spacing: Sequence[float]) -> Tuple[int, ...]:
    """Voxels per axis within physical distance r."""
    return tuple(int(math.floor(r / s + 1e-9)) for s in spacing)


def _pad(*reaches) -> Tuple[int, ...]:
    return tuple(sum(v) + 1 for v in zip(*reaches))


def _dist_to_zero(mask: np.ndarray, spacing) -> np.ndarray:
    """Distance of every voxel to the nearest False voxel (inf when there is none; 0 on the
    False voxels themselves)."""
    return _edt(mask.view(np.uint8) if mask.dtype == bool else mask, spacing)


def _outside_distance(arr, acting, pad, spacing):
    """(box, distance of every voxel of the box to the nearest voxel of another value) over the
    acting labels' common box; None when none is present."""
    box = bbox(np.isin(arr, acting), pad=pad)
    if box is None:
        return None, None
    sub = arr[box]
    # 0 is "background" to edt (distance 0 there); give it its own non-zero value instead
    work = sub.astype(np.uint32 if int(sub.max(initial=0)) < 2 ** 32 - 1 else np.uint64)
    work[sub == 0] = int(sub.max(initial=0)) + 1
    return box, _edt(work, spacing)


def grow(arr, acting, r: float, spacing) -> np.ndarray:
    """Every voxel not of an acting label within distance <= r of one gets the nearest acting
    label (ties: the acting voxel at the first offset of :func:`_offsets_by_length`)."""
    fast = _grow_fast(arr, acting, r, spacing)
    if fast is not None:
        return fast
    out = arr.copy()
    seeds = np.isin(arr, acting)
    pad = _pad(_reach(r, spacing))
    if len(acting) == 1:
        box = bbox(seeds, pad=pad)
        if box is None:
            return out
        s = seeds[box]
        new = (_dist_to_zero(~s, spacing) <= r * (1 + _EPS)) & ~s
        out[box][new] = acting[0]
        return out
    # several labels: one transform gives every other voxel its distance to the nearest
    # acting voxel; the voxels within r then take the label found at the shortest offset
    box = bbox(seeds, pad=pad)
    if box is None:
        return out
    sub = arr[box]
    s = seeds[box]
    work = np.where(s, sub, 0).astype(np.uint32)
    work[~s] = np.uint32(int(max(acting)) + 1)
    shell = ~s & (_edt(work, spacing) <= r * (1 + _EPS))
    todo = shell
    left = int(todo.sum())
    out_view = out[box]
    for off in _offsets_by_length(r, spacing):
        if left == 0:
            break
        dst = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(off, sub.shape))
        src = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(off, sub.shape))
        hit = todo[dst] & s[src]
        n_hit = int(hit.sum())
        if n_hit:
            out_view[dst][hit] = sub[src][hit]
            todo[dst][hit] = False
            left -= n_hit
    return out


#: use the numba kernels where they apply (False: the distance transforms alone; the tests
#: compare the two)
_FAST = True


def _fast(arr, acting, r, spacing):
    """(3D labels, acting look-up table) for the numba kernels, or None when they do not apply
    (values out of the tables' range, a reach beyond int16)."""
    if not _FAST or arr.size == 0 or arr.dtype == np.uint64 or not acting or \
            not _kernels.lut_ok((min(acting), max(acting))) or max(_reach(r, spacing)) > 30000:
        return None
    return _kernels.as3(arr), _kernels.lut(acting)


#: the most row offsets (dz, dy) of the ball for the row-pair kernels (radius ~4.5 voxels
#: in 3D); larger balls take the separable passes (tests switch between them)
_PAIRS_MAX = 64


def _ball_rows(r, spacing):
    """(squares z, y, x, threshold, row pairs or None) of the ball test in 3D terms; pairs is
    None when the ball is too wide for the row-pair kernels."""
    sp = (1.0,) * (3 - len(spacing)) + tuple(float(s) for s in spacing)
    reach = (0,) * (3 - len(spacing)) + _reach(r, spacing)
    sz2, sy2, sx2 = (_kernels.squares(k, s) for k, s in zip(reach, sp))
    thr = (r * (1 + _EPS)) ** 2
    pairs = None
    if reach[2] < 254 and (2 * reach[0] + 1) * (2 * reach[1] + 1) <= 4 * _PAIRS_MAX:
        pairs = _kernels.row_pairs(sx2, sy2, sz2, thr)
        if len(pairs) > _PAIRS_MAX:
            pairs = None
    return sz2, sy2, sx2, thr, pairs


def _within(a, act, r, spacing):
    """uint8 mask: 1 on the voxels of ``a`` (3D) whose value is in ``act`` and that have a
    voxel of another value within distance r (the ball's test: row pairs or separable)."""
    sz2, sy2, sx2, thr, pairs = _ball_rows(r, spacing)
    mark = np.zeros(a.shape, np.uint8)
    if pairs is not None:
        kx = np.empty(a.shape, np.uint8)
        _kernels.row_dist_other(a, sx2.size - 2, kx)
        _kernels.pairs_other(a, kx, pairs, act, mark)
    else:
        _kernels.within_kernel(a, act, sx2, sy2, sz2, thr, mark)
    return mark


_ZERO = np.array([True, False])   # look-up table of the value 0 alone (binary masks)


def _dilate(mask, r, spacing):
    """uint8 dilation of a 0/1 uint8 3D mask by the ball of radius r (in the array)."""
    pairs = _ball_rows(r, spacing)[4]
    if pairs is None:
        return mask | _within(mask, _ZERO, r, spacing)
    k = np.empty(mask.shape, np.uint8)
    _kernels.row_dist_eq(mask, 1, _reach(r, spacing)[-1], k)
    out = np.empty(mask.shape, np.uint8)
    _kernels.pairs_any(k, pairs, out)
    return out


def _grow_fast(arr, acting, r, spacing):
    """:func:`grow` by the numba kernels, or None (see :func:`_fast`)."""
    fast = _fast(arr, acting, r, spacing)
    if fast is None:
        return None
    a, act = fast
    out = arr.copy()
    seeds = _kernels.member(a, act).view(np.uint8)
    shell = _dilate(seeds, r, spacing) & (seeds ^ 1)
    if len(acting) == 1:
        out[shell.view(bool).reshape(arr.shape)] = acting[0]
        return out
    offs = _kernels.ball(r, spacing)
    if len(offs) > _BALL_MAX:
        return None
    p, d, _, lo, hi = _kernels.pad(a, offs, "edge")
    res = p.copy()
    _kernels.first_hit_kernel(p, act, _kernels.pad(shell, offs, "constant")[0], d, lo, hi, res)
    _kernels.as3(out)[...] = _kernels.crop(res, lo, hi)
    return out


def _near_outside(arr, acting, r, spacing):
    """(copy of arr, acting voxels within r of a voxel of another value, acting voxels) by
    the numba kernel, or None (see :func:`_fast`)."""
    fast = _fast(arr, acting, r, spacing)
    if fast is None:
        return None
    a, act = fast
    mark = _within(a, act, r, spacing)
    inside = _kernels.member(a, act).reshape(arr.shape)
    return arr.copy(), mark.view(bool).reshape(arr.shape), inside


def _open_close_fast(arr, acting, r, spacing, opening):
    """:func:`open_close` by the numba kernels (None: see :func:`_fast`): opening keeps
    the acting voxels within r of a core voxel (one farther than r from every voxel of another
    value); closing adds to each label the voxels farther than r from every voxel outside its
    dilation by r."""
    fast = _fast(arr, acting, r, spacing)
    if fast is None:
        return None
    a, act = fast
    out = arr.copy()
    if opening:
        core = np.empty(a.shape, np.uint8)
        _kernels.core_kernel(a, act, _within(a, act, r, spacing), core)
        _kernels.clear_where(a, act, _dilate(core, r, spacing), _kernels.as3(out))
        return out
    reach = _reach(r, spacing)
    pairs = _ball_rows(r, spacing)[4]
    if pairs is not None:
        # per label: grow (row distances to the label, then any row pair in reach), then the
        # grown voxels with no non-grown voxel in reach join the label, written in place
        rx = reach[-1]
        for lab, box in zip(acting, label_boxes(arr, acting, pad=_pad(reach, reach))):
            if box is None:
                continue
            sub = _kernels.as3(arr[box])
            k = np.empty(sub.shape, np.uint8)
            grown = np.empty(sub.shape, np.uint8)
            _kernels.row_dist_eq(sub, lab, rx, k)
            _kernels.pairs_any(k, pairs, grown)
            _kernels.row_dist_eq(grown, 0, rx, k)
            _kernels.pairs_any(k, pairs, grown)       # now: a non-grown voxel in reach
            dst = out[box]
            dst = dst.view(np.uint8) if dst.dtype == bool else dst
            _kernels.write_where_zero(grown, sub, lab, dst if dst.ndim == 3 else dst[None])
        return out
    for lab in acting:
        m = arr == lab
        box = bbox(m, pad=_pad(reach, reach))
        if box is None:
            continue
        mask = np.ascontiguousarray(m[box])
        grown = _dilate(_kernels.as3(mask), r, spacing)
        # grown voxels with a non-grown voxel within r are eroded away
        closed = ((grown != 0) & (_within(grown, np.array([False, True]), r, spacing) == 0))
        out[box][closed.reshape(mask.shape) & ~mask] = lab
    return out


#: the most ball offsets for growing several labels at once (each voxel of the grown shell
#: looks for its nearest label offset by offset: radius ~4.5 voxels in 3D)
_BALL_MAX = 400


def _offsets_by_length(r, spacing):
    """Voxel offsets of physical length in (0, r], shortest first (ties: lexicographic)."""
    reach = _reach(r, spacing)
    grids = np.meshgrid(*[np.arange(-k, k + 1) for k in reach], indexing="ij")
    offs = np.stack([g.ravel() for g in grids], 1)
    length = np.sqrt(((offs * np.asarray(spacing)) ** 2).sum(1))
    keep = (length > 0) & (length <= r * (1 + _EPS))
    offs, length = offs[keep], length[keep]
    return offs[np.lexsort(tuple(offs.T[::-1]) + (length,))]


def shrink(arr, acting, r: float, spacing) -> np.ndarray:
    """Each acting label keeps the voxels farther than r from the nearest voxel outside it."""
    fast = _near_outside(arr, acting, r, spacing)
    if fast is not None:
        out, mark, _ = fast
        out[mark] = 0
        return out
    out = arr.copy()
    box, d = _outside_distance(arr, acting, _pad(_reach(r, spacing)), spacing)
    if box is None:
        return out
    sub = arr[box]
    out[box][np.isin(sub, acting) & (d <= r * (1 + _EPS))] = 0
    return out


def hollow(arr, acting, t: float, spacing) -> np.ndarray:
    """Each acting label keeps the voxels within distance <= t of the nearest voxel outside
    it (the label minus its shrink by t)."""
    fast = _near_outside(arr, acting, t, spacing)
    if fast is not None:
        out, mark, act = fast
        out[act & ~mark] = 0
        return out
    out = arr.copy()
    box, d = _outside_distance(arr, acting, _pad(_reach(t, spacing)), spacing)
    if box is None:
        return out
    sub = arr[box]
    out[box][np.isin(sub, acting) & (d > t * (1 + _EPS))] = 0
    return out


def open_close(arr, acting, r: float, spacing, opening: bool) -> np.ndarray:
    """Morphological opening / closing of each acting label by the ball of radius r."""
    fast = _open_close_fast(arr, acting, r, spacing, opening)
    if fast is not None:
        return fast
    out = arr.copy()
    reach = _reach(r, spacing)
    lim = r * (1 + _EPS)
    if opening:
        # erosion of every label at once; then a voxel of L is kept when a core voxel lies
        # within r: such a core voxel can only be L's (a core voxel of another label has only
        # that label within r)
        box, d = _outside_distance(arr, acting, _pad(reach, reach), spacing)
        if box is None:
            return out
        sub = arr[box]
        act = np.isin(sub, acting)
        core = act & (d > lim)
        near = _dist_to_zero(~core, spacing) <= lim
        out[box][act & ~near] = 0
        return out
    for lab in acting:
        m = arr == lab
        box = bbox(m, pad=_pad(reach, reach))
        if box is None:
            continue
        mask = m[box]
        grown = _dist_to_zero(~mask, spacing) <= lim
        closed = _dist_to_zero(grown, spacing) > lim
        out[box][closed & ~mask] = lab
    return out


def median(arr, acting, r: float, spacing) -> np.ndarray:
    """Binary median of each acting label over a box of half-size round(r / spacing) voxels
    per axis (edges replicated): a voxel belongs to the label when more than half the box
    does."""
    half = tuple(int(round(r / s)) for s in spacing)
    size = tuple(2 * h + 1 for h in half)
    out = arr.copy()
    if int(np.prod(size)) < 2 ** 31:
        h3 = (0,) * (3 - len(half)) + half
        if _FAST and arr.dtype != np.uint64 and acting and \
                _kernels.lut_ok((min(acting), max(acting))):
            # per label, counts and writes plane by plane in its box (the same counts)
            boxes = label_boxes(arr, acting, pad=tuple(h + 1 for h in half))
            for lab, box in zip(acting, boxes):
                if box is None:
                    continue
                dst = out[box]
                dst = dst.view(np.uint8) if dst.dtype == bool else dst
                _kernels.median_kernel(_kernels.as3(arr[box]), lab, *h3,
                                       int(np.prod(size)) // 2,
                                       dst if dst.ndim == 3 else dst[None])
            return out
        for lab in acting:
            m = arr == lab
            box = bbox(m, pad=tuple(h + 1 for h in half))
            if box is None:
                continue
            mask = m[box]
            count = _kernels.box_count_kernel(_kernels.as3(mask), *h3).reshape(mask.shape)
            res = count > int(np.prod(size)) // 2   # count > size / 2, size odd
            view = out[box]
            view[mask & ~res] = 0
            view[res & ~mask] = lab
        return out
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
    if _FAST and acting and arr.dtype != np.uint64 and \
            _kernels.lut_ok((min(acting), max(acting))):
        return _joint_fast(arr, acting, sigma, pad)
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


def _joint_fast(arr, acting, sigma, pad):
    """:func:`joint` in one numba pass over the planes (the same result to the bit: the same
    boxes, Gaussians, sums and comparisons, see ``_kernels.joint_kernel``)."""
    from scipy.ndimage._filters import _gaussian_kernel1d

    a3 = _kernels.as3(arr)
    lead = (slice(0, 1),) * (3 - arr.ndim)
    labels, boxes = [], []
    for lab in acting:
        box = bbox(arr == lab, pad=pad)
        if box is None:
            continue
        labels.append(lab)
        boxes.append([v for s in lead + box for v in (s.start, s.stop)])
    out = arr.copy()
    if not labels:
        return out
    ws = [np.ones(1)] * (3 - arr.ndim) + [
        np.ascontiguousarray(_gaussian_kernel1d(sg, 0, int(4.0 * float(sg) + 0.5))[::-1])
        for sg in sigma]
    _kernels.joint_kernel(a3, np.array(labels, np.int64), np.array(boxes, np.int64), *ws,
                          _kernels.lut(acting), _kernels.as3(out))
    return out
