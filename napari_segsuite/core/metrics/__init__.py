"""Comparing a segmentation with a ground truth: overlap figures, surface distances, PR curves.

napari-free: numpy arrays (or :class:`~napari_segsuite.core.base.image.SegImage`) in, plain data out.

Entry points
------------
- :func:`compare_dask`: the same counts and overlap figures for dask arrays, MCC, volume
  difference and kappa included (no distances, no surface figures).
- :func:`compare` / :func:`compare_steps`: everything the ``segsuite metrics --json`` contract
  (DESIGN.md) prints, as a plain ``dict`` with NaN for undefined ratios (:func:`napari_segsuite.io.reports.to_json`
  maps NaN to ``null``; the CSV table and the files are written there too). The ``_steps`` version is the job generator the widget runs (it yields
  :class:`~napari_segsuite.core.base.progress.Progress` per slab and per label).
- :func:`confusion_matrix`: multi-label confusion matrix (rows ground truth, columns prediction).
- :func:`overlap_from_confusion`: per-label TP/FP/FN/TN, Dice, IoU, precision, recall,
  specificity, F1 from a confusion matrix.
- :func:`surface_distances`: Hausdorff, HD95 and ASSD of two binary masks in physical units, in
  MedPy's, MONAI's or DeepMind's convention.
- :mod:`.surface`: normalised surface Dice, boundary IoU, clDice, the HD95 conventions;
  :mod:`.instances`: PQ/SQ/RQ and F1 of one-to-one object matches, lesion-wise counts;
  :func:`cohen_kappa`; MCC and relative volume difference per label come with the overlap
  figures. Their empty-mask values are in :mod:`.surface` and :mod:`.instances` (and
  docs/metrics.md).
- :func:`pr_curve`: precision-recall curve of a score/probability image against a binary ground
  truth, average precision and the threshold that maximises F1.
- :func:`per_slice_dice`: Dice of every slice along one axis (where does the segmentation fail?).
- :func:`overlay`: TP/FP/FN labels image for display.

Conventions
-----------
- **Labels**: non-negative integers; 0 is background. Integer-valued float images are accepted.
  The compared labels are the union of the non-zero labels of PRED and GT.
- **Binary masks**: with ``binary=True`` any non-zero voxel is foreground and the foreground is
  reported as label 1. Automatically (``binary=None``) only where the two images' values cannot
  be the same labels: one is a 0/1 mask (or bool) and the other a 0/255 one (an 8-bit image
  format's mask). Everything else is compared label by label, as the contract says (the labels
  are the union of the non-zero values): PRED ``{0, 2}`` against GT ``{0, 3}`` are two labels
  with Dice 0, never one label with Dice 1. Pass ``binary=False`` to compare even 0/1 against
  0/255 label by label.
- **0/0 is NaN** (``null`` in JSON): e.g. precision of a label the prediction never uses. The raw
  counts (tp, fp, fn, tn) are always given, so any other convention can be derived.
- **Distances** are in physical units (``spacing``, numpy order, from GT's geometry when GT is a
  SegImage). ``hausdorff`` is the symmetric Hausdorff distance between the two masks' *voxel
  sets* (what SimpleITK's ``HausdorffDistanceImageFilter`` computes). ``hd95`` and ``assd`` use
  the masks' *boundaries*: a mask's boundary is the mask minus its binary erosion by the
  face-connected structuring element (6-connected in 3D, 4-connected in 2D; voxels outside the
  image count as background), exactly MedPy's definition. The distances from every boundary voxel
  of PRED to GT's boundary and from every boundary voxel of GT to PRED's boundary are pooled;
  ``hd95`` is their 95th percentile (numpy's default linear interpolation), ``assd`` their mean.
  All three are NaN when either mask is empty. This is MedPy's convention (the default);
  ``hd95="monai"`` takes the maximum of the two directed 95th percentiles instead (>= MedPy's),
  ``hd95="deepmind"`` weights DeepMind's surface elements by area (see :mod:`.surface`).
- **pixel_accuracy** = trace / total over all labels including 0; **mean_pixel_accuracy** = the
  mean over the labels (0 included) *present in GT* of their recall (labels found only in PRED
  have recall 0/0 and are left out, as scikit-learn's ``balanced_accuracy_score`` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..base.errors import InputError
from ..base.progress import Progress, run
from .surface import DEFAULT_TOLERANCE, HD95_CONVENTIONS, SURFACE_KEYS, check_options

#: Most distinct labels (0 included) a dense confusion matrix is built for.
MAX_LABELS = 4096
#: Voxels per slab when counting (bounds the temporary memory on 512^3 volumes).
_SLAB = 1 << 22

METRIC_KEYS = ("tp", "fp", "fn", "tn", "dice", "iou", "precision", "recall", "specificity", "f1")
#: Count-based per-label figures beyond the overlap ones (also from :func:`compare_dask`).
COUNT_KEYS = ("mcc", "volume_difference")
DISTANCE_KEYS = ("hausdorff", "hd95", "assd")


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def _unpack(img: Any, what: str) -> Tuple[np.ndarray, Optional[Tuple[float, ...]]]:
    from ..base.image import SegImage

    if isinstance(img, SegImage):
        if img.multichannel:
            raise InputError(f"{what} has {img.n_channels} channels; a label image has one")
        return img.array, tuple(img.spacing)
    return np.asarray(img), None


def _as_labels(arr: np.ndarray, what: str) -> np.ndarray:
    """Check a label image: integer (or bool, or integer-valued float), non-negative."""
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if arr.dtype.kind in "iu":
        if arr.dtype.kind == "i" and arr.size and arr.min() < 0:
            raise InputError(f"{what} has negative values; labels must be 0 (background) or "
                             "positive integers")
        return arr
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InputError(f"{what} has NaN or infinite values; labels must be integers")
        if arr.size and arr.min() < 0:
            raise InputError(f"{what} has negative values; labels must be 0 (background) or "
                             "positive integers")
        if not np.array_equal(arr, np.floor(arr)):
            raise InputError(f"{what} has non-integer values (a probability map?); threshold it "
                             "first, or use the precision-recall curve")
        mx = float(arr.max()) if arr.size else 0.0
        return arr.astype(np.uint16 if mx < 65536 else np.int64)
    raise InputError(f"{what} has dtype {arr.dtype}; a label image needs integer values")


def _present(arr: np.ndarray) -> np.ndarray:
    """Sorted distinct values of a non-negative integer array (fast for small label values)."""
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    mx = int(arr.max())
    if mx < (1 << 20):
        flat = arr.reshape(-1)
        counts = np.zeros(mx + 1, dtype=np.int64)
        for s in range(0, flat.size, _SLAB):
            counts += np.bincount(flat[s:s + _SLAB], minlength=mx + 1)
        return np.flatnonzero(counts).astype(np.int64)
    return np.unique(arr).astype(np.int64)


def _auto_binary(pv: np.ndarray, gv: np.ndarray) -> bool:
    """Auto mode: compare as masks only a 0/1 (or bool) image against a 0/255 one."""
    p = frozenset(int(v) for v in pv if v)
    g = frozenset(int(v) for v in gv if v)
    return {p, g} == {frozenset({1}), frozenset({255})}


def _check(pred: Any, gt: Any, spacing: Optional[Sequence[float]]):
    """Validate the pair; returns label arrays (non-negative integers) and the spacing."""
    p, _ = _unpack(pred, "PRED")
    g, g_spacing = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must be on "
                         "the same grid (resample one onto the other first)")
    if p.ndim < 1 or p.size == 0:
        raise InputError("PRED and GT are empty arrays")
    p = _as_labels(p, "PRED")
    g = _as_labels(g, "GT")
    if spacing is None:
        spacing = g_spacing if g_spacing is not None else (1.0,) * g.ndim
    spacing = tuple(float(s) for s in np.asarray(spacing, dtype=float).ravel())
    if len(spacing) != g.ndim:
        raise InputError(f"spacing has {len(spacing)} values but the images are {g.ndim}D")
    if any(not math.isfinite(s) or s <= 0 for s in spacing):
        raise InputError(f"spacing must be positive, got {spacing}")
    return p, g, spacing


def _nonzero(arr: np.ndarray) -> np.ndarray:
    return (arr != 0).view(np.uint8)


#: Most bins of the one-pass confusion count on raw label values ((max_gt+1) * (max_pred+1)).
_FAST_BINS = 1 << 20


def _code_counts_steps(p: np.ndarray, g: np.ndarray, n_p: int, n_g: int):
    """Counts of (GT value, PRED value) pairs: one bincount per slab on ``g * n_p + p``."""
    dtype = np.uint16 if n_p * n_g <= 65536 else np.int32
    counts = np.zeros(n_p * n_g, dtype=np.int64)
    fp_, fg_ = p.reshape(-1), g.reshape(-1)
    total = fp_.size
    for s in range(0, total, _SLAB):
        code = fg_[s:s + _SLAB].astype(dtype)
        np.multiply(code, dtype(n_p), out=code, casting="unsafe")
        np.add(code, fp_[s:s + _SLAB], out=code, casting="unsafe")
        counts += np.bincount(code, minlength=n_p * n_g)
        yield Progress(min(s + _SLAB, total), total, "counting voxels")
    return counts.reshape(n_g, n_p)


def _collapse_binary(labels: np.ndarray, counts: np.ndarray):
    """Confusion matrix of 'non-zero' vs 0 from a multi-value one (labels[0] == 0)."""
    c = np.asarray(counts, dtype=np.int64)
    out = np.array([[c[0, 0], c[0, 1:].sum()], [c[1:, 0].sum(), c[1:, 1:].sum()]])
    if out[1:, :].sum() + out[:, 1:].sum() == 0:
        return np.array([0]), out[:1, :1]
    return np.array([0, 1]), out


def _count_steps(p: np.ndarray, g: np.ndarray, binary: Optional[bool]):
    """Count the confusion matrix, decide binary mode, and say how to find each label's voxels.

    Returns ``(labels, counts, binary, lab_p, lab_g, key)``: ``lab_p``/``lab_g`` are integer
    images in which label ``v`` has the value ``key(v)`` (for ``find_objects`` and the masks).
    """
    if binary:
        p, g = _nonzero(p), _nonzero(g)
    mp, mg = int(p.max()), int(g.max())
    if (mp + 1) * (mg + 1) <= _FAST_BINS:
        raw = yield from _code_counts_steps(p, g, mp + 1, mg + 1)
        gv = np.flatnonzero(raw.sum(axis=1))
        pv = np.flatnonzero(raw.sum(axis=0))
        if binary is None:
            binary = _auto_binary(pv, gv)
            if binary:
                m = max(mp, mg) + 1
                full = np.zeros((m, m), np.int64)
                full[: mg + 1, : mp + 1] = raw
                labels, counts = _collapse_binary(np.arange(m), full)
                return labels, counts, True, _nonzero(p), _nonzero(g), int
        labels = _label_union(pv, gv)
        m = int(labels[-1]) + 1
        full = np.zeros((m, m), np.int64)
        full[: mg + 1, : mp + 1] = raw
        return labels, full[np.ix_(labels, labels)], bool(binary), p, g, int
    pv, gv = _present(p), _present(g)
    if binary is None and _auto_binary(pv, gv):
        return (yield from _count_steps(p, g, True))
    labels = _label_union(pv, gv)
    n = len(labels)
    pi = _index_image(p, labels)
    gi = _index_image(g, labels)
    counts = yield from _code_counts_steps(pi, gi, n, n)
    index_of = {int(v): i for i, v in enumerate(labels)}
    return labels, counts, bool(binary), pi, gi, lambda v: index_of.get(v, -1)


def _index_image(arr: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Map label values to their position in ``labels`` (sorted, containing every value)."""
    n = len(labels)
    dtype = np.uint8 if n <= 256 else (np.uint16 if n <= 65536 else np.int32)
    mx = int(labels[-1])
    out = np.empty(arr.shape, dtype=dtype)
    fo, fi = out.reshape(-1), arr.reshape(-1)
    if mx < (1 << 24):
        lut = np.zeros(mx + 1, dtype=dtype)
        lut[labels] = np.arange(n, dtype=dtype)
        for s in range(0, fi.size, _SLAB):
            np.take(lut, fi[s:s + _SLAB], out=fo[s:s + _SLAB])
    else:
        for s in range(0, fi.size, _SLAB):
            fo[s:s + _SLAB] = np.searchsorted(labels, fi[s:s + _SLAB])
    return out


# ------------------------------------------------------------------------------------------------
# confusion matrix and overlap figures
# ------------------------------------------------------------------------------------------------
def _label_union(pv: np.ndarray, gv: np.ndarray) -> np.ndarray:
    labels = np.union1d(np.union1d(pv, gv), [0]).astype(np.int64)
    if len(labels) > MAX_LABELS:
        raise InputError(f"PRED and GT hold {len(labels)} distinct labels together; the per-label "
                         f"comparison supports up to {MAX_LABELS} (instance labels need an "
                         "instance-matching metric, not label-by-label overlap)")
    return labels


def confusion_matrix(pred: Any, gt: Any, binary: Optional[bool] = None
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Multi-label confusion matrix: ``(labels, counts)`` with ``counts[i, j]`` = number of voxels
    whose GT label is ``labels[i]`` and whose PRED label is ``labels[j]``.

    ``labels`` is the sorted union of the values in PRED and GT, always including 0. One pass of
    ``np.bincount`` over a combined index (slab by slab, so memory stays bounded on 512^3).
    """
    p, g, _sp = _check(pred, gt, None)
    labels, counts, *_rest = run(_count_steps(p, g, binary))
    return labels, counts


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def overlap_from_confusion(counts: np.ndarray, index: int) -> Dict[str, float]:
    """Per-label figures for row/column ``index`` of a confusion matrix (rows GT, columns PRED)."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if 0 <= index < counts.shape[0]:
        tp = int(counts[index, index])
        fn = int(counts[index, :].sum()) - tp
        fp = int(counts[:, index].sum()) - tp
    else:  # a label in neither image
        tp = fn = fp = 0
    tn = total - tp - fp - fn
    dice = _ratio(2 * tp, 2 * tp + fp + fn)
    mcc_den = math.sqrt(float(tp + fp) * float(tp + fn) * float(tn + fp) * float(tn + fn))
    return {"tp": tp, "fp": fp, "fn": fn, "tn": tn,
            "dice": dice, "iou": _ratio(tp, tp + fp + fn),
            "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "specificity": _ratio(tn, tn + fp), "f1": dice,
            "mcc": _ratio(float(tp) * tn - float(fp) * fn, mcc_den),
            "volume_difference": _ratio(fp - fn, tp + fn)}


def cohen_kappa(counts: np.ndarray) -> float:
    """Cohen's kappa of a confusion matrix over all its labels (0 included): ``(p_o - p_e) /
    (1 - p_e)``, NaN when ``p_e`` is 1 (both images one and the same single label)."""
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum()
    if n == 0:
        return float("nan")
    po = np.trace(c) / n
    pe = float(np.dot(c.sum(axis=1), c.sum(axis=0))) / (n * n)
    return _ratio(po - pe, 1.0 - pe) if pe < 1.0 else float("nan")


def pixel_accuracy(counts: np.ndarray) -> float:
    counts = np.asarray(counts)
    return _ratio(np.trace(counts), counts.sum())


def mean_pixel_accuracy(counts: np.ndarray) -> float:
    """Mean recall over the labels present in GT (0 included)."""
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.sum(axis=1)
    keep = rows > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.diag(counts)[keep] / rows[keep]))


# ------------------------------------------------------------------------------------------------
# surface distances
# ------------------------------------------------------------------------------------------------
def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask minus its erosion by the face-connected structuring element (outside the array
    counts as background): a voxel is on the boundary when one of its 2*ndim face neighbours is
    background. Same as ``mask & ~binary_erosion(mask, generate_binary_structure(ndim, 1),
    border_value=0)``, computed with array shifts (several times faster)."""
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


def _union_crop(a: Optional[Tuple[slice, ...]], b: Optional[Tuple[slice, ...]],
                shape: Sequence[int], margin: int = 1) -> Tuple[slice, ...]:
    return tuple(slice(max(0, min(sa.start, sb.start) - margin),
                       min(n, max(sa.stop, sb.stop) + margin))
                 for sa, sb, n in zip(a, b, shape))


#: The k-d tree path is used when (query points * this) < voxels in the crop.
_KDTREE_FACTOR = 8


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

    Two exact methods, chosen by cost: ``"edt"`` computes the distance maps of both boundaries
    over the crop (scipy's ``distance_transform_edt`` with ``sampling=spacing``); ``"kdtree"``
    queries nearest boundary voxels (in physical coordinates) with scipy's ``cKDTree`` only at
    the voxels that matter, which is much faster when the surfaces are small next to the crop
    (large, well-overlapping objects). Both give the same numbers up to rounding.
    """
    from scipy import ndimage as ndi

    ba, bb = boundary(a), boundary(b)
    only_a = a & ~b
    only_b = b & ~a
    if method == "auto":
        n_query = int(ba.sum()) + int(bb.sum()) + int(only_a.sum()) + int(only_b.sum())
        method = "kdtree" if n_query * _KDTREE_FACTOR < a.size else "edt"
    if method == "kdtree":
        from scipy.spatial import cKDTree

        sp = np.asarray(spacing, dtype=np.float64)
        pa = np.argwhere(ba) * sp
        pb = np.argwhere(bb) * sp
        ta = cKDTree(pa, balanced_tree=False, compact_nodes=False)
        tb = cKDTree(pb, balanced_tree=False, compact_nodes=False)
        d_ab = tb.query(pa, workers=-1)[0]
        yield Progress(None, None, message)
        d_ba = ta.query(pb, workers=-1)[0]
        yield Progress(None, None, message)
        qa = np.argwhere(only_a) * sp
        qb = np.argwhere(only_b) * sp
        h_ab = tb.query(qa, workers=-1)[0] if len(qa) else np.zeros(0)
        h_ba = ta.query(qb, workers=-1)[0] if len(qb) else np.zeros(0)
    else:
        # Distance from every voxel to the nearest boundary voxel of the other mask. Outside a
        # mask, the nearest mask voxel always lies on its face-connected boundary, so the same
        # map also gives the voxel-set distance needed for the Hausdorff distance.
        da = ndi.distance_transform_edt(~ba, sampling=spacing)
        yield Progress(None, None, message)  # a chance to cancel between the two maps
        db = ndi.distance_transform_edt(~bb, sampling=spacing)
        d_ab = db[ba]  # PRED boundary -> GT boundary
        d_ba = da[bb]
        h_ab = db[only_a]
        h_ba = da[only_b]
    hd = max(float(h_ab.max()) if h_ab.size else 0.0, float(h_ba.max()) if h_ba.size else 0.0)
    return d_ab, d_ba, hd


_NAN_DIST = {"hausdorff": float("nan"), "hd95": float("nan"), "assd": float("nan")}


def surface_distances(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                      convention: str = "medpy") -> Dict[str, float]:
    """Hausdorff (voxel sets), HD95 and ASSD (boundaries) between two binary masks (any non-zero
    voxel is foreground), in physical units. NaN for all three when either mask is empty.
    ``convention``: whose HD95 and ASSD (``"medpy"``, ``"monai"``, ``"deepmind"``; see
    :mod:`.surface`). See the module docstring for the definitions."""
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


# ------------------------------------------------------------------------------------------------
# the entry point
# ------------------------------------------------------------------------------------------------
def compare_steps(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                  labels: Optional[Iterable[int]] = None, distances: bool = True,
                  binary: Optional[bool] = None, tolerance: float = DEFAULT_TOLERANCE,
                  hd95: str = "medpy", instances: bool = False):
    """Job generator behind :func:`compare` (yields Progress per slab and per label)."""
    from scipy import ndimage as ndi

    from .surface import empty_figures, label_figures_steps

    tolerance, hd95 = check_options(tolerance, hd95)
    yield Progress(0, None, "reading labels")
    p, g, spacing = _check(pred, gt, spacing)
    inst = None
    if instances:
        from .instances import instance_figures_steps

        inst = yield from instance_figures_steps(p, g)
    all_labels, counts, is_binary, lab_p, lab_g, key = yield from _count_steps(p, g, binary)
    report = _report_labels(all_labels, labels)
    result = _result(report, spacing, all_labels, counts, is_binary)
    if distances:
        result["tolerance"] = tolerance
        result["hd95_convention"] = hd95
    if inst is not None:
        result["instances"] = inst
    per_label = result["per_label"]
    index_of = {int(v): i for i, v in enumerate(all_labels)}
    if distances and report:
        present = [v for v in report if v in index_of and v != 0]
        top = max([key(v) for v in present], default=0)
        p_obj = ndi.find_objects(lab_p, max_label=top) if top > 0 else []
        g_obj = ndi.find_objects(lab_g, max_label=top) if top > 0 else []
        for k, v in enumerate(report):
            yield Progress(k, len(report), f"surface distances, label {v}")
            i = key(v) if v in index_of and v != 0 else 0
            bp = p_obj[i - 1] if 0 < i <= len(p_obj) else None
            bg = g_obj[i - 1] if 0 < i <= len(g_obj) else None
            if bp is None or bg is None:
                per_label[str(v)].update(empty_figures(bp is None, bg is None))
                continue
            crop = _union_crop(bp, bg, lab_p.shape)
            figs = yield from label_figures_steps(lab_p[crop] == i, lab_g[crop] == i, spacing,
                                                  tolerance, hd95,
                                                  message=f"surface figures, label {v}")
            per_label[str(v)].update(figs)
        yield Progress(len(report), len(report), "surface figures done")
    return result


def _report_labels(all_labels: np.ndarray, labels: Optional[Iterable[int]]) -> List[int]:
    """The labels to report: the requested ones, else every non-zero label present."""
    if labels is None:
        return [int(v) for v in all_labels if v != 0]
    return sorted({int(v) for v in labels})


def _result(report: List[int], spacing, all_labels: np.ndarray, counts: np.ndarray,
            binary: bool) -> dict:
    """The ``segsuite metrics --json`` object (without distances) from a confusion matrix."""
    index_of = {int(v): i for i, v in enumerate(all_labels)}
    return {
        "labels": report,
        "spacing": list(spacing),
        "per_label": {str(v): overlap_from_confusion(counts, index_of.get(v, -1))
                      for v in report},
        "pixel_accuracy": pixel_accuracy(counts),
        "mean_pixel_accuracy": mean_pixel_accuracy(counts),
        "kappa": cohen_kappa(counts),
        "confusion_matrix": {"labels": [int(v) for v in all_labels],
                             "counts": counts.tolist()},
        "binary": bool(binary),
    }


def compare(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
            labels: Optional[Iterable[int]] = None, distances: bool = True,
            binary: Optional[bool] = None, tolerance: float = DEFAULT_TOLERANCE,
            hd95: str = "medpy", instances: bool = False) -> dict:
    """Compare a prediction with a ground truth; the ``segsuite metrics --json`` object as a dict.

    ``pred``/``gt``: label arrays or SegImages of the same shape (2D or 3D). ``spacing``: numpy
    order; default GT's spacing (SegImage) or 1. ``labels``: the labels to report (default: the
    union of the non-zero labels of both). ``distances=False`` skips the surface distances and
    the surface figures (their keys are then absent). ``binary``: see the module docstring.
    ``tolerance`` (physical units, default 1) for ``nsd`` and ``boundary_iou``; ``hd95``: whose
    HD95/ASSD convention, ``"medpy"`` (default), ``"monai"`` or ``"deepmind"`` (see
    :mod:`.surface`). ``instances=True`` adds ``result["instances"]``: one-to-one matching of
    the objects of PRED and GT (see :mod:`.instances`). Undefined ratios are NaN; use
    :func:`napari_segsuite.io.reports.to_json` for the JSON text (NaN -> null). The extra key ``"binary"`` says whether the
    images were compared as binary masks (it is dropped from the CLI's JSON).
    """
    return run(compare_steps(pred, gt, spacing=spacing, labels=labels, distances=distances,
                             binary=binary, tolerance=tolerance, hd95=hd95,
                             instances=instances))


def _pair_counts(p: np.ndarray, g: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(GT values, PRED values, counts) of the value pairs in one block (for :func:`compare_dask`)."""
    p = _as_labels(np.asarray(p), "PRED")
    g = _as_labels(np.asarray(g), "GT")
    if p.size == 0:
        z = np.zeros(0, np.int64)
        return z, z, z
    if p.dtype.kind == "f":
        p = p.astype(np.int64)
    if g.dtype.kind == "f":
        g = g.astype(np.int64)
    mp, mg = int(p.max()), int(g.max())
    if (mp + 1) * (mg + 1) <= _FAST_BINS:
        code = g.reshape(-1).astype(np.int64) * (mp + 1) + p.reshape(-1)
        c = np.bincount(code, minlength=(mp + 1) * (mg + 1))
        nz = np.flatnonzero(c)
        return nz // (mp + 1), nz % (mp + 1), c[nz]
    pairs, c = np.unique(np.stack([g.reshape(-1).astype(np.int64),
                                   p.reshape(-1).astype(np.int64)]), axis=1, return_counts=True)
    return pairs[0], pairs[1], c


def compare_dask(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                 labels: Optional[Iterable[int]] = None, binary: Optional[bool] = None) -> dict:
    """:func:`compare` for label images too large for memory (dask arrays, or anything
    ``dask.array.asarray`` takes), on any dask scheduler: the confusion matrix is counted block by
    block and summed, so every count and overlap figure equals :func:`compare`'s exactly (MCC,
    volume difference and kappa included: they are counts). The surface distances and surface
    figures are not computed (their keys are absent, as with ``distances=False``): they need the
    whole masks. ``spacing`` is only reported."""
    import dask
    import dask.array as da

    p = da.asarray(pred)
    g = da.asarray(gt)
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must be on "
                         "the same grid (resample one onto the other first)")
    if p.ndim < 1 or p.size == 0:
        raise InputError("PRED and GT are empty arrays")
    for arr, what in ((p, "PRED"), (g, "GT")):
        if arr.dtype != bool and arr.dtype.kind not in "iuf":
            raise InputError(f"{what} holds {arr.dtype} values; labels must be integers")
    if spacing is None:
        spacing = (1.0,) * p.ndim
    spacing = tuple(float(v) for v in np.asarray(spacing, dtype=float).ravel())
    if len(spacing) != p.ndim or any(not math.isfinite(v) or v <= 0 for v in spacing):
        raise InputError(f"spacing must be {p.ndim} positive numbers, got {spacing}")
    g = g.rechunk(p.chunks)
    parts = [dask.delayed(_pair_counts)(a, b)
             for a, b in zip(p.to_delayed().ravel(), g.to_delayed().ravel())]
    gv_, pv_, c_ = (np.concatenate(x) if x else np.zeros(0, np.int64)
                    for x in zip(*dask.compute(*parts)))
    pv, gv = np.unique(pv_), np.unique(gv_)
    if binary is None:
        binary = _auto_binary(pv, gv)
    if binary:
        pv_, gv_ = (pv_ != 0).astype(np.int64), (gv_ != 0).astype(np.int64)
        pv, gv = np.unique(pv_), np.unique(gv_)
    all_labels = _label_union(pv, gv)
    counts = np.zeros((len(all_labels), len(all_labels)), np.int64)
    np.add.at(counts, (np.searchsorted(all_labels, gv_), np.searchsorted(all_labels, pv_)), c_)
    if binary and counts[1:, :].sum() + counts[:, 1:].sum() == 0:
        all_labels, counts = all_labels[:1], counts[:1, :1]
    return _result(_report_labels(all_labels, labels), spacing, all_labels, counts, binary)


# ------------------------------------------------------------------------------------------------
# precision-recall curve
# ------------------------------------------------------------------------------------------------
@dataclass
class PRCurve:
    """Precision-recall curve, in scikit-learn's layout: ``thresholds`` increasing,
    ``precision``/``recall`` one longer (ending with precision 1, recall 0). A voxel is predicted
    positive when ``score >= threshold``."""

    precision: np.ndarray
    recall: np.ndarray
    thresholds: np.ndarray
    average_precision: float
    best_threshold: float
    best_f1: float
    best_precision: float
    best_recall: float
    n_positive: int = 0
    exact: bool = True
    extra: dict = field(default_factory=dict)


def pr_curve(score: Any, gt: Any, bins: Optional[int] = None,
             max_exact: int = 1 << 24) -> PRCurve:
    """Precision-recall curve of a score/probability image against a binary ground truth (any
    non-zero GT voxel is positive).

    ``bins=None``: exact (every distinct score is a threshold, one sort, as scikit-learn's
    ``precision_recall_curve``) up to ``max_exact`` voxels, else 4096 histogram bins. With bins,
    the thresholds are the bin edges and the figures are exact at those thresholds.
    ``average_precision`` is scikit-learn's step-wise AP over the curve's thresholds.
    """
    s, _ = _unpack(score, "SCORE")
    g, _ = _unpack(gt, "GT")
    if s.shape != g.shape:
        raise InputError(f"the score image has shape {s.shape} but GT has shape {g.shape}")
    if s.size == 0:
        raise InputError("the score image is empty")
    s = s.reshape(-1)
    if s.dtype == bool:
        s = s.view(np.uint8)
    if not np.all(np.isfinite(s)):
        raise InputError("the score image has NaN or infinite values")
    y = np.asarray(g).reshape(-1) != 0
    n_pos = int(y.sum())
    if n_pos == 0:
        raise InputError("GT has no foreground voxel; a precision-recall curve needs positives")
    if bins is None and s.size > max_exact:
        bins = 4096
    if bins is None:
        order = np.argsort(s, kind="stable")[::-1]
        ss = s[order]
        tps_all = np.cumsum(y[order], dtype=np.int64)
        last = np.r_[np.flatnonzero(np.diff(ss)), ss.size - 1]
        tps = tps_all[last]
        fps = (last + 1) - tps
        thr = ss[last].astype(np.float64)
    else:
        lo, hi = float(s.min()), float(s.max())
        if hi <= lo:
            hi = lo + 1.0
        edges = np.linspace(lo, hi, int(bins) + 1)
        pos_h, _ = np.histogram(s[y], bins=edges)
        neg_h, _ = np.histogram(s[~y], bins=edges)
        tps = np.cumsum(pos_h[::-1])  # thresholds from the top edge down
        fps = np.cumsum(neg_h[::-1])
        thr = edges[:-1][::-1]
        # drop thresholds that add no voxel
        keep = (tps + fps) > 0
        tps, fps, thr = tps[keep], fps[keep], thr[keep]
        _, uniq = np.unique(tps + fps, return_index=True)
        # among equal counts keep the highest threshold (first in this order)
        tps, fps, thr = tps[uniq], fps[uniq], thr[uniq]
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = tps / np.maximum(tps + fps, 1)
        rec = tps / n_pos
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    best = int(np.argmax(f1))
    ap = float(np.sum(np.diff(np.r_[0.0, rec]) * prec))
    # scikit-learn's layout (>= 1.3): increasing thresholds, a final (precision 1, recall 0)
    p_out = np.r_[prec[::-1], 1.0]
    r_out = np.r_[rec[::-1], 0.0]
    t_out = thr[::-1]
    return PRCurve(precision=p_out, recall=r_out, thresholds=t_out, average_precision=ap,
                   best_threshold=float(thr[best]), best_f1=float(f1[best]),
                   best_precision=float(prec[best]), best_recall=float(rec[best]),
                   n_positive=n_pos, exact=bins is None)


# ------------------------------------------------------------------------------------------------
# per-slice Dice and the overlay
# ------------------------------------------------------------------------------------------------
def per_slice_dice(pred: Any, gt: Any, axis: int = 0, label: Optional[int] = None
                   ) -> Dict[str, np.ndarray]:
    """Dice of every slice along ``axis``.

    ``label=None``: all labels together (a voxel is a true positive when PRED and GT hold the same
    non-zero label; the sizes are the non-zero voxel counts). Returns ``dice`` (NaN where both
    slices are empty), ``tp``, ``pred`` and ``gt`` voxel counts per slice.
    """
    p, _ = _unpack(pred, "PRED")
    g, _ = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must match")
    if not -p.ndim <= axis < p.ndim:
        raise InputError(f"axis {axis} is out of range for a {p.ndim}D image")
    axis = axis % p.ndim
    other = tuple(i for i in range(p.ndim) if i != axis)
    if label is None:
        a, b = p != 0, g != 0
        t = a & (p == g)
    else:
        a, b = p == label, g == label
        t = a & b
    tp = t.sum(axis=other, dtype=np.int64)
    na = a.sum(axis=other, dtype=np.int64)
    nb = b.sum(axis=other, dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dice = np.where(na + nb > 0, 2.0 * tp / np.maximum(na + nb, 1), np.nan)
    return {"dice": dice, "tp": tp, "pred": na, "gt": nb}


#: Values of :func:`overlay`.
OVERLAY_TP, OVERLAY_FP, OVERLAY_FN = 1, 2, 3


def overlay(pred: Any, gt: Any, label: Optional[int] = None) -> np.ndarray:
    """uint8 image: 1 = true positive, 2 = false positive, 3 = false negative, 0 = true negative.

    ``label=None``: all labels (TP = same non-zero label; a voxel labelled differently in PRED
    and GT is FP). Otherwise the one label's mask.
    """
    p, _ = _unpack(pred, "PRED")
    g, _ = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must match")
    if label is None:
        a, b = p != 0, g != 0
        tp = a & (p == g)
    else:
        a, b = p == label, g == label
        tp = a & b
    out = np.zeros(p.shape, dtype=np.uint8)
    out[b] = OVERLAY_FN
    out[a] = OVERLAY_FP
    out[tp] = OVERLAY_TP
    return out
