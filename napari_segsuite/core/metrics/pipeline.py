"""One comparison job for the command line and the Compare widget.

:class:`MetricsParams` declares every choice of a comparison once (default, help text, limits:
``segsuite metrics``'s flags and the widget's controls read them from here), and
:func:`compare_job` makes every decision of assembling the comparison: thresholding a
probability map (and its precision-recall curve), the prediction's background label, whether
the images are compared as binary masks (:func:`~.confusion.binary_mode`), the spacing (GT's
unless given), the labels reported, distances on or off, instance matching and the per-slice
Dice. ``segsuite metrics`` only parses, reads the files, runs the job and writes
(:mod:`napari_segsuite.io.reports`); the widget only reads its controls and layers, runs the job
through its JobPanel and shows the result. The grid check (spacing, origin, direction of PRED
against GT) stays with the two readers, where the geometry is: files (``cli._common.
require_same_grid``) and layers (``widgets._layers.check_same_grid``), one rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..base.errors import InputError
from ..base.params import param
from ..base.progress import Progress
from .confusion import BINARY_CHOICES, binary_mode
from .pr import PRCurve, pr_curve
from .slices import per_slice_dice
from .surface import DEFAULT_TOLERANCE, HD95_CONVENTIONS

#: Per-slice Dice curves are computed for at most this many labels (plus all labels together).
MAX_SLICE_LABELS = 32


@dataclass(frozen=True)
class MetricsParams:
    """The choices of one comparison (``segsuite metrics``, the Compare widget).

    Examples
    --------
    >>> MetricsParams().tolerance, MetricsParams().hd95, MetricsParams().binary
    (1.0, 'medpy', None)
    >>> MetricsParams(threshold=0.5).threshold
    0.5
    """

    spacing: Optional[Tuple[float, ...]] = param(
        None, "voxel spacing in numpy order", flag="--spacing", none_text="GT's header")
    labels: Optional[Tuple[int, ...]] = param(
        None, "report only these labels", none_text="every non-zero label of both")
    threshold: Optional[float] = param(
        None, "PRED is a probability/score map: voxels >= T are foreground (compared as a "
              "binary mask); also gives the average precision and the best-F1 threshold",
        none_text="PRED is a label image")
    background_label: Optional[int] = param(
        None, "a label of the prediction that means background (e.g. the background seed label "
              "of a GrowCut result): counted as 0, not as a class", minimum=0, none_text="none")
    binary: Optional[str] = param(
        None, "yes: any non-zero voxel is foreground; no: compare label values as they are; "
              "auto: yes only for a 0/1 mask against a 0/255 one", choices=BINARY_CHOICES,
        label="Binary masks", none_text="auto; yes with instances or a threshold", advanced=True)
    distances: bool = param(
        True, "the surface distances and figures: Hausdorff, HD95, ASSD, NSD, boundary IoU, "
              "clDice (the slow part; without them their keys are absent)", flag="--no-distances",
        label="Surface figures")
    tolerance: float = param(
        DEFAULT_TOLERANCE, "tolerance of the normalised surface Dice and width of the boundary "
                           "IoU's boundary region, in physical units", minimum=0.0,
        maximum=1000.0, label="NSD tolerance", advanced=True)
    hd95: str = param(
        "medpy", "whose HD95 and ASSD: medpy (pooled boundary distances), monai (larger "
                 "directed percentile), deepmind (area-weighted surface elements, larger "
                 "directed percentile)", choices=HD95_CONVENTIONS, label="HD95", advanced=True)
    instances: bool = param(
        False, "PRED and GT are instance label maps (or binary masks, split into connected "
               "objects): add one-to-one matching at IoU > 0.5 (PQ, SQ, RQ, F1, ...); the "
               "per-label figures then compare the foregrounds")
    slice_axis: Optional[int] = param(
        None, "Dice slice by slice along this axis (3D images)", none_text="no per-slice Dice")


@dataclass(frozen=True, eq=False)
class Comparison:
    """What :func:`compare_job` returns.

    Attributes
    ----------
    result : dict
        The ``segsuite metrics --json`` object.
    pr : PRCurve or None
        The precision-recall curve (with a threshold).
    slices : dict or None
        Per-slice Dice (with ``slice_axis``).

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> out = run(compare_job(np.array([[0, 1, 1, 0]]), MetricsParams(distances=False),
    ...                       gt=np.array([[0, 1, 0, 0]])))
    >>> round(out.result["per_label"]["1"]["dice"], 3), out.pr, out.slices
    (0.667, None, None)
    """

    #: :func:`~.comparison.compare`'s dict: the ``segsuite metrics --json`` object (and
    #: ``"binary"``, how the images were compared).
    result: Dict[str, Any]
    #: The precision-recall curve of a thresholded score map (None without a threshold, or
    #: when GT has no foreground).
    pr: Optional[PRCurve] = None
    #: Per-slice Dice (``params.slice_axis``, 3D): :func:`~.slices.per_slice_dice`'s dict of
    #: all labels together, plus ``"by_label"`` (up to :data:`MAX_SLICE_LABELS` labels).
    slices: Optional[Dict[str, Any]] = None


def _array(img: Any, what: str) -> np.ndarray:
    from ..base.image import SegImage

    if isinstance(img, SegImage):
        if img.multichannel:
            raise InputError(f"{what} has {img.n_channels} channels; a label image has one")
        return img.array
    return np.asarray(img)


def compared_prediction(pred: Any, params: MetricsParams) -> np.ndarray:
    """The prediction as it is compared: thresholded at ``params.threshold`` (a 0/1 uint8
    mask) or with ``params.background_label`` counted as 0 (a new array; the input is never
    changed). The TP/FP/FN overlay of the widget shows this.

    Parameters
    ----------
    pred : array_like or SegImage
        The prediction (labels or scores).
    params : MetricsParams
        ``threshold`` and ``background_label`` are used.

    Returns
    -------
    numpy.ndarray
        The prediction as compared.

    Examples
    --------
    >>> compared_prediction(np.array([0.2, 0.7]), MetricsParams(threshold=0.5)).tolist()
    [0, 1]
    >>> compared_prediction(np.array([3, 1, 3]), MetricsParams(background_label=3)).tolist()
    [0, 1, 0]
    """
    p = _array(pred, "PRED")
    if params.threshold is not None and params.background_label is not None:
        raise InputError("a background label applies to a label prediction, not to a "
                         "thresholded probability map; give one or the other")
    if params.threshold is not None:
        if p.dtype.kind not in "biuf":
            raise InputError(f"PRED has dtype {p.dtype}; a threshold needs numbers")
        if not math.isfinite(float(params.threshold)):
            raise InputError(f"the threshold must be a number, got {params.threshold}")
        return (p >= params.threshold).view(np.uint8)
    if params.background_label is not None:
        if params.background_label < 0:
            raise InputError(f"the background label must be >= 0, got {params.background_label}")
        return np.where(p == params.background_label, p.dtype.type(0), p)
    return p


def compare_job(pred: Any, params: MetricsParams = MetricsParams(), *, gt: Any):
    """Job generator: compare a prediction with a ground truth as ``params`` say.

    Parameters
    ----------
    pred
        The prediction: a label image, or a probability / score map with ``params.threshold``
        (a numpy array or a :class:`~napari_segsuite.core.base.image.SegImage`).
    params
        The comparison's choices (:class:`MetricsParams`).
    gt
        The ground truth label image, same shape (a SegImage gives the default spacing).

    Yields
    ------
    Progress
        Per slab of voxels and per label.

    Returns
    -------
    Comparison
        The result dict (the ``--json`` object), the PR curve, the per-slice Dice.

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> gt = np.array([[0, 1, 1, 0]])
    >>> out = run(compare_job(np.array([[0.1, 0.9, 0.4, 0.2]]),
    ...                       MetricsParams(threshold=0.3, distances=False), gt=gt))
    >>> out.result["labels"], out.result["per_label"]["1"]["dice"], out.result["binary"]
    ([1], 1.0, True)
    >>> out.pr.best_threshold
    0.4
    """
    from .comparison import compare_steps

    if params.labels is not None and any(int(v) < 0 for v in params.labels):
        raise InputError(f"labels must be non-negative integers, got {list(params.labels)}")
    g = _array(gt, "GT")
    pr = None
    if params.threshold is not None:
        score = _array(pred, "PRED")
        if score.dtype.kind == "f" and not np.isfinite(score).all():
            raise InputError("PRED holds NaN or infinite values; a probability map needs "
                             "finite values")
        p = compared_prediction(score, params)
        if score.shape == g.shape and (g != 0).any():  # a curve needs positives
            yield Progress(None, None, "precision-recall curve")
            pr = pr_curve(score, g)
    else:
        p = compared_prediction(pred, params)
    binary = binary_mode(params.binary, instances=params.instances,
                         thresholded=params.threshold is not None)
    result = yield from compare_steps(
        p, gt, spacing=params.spacing,
        labels=None if params.labels is None else [int(v) for v in params.labels],
        distances=params.distances, binary=binary, tolerance=params.tolerance,
        hd95=params.hd95, instances=params.instances)
    slices = None
    if params.slice_axis is not None and p.ndim >= 3:
        slices = yield from _slices_steps(p, g, result, params.slice_axis)
    return Comparison(result=result, pr=pr, slices=slices)


def _slices_steps(p: np.ndarray, g: np.ndarray, result: dict, axis: int):
    """Per-slice Dice of all labels together and of the first labels, as compared."""
    yield Progress(None, None, "per-slice Dice")
    by_label = {}
    if result.get("binary"):
        slices = per_slice_dice(p != 0, g != 0, axis=axis)
    else:
        slices = per_slice_dice(p, g, axis=axis)
        for lab in result["labels"][:MAX_SLICE_LABELS]:
            yield Progress(None, None, f"per-slice Dice, label {lab}")
            by_label[lab] = per_slice_dice(p, g, axis=axis, label=lab)
    slices["by_label"] = by_label
    return slices
