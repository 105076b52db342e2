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

Image-guided mode (see :func:`guided_steps`): an appearance model learnt from the annotated
slices (gradient-boosted trees on multi-scale image features) seeds the voxels it is sure of,
next to every voxel of the annotated slices (acting labels with their value, everything else as
a background seed); the GrowCut engine grows the seeds along the image into the uncertain rest,
one gap between two annotated slices at a time; annotated slices, being seeds, never change.
On the MNI152 T1 (labels on every 10th slice) this lifts Dice on the filled slices from
0.88-0.90 (CSF) and 0.96 (GM, WM) with the annotated slices as the only seeds to 0.943-0.946 and
0.978 (benchmarks/RESULTS.md).
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


#: scales (in voxels along the finest axis) of the features the intensity model learns from
GUIDED_SIGMAS = (0.7, 1.0, 1.6, 3.5)
#: posterior a voxel's most likely label needs for the model to seed it
GUIDED_CONFIDENCE = 0.7
#: annotated voxels the model is trained on (a random subset when there are more)
GUIDED_TRAIN = 100_000
#: boosting iterations of the model (fitted in chunks of GUIDED_CHUNK, yielding in between)
GUIDED_ITER, GUIDED_CHUNK = 20, 1
#: voxels the model labels between two yields
GUIDED_BATCH = 100_000
#: the model learns from at most GUIDED_TRAIN voxels of the annotated slices; when there are
#: more, background voxels farther than GUIDED_BG_REACH voxels (of the finest axis, in plane)
#: from every acting label make at most GUIDED_FAR_SHARE of them, the rest are drawn from the
#: labels and the background near them. The far background (on MNI152 60 % of the annotated
#: voxels, outside the head) teaches little about the labels' edges, and in large numbers it
#: costs the labels' voxels both samples and the trees' histogram bins (which follow the
#: samples' quantiles); a few of them keep the model from mistaking it for a label.
#: GUIDED_BG_REACH = None: a plain random subset of all annotated voxels (as before issue 13's
#: CSF change)
GUIDED_FAR_SHARE = 0.1
GUIDED_BG_REACH = 3.0


def _channels(img, channel_axis):
    """The image's channels, each scaled to its 1st-99th percentile range (float32)."""
    chans = [img] if channel_axis is None else [img[..., c] for c in range(img.shape[-1])]
    out = []
    for c in chans:
        c = np.asarray(c, np.float32)
        lo, hi = np.percentile(c, [1, 99]) if c.size else (0.0, 1.0)
        out.append((c - lo) / (hi - lo if hi > lo else 1.0))
    return out


def _feature_steps(img, channel_axis, spacing):
    """Job generator: per-voxel features (float16, features first): each channel, and at each of
    GUIDED_SIGMAS its Gaussian smoothing and that smoothing's Laplacian and gradient magnitude
    (the usual pixel-classification set, as ilastik's), sigmas scaled per axis by the spacing."""
    chans = _channels(img, channel_axis)
    fine = min(spacing)
    n = len(chans) * (1 + 3 * len(GUIDED_SIGMAS))
    feats = np.empty((n,) + chans[0].shape, np.float16)
    i = 0
    for c in chans:
        feats[i] = c
        i += 1
        for s in GUIDED_SIGMAS:
            sig = tuple(s * fine / sp for sp in spacing)
            # scipy's gaussian_filter one axis at a time (the same passes, the same bits), a
            # yield after each so that Cancel is not kept waiting by a whole 3D filter
            smooth, src = np.empty_like(c), c
            for ax in range(c.ndim):
                yield Progress(i, n, "image features")
                ndi.gaussian_filter1d(src, sig[ax], axis=ax, output=smooth)
                src = smooth
            feats[i] = smooth
            # Laplacian and gradient magnitude of the smoothed image by finite differences (in
            # voxels; 3-4x cheaper than scipy's gaussian_laplace/gaussian_gradient_magnitude)
            yield Progress(i + 1, n, "image features")
            feats[i + 1] = ndi.laplace(smooth)
            grad = np.zeros_like(smooth)
            for ax in range(smooth.ndim):
                if smooth.shape[ax] > 1:
                    yield Progress(i + 2, n, "image features")
                    grad += np.gradient(smooth, axis=ax) ** 2
            feats[i + 2] = np.sqrt(grad)
            i += 3
    return feats


def _threads():
    """scikit-learn's OpenMP threads limited to the idle cores (on busy cores its threads spin:
    measured 5x slower fitting with 2 threads than with 1 at load 9 on 2 cores)."""
    from threadpoolctl import threadpool_limits

    from ..base.threads import auto_threads

    return threadpool_limits(auto_threads())


def _fit_steps(x, y):
    """Job generator: the intensity model, gradient-boosted trees (scikit-learn's
    HistGradientBoostingClassifier) fitted a few iterations at a time; returns it."""
    import importlib

    from ..base.progress import in_background

    # the first import takes most of a second: in a thread, so that Cancel is answered meanwhile
    yield from in_background(importlib.import_module, "sklearn.ensemble", done=0,
                             total=GUIDED_ITER, message="learning the labels' appearance")
    from sklearn.ensemble import HistGradientBoostingClassifier

    clf = HistGradientBoostingClassifier(max_iter=GUIDED_CHUNK, early_stopping=False,
                                         warm_start=True, random_state=0)
    for it in range(GUIDED_CHUNK, GUIDED_ITER + 1, GUIDED_CHUNK):
        yield Progress(it - GUIDED_CHUNK, GUIDED_ITER, "learning the labels' appearance")
        clf.max_iter = it
        with _threads():
            clf.fit(x, y)
    return clf


def _predict_steps(clf, feats):
    """Job generator: (most likely code, whether its posterior reaches GUIDED_CONFIDENCE) per
    voxel of ``feats`` (features first), GUIDED_BATCH voxels at a time."""
    flat = feats.reshape(feats.shape[0], -1)
    best = np.empty(flat.shape[1], clf.classes_.dtype)
    sure = np.empty(flat.shape[1], bool)
    for a in range(0, flat.shape[1], GUIDED_BATCH):
        yield Progress(a, flat.shape[1], "labelling voxels by appearance")
        with _threads():
            proba = clf.predict_proba(flat[:, a:a + GUIDED_BATCH].T.astype(np.float32))
        best[a:a + GUIDED_BATCH] = clf.classes_[np.argmax(proba, axis=1)]
        sure[a:a + GUIDED_BATCH] = proba.max(axis=1) >= GUIDED_CONFIDENCE
    return best.reshape(feats.shape[1:]), sure.reshape(feats.shape[1:])


def _training_voxels(codes, bg, spacing, rng):
    """Job generator: flat indices into ``codes`` (the annotated slices' codes, slices first) of
    the (at most GUIDED_TRAIN) voxels the model learns from, see GUIDED_FAR_SHARE; every voxel
    when there are no more than GUIDED_TRAIN."""
    if GUIDED_BG_REACH is None or codes.size <= GUIDED_TRAIN:
        return rng.permutation(codes.size)[:GUIDED_TRAIN]
    reach = GUIDED_BG_REACH * min(spacing)
    near = codes != bg
    for i in range(codes.shape[0]):
        yield Progress(i, codes.shape[0], "choosing the voxels to learn from")
        lab = codes[i] != bg
        if lab.any():
            near[i] |= ndi.distance_transform_edt(~lab, sampling=spacing) <= reach
    near_i, far_i = np.flatnonzero(near), np.flatnonzero(~near)
    n_far = min(int(GUIDED_TRAIN * GUIDED_FAR_SHARE), far_i.size)
    return np.concatenate([rng.permutation(near_i)[:GUIDED_TRAIN - n_far],
                           rng.permutation(far_i)[:n_far]])


def _near(plane: np.ndarray, codes, reach: float, spacing) -> dict:
    """{code: in-plane voxels within ``reach`` (physical) of that code in ``plane``}."""
    out = {}
    for c in codes:
        m = plane == c
        if m.any():
            out[c] = ndi.distance_transform_edt(~m, sampling=spacing) <= reach
    return out


def guided_steps(arr, acting, axis, spacing, image, channel_axis, protect_overwrite: bool):
    """Job generator: image-guided fill; returns the filled array.

    1. An intensity model learns each acting label's appearance (and the rest's) from the
       annotated slices: gradient-boosted trees on multi-scale image features, trained on at
       most GUIDED_TRAIN of their voxels, few of them far background (GUIDED_FAR_SHARE).
    2. Each gap between two annotated slices is solved on its own slab: the two annotated slices
       are seeds, and so is every voxel between them whose most likely label has a posterior of
       at least GUIDED_CONFIDENCE, if that label lies within the gap's length (physical, in
       plane) of where it is drawn on either annotated slice; the GrowCut engine grows the
       seeds along the image into the uncertain rest. Annotated slices, being seeds, never
       change; other labels' voxels in a gap (unless overwriting) are background seeds.
    """
    from ..growcut import growcut_steps

    out = arr.copy()
    ks = annotated_slices(arr, acting, axis)
    if ks.size < 2 or not np.any(np.diff(ks) > 1):
        yield Progress(1, 1, "nothing to fill")
        return out
    lo, hi = int(ks[0]), int(ks[-1])
    # everything along the fill axis first
    sub = np.moveaxis(arr, axis, 0)[lo:hi + 1]
    img = np.asarray(image)
    img_sub = np.moveaxis(img, axis, 0)[lo:hi + 1]
    sp = (spacing[axis],) + tuple(s for i, s in enumerate(spacing) if i != axis)
    plane_sp = sp[1:]
    acting_arr = np.asarray(acting, np.int64)
    # codes 1..n for the acting labels, n+1 for the rest of the annotated slices and (unless
    # overwriting) for other labels' voxels, which are not the fill's to take
    code = np.zeros(sub.shape, np.int32)
    is_act = np.isin(sub, acting_arr)
    code[is_act] = np.searchsorted(acting_arr, sub[is_act]) + 1
    bg = len(acting) + 1
    ann = np.zeros(sub.shape[0], bool)
    ann[ks - lo] = True
    code[ann] = np.where(code[ann] == 0, bg, code[ann])
    others = ~ann[(slice(None),) + (None,) * (sub.ndim - 1)] & (sub != 0) & ~is_act
    if not protect_overwrite:
        code[others] = bg
    present = np.unique(code[ann])
    clf = feats = None
    if present.size >= 2:
        feats = yield from _feature_steps(img_sub, channel_axis, sp)
        rows = np.flatnonzero(ann)
        y = code[rows].ravel()
        pick = yield from _training_voxels(code[rows], bg, plane_sp, np.random.default_rng(0))
        yield Progress(0, GUIDED_ITER, "learning the labels' appearance")
        x = feats[:, rows].reshape(feats.shape[0], -1)[:, pick].T.astype(np.float32)
        clf = yield from _fit_steps(x, y[pick])
        del x
    gaps = [(int(a), int(b)) for a, b in zip(ks[:-1] - lo, ks[1:] - lo) if b - a > 1]
    chan = None if channel_axis is None else -1
    vals = np.concatenate([[0], acting_arr, [0]])
    dst = np.moveaxis(out, axis, 0)[lo:hi + 1]
    for g, (k0, k1) in enumerate(gaps):
        yield Progress(g, len(gaps), f"filling slices {lo + k0 + 1}..{lo + k1 - 1}")
        seeds = code[k0:k1 + 1].copy()
        inner = seeds[1:-1]
        if clf is not None:
            best, sure = yield from _predict_steps(clf, feats[:, k0 + 1:k1])
            reach = (k1 - k0) * sp[0]
            near0 = _near(seeds[0], np.unique(best), reach, plane_sp)
            near1 = _near(seeds[-1], np.unique(best), reach, plane_sp)
            for c in np.unique(best[sure]):
                if c == bg:
                    ok = sure & (best == c)
                else:
                    plane_ok = near0.get(c, False) | near1.get(c, False)
                    ok = sure & (best == c) & plane_ok
                inner[ok & (inner == 0)] = c
        kinds = np.unique(seeds)
        kinds = kinds[kinds != 0]
        if kinds.size < 2:   # one label everywhere: it fills the gap
            grown = np.where(seeds == 0, kinds[0] if kinds.size else 0, seeds)
        else:
            res = yield from growcut_steps(img_sub[k0:k1 + 1], seeds, spacing=sp,
                                           channel_axis=chan, previews=False)
            grown = res.labels
        fill = (code[k0 + 1:k1] == 0) & (grown[1:-1] > 0)
        block = dst[k0 + 1:k1]
        block[fill] = vals[grown[1:-1][fill]].astype(arr.dtype)
    yield Progress(len(gaps), len(gaps), "filled")
    return out
