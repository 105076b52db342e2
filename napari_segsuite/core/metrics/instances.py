"""Instance quality: one-to-one matching of the objects of PRED and GT (nuclei, cells, lesions).

Objects
-------
Each distinct non-zero value of a label image is one object (an instance label map). An image
holding one non-zero value only (a binary mask) is split into its face-connected components
first, so a lesion mask compares lesion by lesion.

Matching and figures (Kirillov et al. 2019, "Panoptic segmentation")
-------------------------------------------------------------------
A PRED object and a GT object match when their IoU is > 0.5; such matches are one-to-one (two
objects cannot both overlap a third by more than half its union). ``tp`` = matches, ``fp`` = PRED
objects without a match, ``fn`` = GT objects without a match.

- ``sq`` = ``mean_matched_iou`` = the mean IoU of the matches;
- ``rq`` = ``f1`` = ``tp / (tp + fp/2 + fn/2)``; ``precision`` = ``tp / (tp + fp)``,
  ``recall`` = ``tp / (tp + fn)``;
- ``pq`` = ``sum of matched IoU / (tp + fp/2 + fn/2)`` = ``sq * rq``;
- ``f1_at``: F1 with matches at IoU > t for t = 0.50, 0.55, ..., 0.95 (the cell-segmentation
  benchmarks' curve; above 0.5 the matching stays one-to-one);
- ``lesions``: detection counts with any overlap (>= 1 voxel) as the criterion: ``gt``/``pred``
  objects, ``detected`` GT objects touched by PRED, ``missed`` = ``gt - detected``,
  ``false_positive`` PRED objects touching no GT object, and the lesion-wise ``sensitivity``
  (detected / gt) and ``precision`` ((pred - false_positive) / pred).

Empty images: counts are always given; a ratio whose denominator is 0 is NaN (``null``), so with
no object in either image every ratio is NaN; with objects in one image only, ``pq``, ``rq``,
``f1`` are 0 and ``sq`` is NaN (no match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Tuple

import numpy as np

from ..base.progress import Progress, run

#: The contract's keys of the ``"instances"`` object (DESIGN.md).
INSTANCE_KEYS = ("pq", "sq", "rq", "f1", "precision", "recall", "tp", "fp", "fn",
                 "mean_matched_iou")
#: IoU thresholds of ``f1_at``.
IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
_NAN = float("nan")


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else _NAN


def as_instances(lab: np.ndarray) -> np.ndarray:
    """The image as an instance map: a binary mask (one non-zero value) becomes its
    face-connected components; anything else is returned as it is.

    Parameters
    ----------
    lab : numpy.ndarray
        An instance map or a binary mask.

    Returns
    -------
    numpy.ndarray
        The instance map.

    Examples
    --------
    >>> as_instances(np.array([[1, 1, 0, 1]])).tolist()
    [[1, 1, 0, 2]]
    """
    from scipy import ndimage as ndi

    lab = np.asarray(lab)
    nz = lab[lab != 0]
    if nz.size and np.all(nz == nz[0]):
        out, _n = ndi.label(lab != 0)
        return out
    return lab


def _ids_and_sizes(lab: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    flat = lab.reshape(-1)
    ids, sizes = np.unique(flat[flat != 0], return_counts=True)
    return ids.astype(np.int64), sizes.astype(np.int64)


@dataclass(frozen=True, eq=False)
class Overlaps:
    """The objects of GT and PRED and their pairwise overlaps (only overlapping pairs).

    Attributes
    ----------
    gt_ids, pred_ids : numpy.ndarray
        The object values of GT and PRED, sorted.
    gt_sizes, pred_sizes : numpy.ndarray
        Their voxel counts.
    gt_index, pred_index, shared : numpy.ndarray
        Pair ``k``: GT object ``gt_ids[gt_index[k]]`` and PRED object ``pred_ids[pred_index[k]]``
        share ``shared[k]`` voxels.

    Examples
    --------
    >>> o = overlaps(np.array([[1, 1, 0, 2]]), np.array([[5, 0, 0, 5]]))
    >>> o.gt_sizes.tolist(), o.pred_sizes.tolist(), o.pred_index.tolist()
    ([2], [2, 1], [0, 1])
    """

    gt_ids: np.ndarray
    gt_sizes: np.ndarray
    pred_ids: np.ndarray
    pred_sizes: np.ndarray
    #: Pair ``k`` is GT object ``gt_ids[gt_index[k]]`` and PRED object ``pred_ids[pred_index[k]]``
    #: sharing ``shared[k]`` voxels.
    gt_index: np.ndarray
    pred_index: np.ndarray
    shared: np.ndarray


def overlaps(pred: np.ndarray, gt: np.ndarray) -> Overlaps:
    """The objects of two instance maps (each non-zero value one object) and their overlaps.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        Instance maps of the same shape.

    Returns
    -------
    Overlaps
        The objects and their overlapping pairs.

    Examples
    --------
    >>> o = overlaps(np.array([[1, 1, 0, 2]]), np.array([[5, 0, 0, 5]]))
    >>> o.gt_ids.tolist(), o.pred_ids.tolist(), o.shared.tolist()
    ([5], [1, 2], [1, 1])
    """
    gids, gsz = _ids_and_sizes(gt)
    pids, psz = _ids_and_sizes(pred)
    both = (gt != 0) & (pred != 0)
    g_idx = np.searchsorted(gids, gt[both].astype(np.int64))
    p_idx = np.searchsorted(pids, pred[both].astype(np.int64))
    code = g_idx * max(len(pids), 1) + p_idx
    pairs, inter = np.unique(code, return_counts=True)
    n_p = max(len(pids), 1)
    return Overlaps(gids, gsz, pids, psz, pairs // n_p, pairs % n_p, inter.astype(np.int64))


def instance_figures_steps(pred: np.ndarray, gt: np.ndarray):
    """Job generator behind :func:`instance_figures`.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        Instance label maps (or binary masks) of the same shape.

    Yields
    ------
    Progress
        Before the objects and before the matching.

    Returns
    -------
    dict
        As :func:`instance_figures` (the generator's return value).

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> f = run(instance_figures_steps(np.array([[1, 1, 0, 2]]), np.array([[5, 5, 0, 0]])))
    >>> f["tp"], f["fp"], f["fn"]
    (1, 1, 0)
    """
    yield Progress(None, None, "instances: objects")
    p = as_instances(pred)
    g = as_instances(gt)
    o = overlaps(p, g)
    gids, gsz, pids, psz = o.gt_ids, o.gt_sizes, o.pred_ids, o.pred_sizes
    gi, pi, inter = o.gt_index, o.pred_index, o.shared
    yield Progress(None, None, "instances: matching")
    iou = inter / (gsz[gi] + psz[pi] - inter).astype(np.float64)
    n_g, n_p = len(gids), len(pids)
    m = iou > 0.5
    tp = int(m.sum())
    fp, fn = n_p - tp, n_g - tp
    sum_iou = float(iou[m].sum())
    den = tp + 0.5 * fp + 0.5 * fn
    out: Dict[str, object] = {
        "pq": _ratio(sum_iou, den), "sq": _ratio(sum_iou, tp), "rq": _ratio(tp, den),
        "f1": _ratio(tp, den), "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
        "tp": tp, "fp": fp, "fn": fn, "mean_matched_iou": _ratio(sum_iou, tp)}
    out["f1_at"] = {f"{t:.2f}": _ratio(2 * int((iou > t).sum()), n_g + n_p)
                    for t in IOU_THRESHOLDS}
    detected = int(len(np.unique(gi)))
    touching_pred = int(len(np.unique(pi)))
    out["lesions"] = {"gt": n_g, "pred": n_p, "detected": detected, "missed": n_g - detected,
                      "false_positive": n_p - touching_pred,
                      "sensitivity": _ratio(detected, n_g),
                      "precision": _ratio(touching_pred, n_p)}
    return out


def instance_figures(pred: np.ndarray, gt: np.ndarray) -> dict:
    """PQ, SQ, RQ, F1, precision, recall, tp, fp, fn, mean matched IoU, ``f1_at`` and
    ``lesions`` of two instance label maps (or binary masks) of the same shape; see the module
    docstring.

    Parameters
    ----------
    pred, gt : numpy.ndarray
        Instance label maps (or binary masks) of the same shape.

    Returns
    -------
    dict
        The figures by name.

    Examples
    --------
    >>> f = instance_figures(np.array([[1, 1, 0, 2, 2, 0, 3]]), np.array([[5, 5, 0, 6, 0, 0, 0]]))
    >>> f["tp"], f["fp"], f["fn"], f["pq"], f["lesions"]["detected"]
    (1, 2, 1, 0.4, 2)
    """
    from ..base.errors import InputError

    p, g = np.asarray(pred), np.asarray(gt)
    if p.shape != g.shape:
        raise InputError(f"PRED has shape {p.shape} but GT has shape {g.shape}; they must match")
    return run(instance_figures_steps(p, g))
