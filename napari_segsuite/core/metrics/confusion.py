"""Counting: the confusion matrix of two label images (slab by slab, bounded memory), whether
they are compared as binary masks (:func:`binary_mode`, the one rule), and the figures that
follow from the counts (overlap per label, pixel accuracy, Cohen's kappa)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from ..base.errors import InputError
from ..base.progress import Progress, run
from ._inputs import _as_labels, _check, _nonzero

#: Most distinct labels (0 included) a dense confusion matrix is built for.
MAX_LABELS = 4096
#: Voxels per slab when counting (bounds the temporary memory on 512^3 volumes).
_SLAB = 1 << 22

METRIC_KEYS = ("tp", "fp", "fn", "tn", "dice", "iou", "precision", "recall", "specificity", "f1")
#: Count-based per-label figures beyond the overlap ones (also from :func:`compare_dask`).
COUNT_KEYS = ("mcc", "volume_difference")


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


#: How PRED and GT may be compared (``segsuite metrics --binary``, the widget's "Binary masks").
BINARY_CHOICES = ("auto", "yes", "no")


def binary_mode(choice: Union[None, bool, str] = None, *, instances: bool = False,
                thresholded: bool = False, pred_values: Optional[Iterable[int]] = None,
                gt_values: Optional[Iterable[int]] = None) -> Optional[bool]:
    """Whether PRED and GT are compared as binary masks: the one rule, asked by everyone.

    Parameters
    ----------
    choice
        ``"yes"`` (or True): any non-zero voxel is foreground, reported as label 1. ``"no"`` (or
        False): label values as they are. ``"auto"``: yes only when the values cannot be the
        same labels: one image is a 0/1 (or bool) mask and the other a 0/255 one (an 8-bit
        format's mask); PRED ``{0, 2}`` against GT ``{0, 3}`` are two labels. ``None`` (the
        default of the command and the widget): yes for ``instances`` or a ``thresholded``
        prediction, else ``"auto"``.
    instances
        The images are instance maps (their ids are not classes): the table compares the
        foregrounds unless ``choice`` says otherwise.
    thresholded
        PRED is a thresholded probability / score map: yes unless ``choice`` is ``"no"``.
    pred_values, gt_values
        The values present in PRED and GT (what ``"auto"`` looks at).

    Returns
    -------
    bool or None
        None when the answer depends on the values and they were not given.

    Examples
    --------
    >>> binary_mode("auto", pred_values=[0, 1], gt_values=[0, 255])
    True
    >>> binary_mode("auto", pred_values=[0, 2], gt_values=[0, 3])
    False
    >>> binary_mode(None, instances=True), binary_mode("auto", thresholded=True)
    (True, True)
    >>> binary_mode("auto") is None  # decided once the values are counted
    True
    """
    if choice is True or choice == "yes":
        return True
    if choice is False or choice == "no":
        return False
    if choice not in (None, "auto"):
        raise InputError(f"binary must be one of {', '.join(BINARY_CHOICES)}, got {choice!r}")
    if thresholded or (instances and choice is None):
        return True
    if pred_values is None or gt_values is None:
        return None
    p = frozenset(int(v) for v in pred_values if v)
    g = frozenset(int(v) for v in gt_values if v)
    return {p, g} == {frozenset({1}), frozenset({255})}


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


@dataclass(frozen=True, eq=False)
class LabelCounts:
    """Two label images counted (:func:`count_steps`): the confusion matrix and where each
    compared label's voxels are.

    Attributes
    ----------
    labels : numpy.ndarray
        The compared label values, sorted, 0 first.
    counts : numpy.ndarray
        ``counts[i, j]``: voxels of GT label ``labels[i]`` and PRED label ``labels[j]``.
    binary : bool
        Whether the images were compared as binary masks.
    pred_image, gt_image : numpy.ndarray
        PRED and GT with label ``v`` at value ``image_value[v]``.
    image_value : dict of int to int
        Label value -> its value in the images.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> c = run(count_steps(np.array([[0, 1, 2, 2]]), np.array([[0, 1, 1, 2]])))
    >>> c.labels.tolist(), c.counts.tolist(), c.binary
    ([0, 1, 2], [[1, 0, 0], [0, 1, 1], [0, 0, 1]], False)
    >>> c.value_of(2), c.value_of(9)
    (2, 0)
    """

    #: The compared label values, sorted, 0 first (the union of both images' values).
    labels: np.ndarray
    #: ``counts[i, j]``: voxels whose GT label is ``labels[i]`` and PRED label ``labels[j]``.
    counts: np.ndarray
    #: Compared as binary masks (every non-zero voxel is label 1).
    binary: bool
    #: PRED and GT as integer images in which label ``v`` has the value ``image_value[v]``.
    pred_image: np.ndarray
    gt_image: np.ndarray
    #: Label value -> its value in ``pred_image``/``gt_image``, for every label in ``labels``.
    image_value: Dict[int, int]

    def value_of(self, label: int) -> int:
        """The value of ``label`` in the images; 0 (background) for 0 and absent labels."""
        return self.image_value.get(int(label), 0)


def count_steps(p: np.ndarray, g: np.ndarray, binary: Union[None, bool, str] = None):
    """Job generator: count the confusion matrix of two label arrays (already checked), slab
    by slab, deciding binary mode on the way (:func:`binary_mode`, ``None`` = ``"auto"``).
    Returns a :class:`LabelCounts`.

    Parameters
    ----------
    p, g : numpy.ndarray
        PRED and GT label arrays of the same shape.
    binary : bool or {"auto", "yes", "no"}, optional
        Compare as binary masks (None: ``"auto"``; see :func:`binary_mode`).

    Yields
    ------
    Progress
        One per slab counted.

    Returns
    -------
    LabelCounts
        The counts (the generator's return value).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.progress import run
    >>> c = run(count_steps(np.array([[0, 1, 2, 2]]), np.array([[0, 1, 1, 2]])))
    >>> c.counts.tolist()
    [[1, 0, 0], [0, 1, 1], [0, 0, 1]]
    """
    binary = binary_mode("auto" if binary is None else binary)
    if binary:
        p, g = _nonzero(p), _nonzero(g)
    mp, mg = int(p.max()), int(g.max())
    if (mp + 1) * (mg + 1) <= _FAST_BINS:
        raw = yield from _code_counts_steps(p, g, mp + 1, mg + 1)
        gv = np.flatnonzero(raw.sum(axis=1))
        pv = np.flatnonzero(raw.sum(axis=0))
        if binary is None:
            binary = binary_mode("auto", pred_values=pv, gt_values=gv)
            if binary:
                m = max(mp, mg) + 1
                full = np.zeros((m, m), np.int64)
                full[: mg + 1, : mp + 1] = raw
                labels, counts = _collapse_binary(np.arange(m), full)
                return LabelCounts(labels, counts, True, _nonzero(p), _nonzero(g),
                                   _identity(labels))
        labels = _label_union(pv, gv)
        m = int(labels[-1]) + 1
        full = np.zeros((m, m), np.int64)
        full[: mg + 1, : mp + 1] = raw
        return LabelCounts(labels, full[np.ix_(labels, labels)], bool(binary), p, g,
                           _identity(labels))
    pv, gv = _present(p), _present(g)
    if binary is None and binary_mode("auto", pred_values=pv, gt_values=gv):
        return (yield from count_steps(p, g, True))
    labels = _label_union(pv, gv)
    n = len(labels)
    pi = _index_image(p, labels)
    gi = _index_image(g, labels)
    counts = yield from _code_counts_steps(pi, gi, n, n)
    return LabelCounts(labels, counts, bool(binary), pi, gi,
                       {int(v): i for i, v in enumerate(labels)})


def _identity(labels: np.ndarray) -> Dict[int, int]:
    return {int(v): int(v) for v in labels}


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
    ``binary``: see :func:`binary_mode` (None: ``"auto"``).

    Parameters
    ----------
    pred, gt : array_like
        PRED and GT label images of the same shape.
    binary : bool or str, optional
        Compare as binary masks (None: ``"auto"``).

    Returns
    -------
    labels : numpy.ndarray
        The compared label values, 0 first.
    counts : numpy.ndarray
        The confusion matrix.

    Examples
    --------
    >>> labels, counts = confusion_matrix(np.array([[0, 1, 1, 2], [0, 1, 2, 2]]),
    ...                                   np.array([[0, 1, 1, 1], [0, 0, 2, 2]]))
    >>> labels.tolist(), counts.tolist()
    ([0, 1, 2], [[2, 1, 0], [0, 2, 1], [0, 0, 2]])
    """
    p, g, _sp = _check(pred, gt, None)
    counted = run(count_steps(p, g, binary))
    return counted.labels, counted.counts


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def overlap_from_confusion(counts: np.ndarray, index: int) -> Dict[str, float]:
    """Per-label figures for row/column ``index`` of a confusion matrix (rows GT, columns PRED).

    Parameters
    ----------
    counts
        The confusion matrix (:func:`confusion_matrix`).
    index
        The label's row/column; out of range: a label in neither image (all counts 0).

    Returns
    -------
    dict
        ``tp``, ``fp``, ``fn``, ``tn`` (ints), ``dice``, ``iou``, ``precision``, ``recall``,
        ``specificity``, ``f1``, ``mcc``, ``volume_difference`` (NaN where 0/0).

    Examples
    --------
    >>> f = overlap_from_confusion(np.array([[2, 1, 0], [0, 2, 1], [0, 0, 2]]), 1)
    >>> f["tp"], f["fp"], f["fn"], f["dice"]
    (2, 1, 1, 0.6666666666666666)
    """
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
    (1 - p_e)``, NaN when ``p_e`` is 1 (both images one and the same single label).

    Parameters
    ----------
    counts : numpy.ndarray
        A square confusion matrix (GT rows, PRED columns).

    Returns
    -------
    float
        The kappa.

    Examples
    --------
    >>> round(cohen_kappa(np.array([[2, 1, 0], [0, 2, 1], [0, 0, 2]])), 4)
    0.6279
    """
    c = np.asarray(counts, dtype=np.float64)
    n = c.sum()
    if n == 0:
        return float("nan")
    po = np.trace(c) / n
    pe = float(np.dot(c.sum(axis=1), c.sum(axis=0))) / (n * n)
    return _ratio(po - pe, 1.0 - pe) if pe < 1.0 else float("nan")


def pixel_accuracy(counts: np.ndarray) -> float:
    """Trace over total of a confusion matrix: the fraction of voxels with the same label (0
    included) in both images.

    Parameters
    ----------
    counts : numpy.ndarray
        A square confusion matrix (GT rows, PRED columns).

    Returns
    -------
    float
        The accuracy.

    Examples
    --------
    >>> pixel_accuracy(np.array([[2, 1, 0], [0, 2, 1], [0, 0, 2]]))
    0.75
    """
    counts = np.asarray(counts)
    return _ratio(np.trace(counts), counts.sum())


def mean_pixel_accuracy(counts: np.ndarray) -> float:
    """Mean recall over the labels present in GT (0 included); labels only in PRED are left out,
    as scikit-learn's ``balanced_accuracy_score`` does.

    Parameters
    ----------
    counts : numpy.ndarray
        A square confusion matrix (GT rows, PRED columns).

    Returns
    -------
    float
        The mean recall.

    Examples
    --------
    >>> round(mean_pixel_accuracy(np.array([[2, 1, 0], [0, 2, 1], [0, 0, 2]])), 4)
    0.7778
    """
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.sum(axis=1)
    keep = rows > 0
    if not keep.any():
        return float("nan")
    return float(np.mean(np.diag(counts)[keep] / rows[keep]))
