"""Precision-recall curve of a score / probability image against a binary ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from ..base.errors import InputError
from ._inputs import _unpack


@dataclass
class PRCurve:
    """Precision-recall curve, in scikit-learn's layout: ``thresholds`` increasing,
    ``precision``/``recall`` one longer (ending with precision 1, recall 0). A voxel is predicted
    positive when ``score >= threshold``.

    Attributes
    ----------
    precision, recall, thresholds : numpy.ndarray
        The curve.
    average_precision : float
        Area under the step curve (scikit-learn's ``average_precision_score``).
    best_threshold, best_f1, best_precision, best_recall : float
        The threshold of the highest F1 and its figures.
    n_positive : int
        GT's positive voxels.
    exact : bool
        False when computed on histogram bins.

    Examples
    --------
    >>> import numpy as np
    >>> c = pr_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> c.n_positive, c.best_recall, c.exact
    (2, 1.0, True)
    """

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

    Parameters
    ----------
    score
        The score / probability image (finite numbers).
    gt
        The ground truth, same shape; needs at least one foreground voxel.
    bins, max_exact
        Histogram bins instead of every distinct score (automatic above ``max_exact`` voxels).

    Returns
    -------
    PRCurve

    Examples
    --------
    >>> c = pr_curve(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    >>> c.average_precision, c.best_threshold, c.best_f1
    (0.8333333333333333, 0.35, 0.8)
    >>> c.thresholds.tolist(), c.recall.tolist()
    ([0.1, 0.35, 0.4, 0.8], [1.0, 1.0, 0.5, 0.5, 0.0])
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
