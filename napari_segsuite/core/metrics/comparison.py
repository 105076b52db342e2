"""The comparison: every figure of the ``segsuite metrics --json`` contract as a plain dict
(:func:`compare`, its job generator :func:`compare_steps`), and :func:`compare_dask` for label
images larger than memory."""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Optional, Sequence, Union

import numpy as np

from ..base.errors import InputError
from ..base.progress import Progress, run
from ._inputs import _check
from .confusion import (_label_union, _pair_counts, binary_mode, cohen_kappa, count_steps,
                        mean_pixel_accuracy, overlap_from_confusion, pixel_accuracy)
from .distances import _union_crop, label_boxes
from .surface import DEFAULT_TOLERANCE, check_options


def compare_steps(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                  labels: Optional[Iterable[int]] = None, distances: bool = True,
                  binary: Union[None, bool, str] = None, tolerance: float = DEFAULT_TOLERANCE,
                  hd95: str = "medpy", instances: bool = False):
    """Job generator behind :func:`compare` (yields Progress per slab and per label; same
    parameters, returns the same dict).

    Parameters
    ----------
    pred, gt, spacing, labels, distances, binary, tolerance, hd95, instances
        As :func:`compare`.

    Yields
    ------
    Progress
        Per slab and per label.

    Returns
    -------
    dict
        As :func:`compare` (the generator's return value).

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> run(compare_steps(np.array([[0, 1]]), np.array([[0, 1]]), distances=False))["labels"]
    [1]
    """
    from concurrent.futures import ThreadPoolExecutor

    from .surface import _skeletons, empty_figures, label_figures_steps

    tolerance, hd95 = check_options(tolerance, hd95)
    yield Progress(0, None, "reading labels")
    p, g, spacing = _check(pred, gt, spacing)
    inst = None
    if instances:
        from .instances import instance_figures_steps

        inst = yield from instance_figures_steps(p, g)
    counted = yield from count_steps(p, g, binary)
    report = _report_labels(counted.labels, labels)
    result = _result(report, spacing, counted.labels, counted.counts, counted.binary)
    if distances:
        result["tolerance"] = tolerance
        result["hd95_convention"] = hd95
    if inst is not None:
        result["instances"] = inst
    per_label = result["per_label"]
    if distances and report:
        lab_p, lab_g = counted.pred_image, counted.gt_image
        top = max([counted.value_of(v) for v in report], default=0)
        p_obj = label_boxes(lab_p, top)
        g_obj = label_boxes(lab_g, top)

        def masks(v):
            """The label's masks on the union of its boxes (+1), or None when one is empty."""
            i = counted.value_of(v)
            bp = p_obj[i - 1] if 0 < i <= len(p_obj) else None
            bg = g_obj[i - 1] if 0 < i <= len(g_obj) else None
            if bp is None or bg is None:
                per_label[str(v)].update(empty_figures(bp is None, bg is None))
                return None
            crop = _union_crop(bp, bg, lab_p.shape)
            return lab_p[crop] == i, lab_g[crop] == i

        # clDice's skeletons are thinned on a second thread (the kernels release the GIL), one
        # label ahead of the distances computed here
        pool = ThreadPoolExecutor(max_workers=1)
        try:
            ahead = masks(report[0])
            ahead = (ahead, pool.submit(_skeletons, *ahead) if ahead else None)
            for k, v in enumerate(report):
                yield Progress(k, len(report), f"surface distances, label {v}")
                (ab, skel), ahead = ahead, None
                if k + 1 < len(report):
                    nxt = masks(report[k + 1])
                    ahead = (nxt, pool.submit(_skeletons, *nxt) if nxt else None)
                if ab is None:
                    continue
                figs = yield from label_figures_steps(ab[0], ab[1], spacing, tolerance, hd95,
                                                      message=f"surface figures, label {v}",
                                                      skeletons=skel)
                per_label[str(v)].update(figs)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
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
            binary: Union[None, bool, str] = None, tolerance: float = DEFAULT_TOLERANCE,
            hd95: str = "medpy", instances: bool = False) -> dict:
    """Compare a prediction with a ground truth; the ``segsuite metrics --json`` object as a dict.

    Parameters
    ----------
    pred, gt
        Label arrays or SegImages of the same shape (2D or 3D); 0 is background.
    spacing
        Voxel spacing in numpy order; default GT's spacing (SegImage) or 1.
    labels
        The labels to report (default: the union of the non-zero labels of both).
    distances
        False skips the surface distances and the surface figures (their keys are then absent).
    binary
        ``"auto"`` (or None), ``"yes"`` (True), ``"no"`` (False): see
        :func:`~.confusion.binary_mode`.
    tolerance
        Physical units, for ``nsd`` and ``boundary_iou``.
    hd95
        Whose HD95/ASSD convention: ``"medpy"``, ``"monai"`` or ``"deepmind"`` (see
        :mod:`.surface`).
    instances
        Add ``result["instances"]``: one-to-one matching of the objects of PRED and GT (see
        :mod:`.instances`).

    Returns
    -------
    dict
        ``labels``, ``spacing``, ``per_label`` (``{"1": {"tp": ..., "dice": ...}}``),
        ``pixel_accuracy``, ``mean_pixel_accuracy``, ``kappa``, ``confusion_matrix``, with
        distances ``tolerance`` and ``hd95_convention``, and ``binary`` (whether the images
        were compared as binary masks; dropped from the command's JSON). Undefined ratios are
        NaN; :func:`napari_segsuite.io.reports.to_json` gives the JSON text (NaN -> null).

    Examples
    --------
    >>> pred = np.array([[0, 1, 1, 2], [0, 1, 2, 2]])
    >>> gt = np.array([[0, 1, 1, 1], [0, 0, 2, 2]])
    >>> r = compare(pred, gt, spacing=(1.0, 0.5))
    >>> r["labels"], r["per_label"]["1"]["dice"], r["per_label"]["1"]["hausdorff"]
    ([1, 2], 0.6666666666666666, 1.0)
    >>> r["pixel_accuracy"], r["confusion_matrix"]["counts"]
    (0.75, [[2, 1, 0], [0, 2, 1], [0, 0, 2]])
    """
    return run(compare_steps(pred, gt, spacing=spacing, labels=labels, distances=distances,
                             binary=binary, tolerance=tolerance, hd95=hd95,
                             instances=instances))


def compare_dask(pred: Any, gt: Any, spacing: Optional[Sequence[float]] = None,
                 labels: Optional[Iterable[int]] = None,
                 binary: Union[None, bool, str] = None) -> dict:
    """:func:`compare` for label images too large for memory (dask arrays, or anything
    ``dask.array.asarray`` takes), on any dask scheduler: the confusion matrix is counted block by
    block and summed, so every count and overlap figure equals :func:`compare`'s exactly (MCC,
    volume difference and kappa included: they are counts). The surface distances and surface
    figures are not computed (their keys are absent, as with ``distances=False``): they need the
    whole masks. ``spacing`` is only reported.

    Parameters
    ----------
    pred, gt : dask.array.Array or array_like
        PRED and GT label images of the same shape.
    spacing : sequence of float, optional
        Voxel size per axis (reported only).
    labels : iterable of int, optional
        The labels reported (None: every label present).
    binary : bool or str, optional
        See :func:`~.confusion.binary_mode` (None: ``"auto"``).

    Returns
    -------
    dict
        As :func:`compare`, without the surface keys.

    Examples
    --------
    >>> import dask.array as da
    >>> pred = da.from_array(np.array([[0, 1, 1, 2], [0, 1, 2, 2]]), chunks=1)
    >>> gt = da.from_array(np.array([[0, 1, 1, 1], [0, 0, 2, 2]]), chunks=1)
    >>> compare_dask(pred, gt)["per_label"]["1"]["dice"]
    0.6666666666666666
    """
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
    binary = binary_mode("auto" if binary is None else binary, pred_values=pv, gt_values=gv)
    if binary:
        pv_, gv_ = (pv_ != 0).astype(np.int64), (gv_ != 0).astype(np.int64)
        pv, gv = np.unique(pv_), np.unique(gv_)
    all_labels = _label_union(pv, gv)
    counts = np.zeros((len(all_labels), len(all_labels)), np.int64)
    np.add.at(counts, (np.searchsorted(all_labels, gv_), np.searchsorted(all_labels, pv_)), c_)
    if binary and counts[1:, :].sum() + counts[:, 1:].sum() == 0:
        all_labels, counts = all_labels[:1], counts[:1, :1]
    return _result(_report_labels(all_labels, labels), spacing, all_labels, counts, binary)
