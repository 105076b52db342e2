"""Fill between slices: shape interpolation and image-guided growing.

Annotated slices (along ``axis``) are those holding any acting label. Between two consecutive
annotated slices ``k0 < k1`` every slice ``k`` is filled; annotated slices are never touched.

Shape mode interpolates each label's signed distance map (physical units, in-plane spacing)
between the two annotated slices: ``s_k = (1 - t) s_k0 + t s_k1`` with ``t = (k - k0) / (k1 - k0)``,
and the label covers ``s_k < 0`` (at t = 0 and 1 this is exactly the annotated shape). This is the
shape-based interpolation of Raya & Udupa / Herman et al., which is what morphological contour
interpolation (Albu et al. 2008; ITK's MorphologicalContourInterpolator, 3D Slicer) approximates
with conditional dilations: holes stay holes, a label that splits or merges between the slices
changes topology half way, several labels are interpolated at once and a voxel claimed by two
goes to the one it lies deepest inside (no overlaps). A label present in only one of the two
slices shrinks towards its deepest point and ends half way.

Image-guided mode: every voxel of the annotated slices becomes a seed (acting labels with their
value, everything else as a background seed) and the GrowCut engine grows the labels into the
slices between them along the image; annotated slices, being seeds, never change.
"""

from __future__ import annotations

from typing import List

import numpy as np
from scipy import ndimage as ndi

from ..base.progress import Progress
from ._common import bbox


def annotated_slices(arr: np.ndarray, acting: List[int], axis: int) -> np.ndarray:
    hit = np.isin(arr, acting)
    other = tuple(a for a in range(arr.ndim) if a != axis)
    return np.flatnonzero(hit.any(axis=other))


def _sdf(mask: np.ndarray, spacing) -> np.ndarray:
    """Signed distance: negative inside (minus the distance to the nearest outside voxel),
    positive outside (the distance to the nearest inside voxel)."""
    if not mask.any():
        return None
    out = ndi.distance_transform_edt(~mask, sampling=spacing)
    if (~mask).any():
        out -= ndi.distance_transform_edt(mask, sampling=spacing)
    else:
        out -= np.inf
    return out


def shape_steps(arr, acting, axis, spacing):
    """Job generator: shape interpolation; returns the filled array (a new array)."""
    out = arr.copy()
    moved = np.moveaxis(arr, axis, 0)
    dst = np.moveaxis(out, axis, 0)
    plane_sp = tuple(s for i, s in enumerate(spacing) if i != axis)
    ks = annotated_slices(arr, acting, axis)
    gaps = [(int(a), int(b)) for a, b in zip(ks[:-1], ks[1:]) if b - a > 1]
    for g, (k0, k1) in enumerate(gaps):
        yield Progress(g, len(gaps), f"filling slices {k0 + 1}..{k1 - 1}")
        s0, s1 = moved[k0], moved[k1]
        n = k1 - k0 - 1
        best = np.full((n,) + s0.shape, np.inf, np.float32)
        lab_of = np.zeros((n,) + s0.shape, np.int64)
        # s_k scaled by the gap, (k1 - k) s_k0 + (k - k0) s_k1: integer weights keep the result
        # the same when the slice order is reversed
        w1 = np.arange(1, n + 1, dtype=np.float32)
        for lab in acting:
            m0, m1 = s0 == lab, s1 == lab
            box = bbox(m0 | m1, pad=1)
            if box is None:
                continue
            d0, d1 = _sdf(m0[box], plane_sp), _sdf(m1[box], plane_sp)
            if d0 is None:   # the label ends here: shrink towards its deepest point
                d0 = np.full_like(d1, -float(d1[np.isfinite(d1)].min()) if np.isfinite(d1).any()
                                  else 1.0)
            if d1 is None:
                d1 = np.full_like(d0, -float(d0[np.isfinite(d0)].min()) if np.isfinite(d0).any()
                                  else 1.0)
            d0 = np.maximum(d0, -1e30).astype(np.float32)
            d1 = np.maximum(d1, -1e30).astype(np.float32)
            tt = w1.reshape((-1,) + (1,) * d0.ndim)
            s = (np.float32(k1 - k0) - tt) * d0[None] + tt * d1[None]
            full = (slice(None),) + box
            b = best[full]
            better = (s < 0) & (s < b)
            b[better] = s[better]
            lab_of[full][better] = lab
        fill = lab_of != 0
        block = dst[k0 + 1:k1]
        block[fill] = lab_of[fill].astype(arr.dtype)
    yield Progress(len(gaps), len(gaps), "filled")
    return out


def guided_steps(arr, acting, axis, spacing, image, channel_axis, protect_overwrite: bool):
    """Job generator: image-guided fill with the GrowCut engine; returns the filled array."""
    from ..growcut import growcut_steps

    out = arr.copy()
    ks = annotated_slices(arr, acting, axis)
    if ks.size < 2 or not np.any(np.diff(ks) > 1):
        yield Progress(1, 1, "nothing to fill")
        return out
    lo, hi = int(ks[0]), int(ks[-1])
    sl = [slice(None)] * arr.ndim
    sl[axis] = slice(lo, hi + 1)
    sl = tuple(sl)
    sub = arr[sl]
    acting_arr = np.asarray(acting, np.int64)
    # seeds: codes 1..n for the acting labels, n+1 for the background of annotated slices and
    # (unless overwriting) for other labels' voxels, which are not the fill's to take
    lut_vals = acting_arr
    code = np.zeros(sub.shape, np.int32)
    is_act = np.isin(sub, acting_arr)
    code[is_act] = np.searchsorted(lut_vals, sub[is_act]) + 1
    bg = len(acting) + 1
    ann = np.zeros(sub.shape[axis], bool)
    ann[ks - lo] = True
    shape = [1] * sub.ndim
    shape[axis] = -1
    ann_b = ann.reshape(shape)
    code[ann_b & ~is_act] = bg
    if not protect_overwrite:
        code[~ann_b & (sub != 0) & ~is_act] = bg
    img = np.asarray(image)
    img_sub = img[sl] if channel_axis is None else img[sl + (slice(None),)]
    present = np.unique(code[code != 0])
    if present.size < 2:   # one label everywhere: it fills the gaps
        grown = np.where(code == 0, present[0] if present.size else 0, code)
    else:
        res = yield from growcut_steps(img_sub, code, spacing=spacing, channel_axis=channel_axis,
                                       previews=False)
        grown = res.labels
    vals = np.concatenate([[0], lut_vals, [0]])
    fill = ~ann_b & (code == 0)
    fill = np.broadcast_to(fill, sub.shape) & (grown > 0)
    view = out[sl]
    view[fill] = vals[grown[fill]].astype(arr.dtype)
    return out
