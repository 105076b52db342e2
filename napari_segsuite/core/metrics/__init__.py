"""Comparing a segmentation with a ground truth: overlap figures, surface distances, PR curves.

napari-free: numpy arrays (or :class:`~napari_segsuite.core.base.image.SegImage`) in, plain data out.

Entry points
------------
- :func:`compare_dask`: the same counts and overlap figures for dask arrays, MCC, volume
  difference and kappa included (no distances, no surface figures).
- :class:`MetricsParams` / :func:`compare_job`: the one comparison job of ``segsuite metrics``
  and the Compare widget (threshold, background label, binary mode, PR curve, per-slice Dice).
- :func:`compare` / :func:`compare_steps`: everything the ``segsuite metrics --json`` contract
  (DESIGN.md) prints, as a plain ``dict`` with NaN for undefined ratios
  (:func:`napari_segsuite.io.reports.to_json` maps NaN to ``null``; the CSV table and the files
  are written there too: this package returns data only). The ``_steps`` version is a job
  generator (it yields :class:`~napari_segsuite.core.base.progress.Progress` per slab and per
  label).
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
  0/255 label by label. The one rule is :func:`binary_mode` (``"auto"``, ``"yes"``, ``"no"``;
  unset in :class:`MetricsParams`: yes for instances or a threshold).
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

from .comparison import compare, compare_dask, compare_steps
from .confusion import (BINARY_CHOICES, COUNT_KEYS, MAX_LABELS, METRIC_KEYS, binary_mode,
                        cohen_kappa, confusion_matrix, mean_pixel_accuracy,
                        overlap_from_confusion, pixel_accuracy)
from .distances import DISTANCE_KEYS, boundary, surface_distances
from .pipeline import MAX_SLICE_LABELS, Comparison, MetricsParams, compare_job, compared_prediction
from .pr import PRCurve, pr_curve
from .slices import OVERLAY_FN, OVERLAY_FP, OVERLAY_TP, overlay, per_slice_dice
from .surface import DEFAULT_TOLERANCE, HD95_CONVENTIONS, SURFACE_KEYS, check_options

__all__ = ["MetricsParams", "compare_job", "Comparison", "compared_prediction", "binary_mode",
           "BINARY_CHOICES", "MAX_SLICE_LABELS", "compare", "compare_steps", "compare_dask",
           "confusion_matrix", "overlap_from_confusion",
           "cohen_kappa", "pixel_accuracy", "mean_pixel_accuracy", "boundary",
           "surface_distances", "PRCurve", "pr_curve", "per_slice_dice", "overlay", "OVERLAY_TP",
           "OVERLAY_FP", "OVERLAY_FN", "METRIC_KEYS", "COUNT_KEYS", "DISTANCE_KEYS",
           "SURFACE_KEYS", "MAX_LABELS", "DEFAULT_TOLERANCE", "HD95_CONVENTIONS", "check_options"]
