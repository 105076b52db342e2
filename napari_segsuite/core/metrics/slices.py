"""Where does the segmentation fail: Dice slice by slice, and the TP/FP/FN overlay image."""

from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np

from ..base.errors import InputError
from ._inputs import _unpack


def _masks(pred: Any, gt: Any, label: Optional[int]):
    """(PRED's mask, GT's mask, true positives) of one label, or of all labels together (a true
    positive: the same non-zero label in both)."""
    p, _ = _unpack(pred, "PRED")
    g, _ = _unpack(gt, "GT")
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must match")
    if label is None:
        a, b = p != 0, g != 0
        return a, b, a & (p == g)
    a, b = p == label, g == label
    return a, b, a & b


def per_slice_dice(pred: Any, gt: Any, axis: int = 0, label: Optional[int] = None
                   ) -> Dict[str, np.ndarray]:
    """Dice of every slice along ``axis``.

    ``label=None``: all labels together (a voxel is a true positive when PRED and GT hold the same
    non-zero label; the sizes are the non-zero voxel counts). Returns ``dice`` (NaN where both
    slices are empty), ``tp``, ``pred`` and ``gt`` voxel counts per slice.

    Parameters
    ----------
    pred, gt : array_like
        PRED and GT label images of the same shape.
    axis : int
        The slicing axis.
    label : int, optional
        The one label compared (None: all labels).

    Returns
    -------
    dict of str to numpy.ndarray
        ``dice``, ``tp``, ``pred``, ``gt`` per slice.

    Examples
    --------
    >>> pred = np.zeros((3, 2, 2), int); gt = pred.copy()
    >>> pred[0] = 1; gt[0] = 1; gt[1] = 1
    >>> per_slice_dice(pred, gt, axis=0)["dice"].tolist()
    [1.0, 0.0, nan]
    """
    a, b, t = _masks(pred, gt, label)
    if not -a.ndim <= axis < a.ndim:
        raise InputError(f"axis {axis} is out of range for a {a.ndim}D image")
    axis = axis % a.ndim
    other = tuple(i for i in range(a.ndim) if i != axis)
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

    Parameters
    ----------
    pred, gt : array_like
        PRED and GT label images of the same shape.
    label : int, optional
        The one label compared (None: all labels).

    Returns
    -------
    numpy.ndarray
        uint8 codes 0..3, of the images' shape.

    Examples
    --------
    >>> overlay(np.array([[1, 1, 0, 0]]), np.array([[1, 0, 1, 0]])).tolist()
    [[1, 2, 3, 0]]
    """
    a, b, tp = _masks(pred, gt, label)
    out = np.zeros(a.shape, dtype=np.uint8)
    out[b] = OVERLAY_FN
    out[a] = OVERLAY_FP
    out[tp] = OVERLAY_TP
    return out
