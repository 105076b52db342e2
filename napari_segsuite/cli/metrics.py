"""``segsuite metrics PRED GT [--spacing Z,Y,X] [--json] [--csv FILE] [--tolerance MM]
[--hd95 medpy|monai|deepmind] [--instances]``: compare a segmentation with a ground truth (see
DESIGN.md for the JSON contract).

This module parses, reads PRED and GT, checks their grids, builds
:class:`~napari_segsuite.core.metrics.MetricsParams` and runs
:func:`~napari_segsuite.core.metrics.compare_job` (the Compare widget's job too), then prints
the JSON or the table and writes the CSV (:mod:`napari_segsuite.io.reports`)."""

from __future__ import annotations

import argparse
import sys

from ..core.metrics.pipeline import MetricsParams
from ._common import add_param, add_quiet_arg


def _help(name: str) -> str:
    """A field's help text with what its default (None) means."""
    from ..core.base.params import info

    i = info(MetricsParams, name)
    return f"{i.help} (default: {i.none_text})" if i.default is None else i.help


def register(sub) -> None:
    p = sub.add_parser(
        "metrics", help="compare a segmentation with a ground truth (Dice, IoU, Hausdorff, ...)",
        description="Compare PRED with the ground truth GT label by label: TP/FP/FN/TN, Dice, "
                    "IoU, precision, recall, specificity, F1, Hausdorff, HD95 and ASSD (in "
                    "physical units), pixel accuracy and the confusion matrix. Undefined ratios "
                    "(0/0) and the distances of an empty mask are null. Binary masks (0/1, "
                    "0/255, bool) are compared as foreground label 1.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("pred", metavar="PRED", help="the segmentation to judge (label image)")
    p.add_argument("gt", metavar="GT", help="the ground truth (label image, same grid)")
    p.add_argument("--spacing", metavar="Z,Y,X",
                   help=_help("spacing"))  # parsed once GT's dimension is known
    p.add_argument("--json", action="store_true", help="print one JSON object (see DESIGN.md)")
    p.add_argument("--csv", metavar="FILE", help="also write one row per label to FILE")
    p.add_argument("--force", action="store_true", help="overwrite the --csv FILE if it exists")
    p.add_argument("--labels", metavar="L1,L2", help=_help("labels"))
    add_param(p, MetricsParams, "threshold", metavar="T")
    add_param(p, MetricsParams, "background_label", metavar="N")
    add_param(p, MetricsParams, "distances", action="store_false",
              help="skip " + _help("distances"))
    add_param(p, MetricsParams, "binary")
    add_param(p, MetricsParams, "tolerance", metavar="MM")
    add_param(p, MetricsParams, "hd95")
    add_param(p, MetricsParams, "instances")
    add_quiet_arg(p)
    p.set_defaults(func=run)


EPILOG = """\
JSON (--json): one object
  labels            union of the non-zero labels of PRED and GT (or --labels)
  spacing           [z, y, x] from GT's header unless --spacing
  per_label         {"<label>": {tp, fp, fn, tn, dice, iou, precision, recall, specificity, f1,
                     mcc, volume_difference, hausdorff, hd95, assd, nsd, boundary_iou, cldice}}
  pixel_accuracy, mean_pixel_accuracy, kappa (Cohen's, over all labels with 0)
  confusion_matrix  {"labels": [0, ...], "counts": [[...]]} rows GT, columns PRED
  tolerance, hd95_convention
  instances         (--instances) {pq, sq, rq, f1, precision, recall, tp, fp, fn,
                     mean_matched_iou, f1_at: {"0.50": f, ..., "0.95": f},
                     lesions: {gt, pred, detected, missed, false_positive, sensitivity,
                     precision}}
  --no-distances leaves out hausdorff, hd95, assd, nsd, boundary_iou, cldice.

Definitions: mcc = Matthews correlation of the label against the rest; volume_difference =
(|P| - |G|) / |G|; hausdorff between the masks' voxel sets (as SimpleITK); boundary = mask minus
its face-connected erosion; hd95/assd: --hd95 medpy: 95th percentile / mean of the pooled
boundary-to-boundary distances (medpy.metric.hd95, assd); monai: the larger of the two directed
95th percentiles (compute_hausdorff_distance), pooled mean; deepmind: area-weighted surface
elements, the larger directed robust percentile (compute_robust_hausdorff), mean of the two
directed averages. nsd: normalised surface Dice at --tolerance (DeepMind's surface elements).
boundary_iou: IoU of the masks' voxels within --tolerance of their outside. cldice: skeleton
based (scikit-image). Instances: one-to-one matches at IoU > 0.5 (Kirillov et al.).

Empty masks (a label missing from PRED and/or GT): counts always given; a ratio with
denominator 0 is null (Dice, IoU, precision, recall, mcc, ... when both are empty; mcc also when
one side of its denominator is 0; volume_difference when GT is empty). hausdorff, hd95, assd:
null when either mask is empty. nsd: 1 when both are empty (as Metrics Reloaded), 0 when one is.
boundary_iou, cldice: null when both are empty, 0 when one is (cldice also null when a
skeleton is empty). kappa: null when both images are one and the same single label.
Instances: ratios null when no object is in either image; pq, rq, f1 = 0 and sq null when
objects are in one image only.
"""


def _parse_labels(text: str):
    from ..core.base.errors import InputError
    from ._common import int_list

    try:
        return int_list(text, 0)
    except ValueError as exc:
        raise InputError(f"--labels: {exc}") from None


def _fmt(v, width: int = 9) -> str:
    if v is None:
        return f"{'-':>{width}}"
    if isinstance(v, float):
        if v != v:
            return f"{'-':>{width}}"
        return f"{v:>{width}.4f}"
    return f"{v:>{width}}"


def format_table(result: dict) -> str:
    """The human-readable report (no --json)."""
    from ..io.reports import CSV_COLUMNS

    cols = [c for c in CSV_COLUMNS if c == "label" or any(c in m for m in result["per_label"].values())]
    widths = {c: max(9, len(c)) for c in cols}
    widths["label"] = max(5, max((len(k) for k in result["per_label"]), default=5))
    tp_w = max([len(str(m.get(c, ""))) for m in result["per_label"].values()
                for c in ("tp", "fp", "fn", "tn")] + [9])
    for c in ("tp", "fp", "fn", "tn"):
        widths[c] = tp_w
    lines = ["  ".join(f"{c:>{widths[c]}}" for c in cols)]
    for key, m in result["per_label"].items():
        row = [f"{key:>{widths['label']}}"]
        row += [_fmt(m.get(c), widths[c]) for c in cols[1:]]
        lines.append("  ".join(row))
    sp = ", ".join(f"{s:g}" for s in result["spacing"])
    lines.append("")
    lines.append(f"pixel accuracy       {_fmt(result['pixel_accuracy']).strip()}")
    lines.append(f"mean pixel accuracy  {_fmt(result['mean_pixel_accuracy']).strip()}")
    lines.append(f"Cohen's kappa        {_fmt(result.get('kappa')).strip()}")
    if "hd95_convention" in result:
        lines.append(f"nsd tolerance        {result['tolerance']:g}; HD95/ASSD convention "
                     f"{result['hd95_convention']}")
    lines.append(f"spacing (z, y, x)    {sp}")
    if result.get("binary"):
        lines.append("binary masks: any non-zero voxel is foreground (label 1)")
    lines.append("'-' = undefined (0/0, or a distance with an empty mask)")
    inst = result.get("instances")
    if inst:
        lines.append("")
        lines.append("instances (one-to-one matches at IoU > 0.5): " + ", ".join(
            f"{k} {_fmt(inst[k]).strip()}" for k in ("pq", "sq", "rq", "f1", "precision",
                                                      "recall", "tp", "fp", "fn")))
        lines.append("F1 at IoU > " + ", ".join(f"{t}: {_fmt(v).strip()}"
                                              for t, v in inst["f1_at"].items()))
        les = inst["lesions"]
        lines.append(f"lesion-wise (any overlap): {les['detected']} of {les['gt']} GT objects "
                     f"detected, {les['missed']} missed, {les['false_positive']} of "
                     f"{les['pred']} PRED objects false positive")
    cm = result["confusion_matrix"]
    if len(cm["labels"]) <= 12:
        w = max(6, max(len(str(c)) for row in cm["counts"] for c in row))
        lines.append("")
        lines.append("confusion matrix (rows GT, columns PRED)")
        lines.append(" " * 8 + "".join(f"{lab:>{w + 2}}" for lab in cm["labels"]))
        for lab, row in zip(cm["labels"], cm["counts"]):
            lines.append(f"{lab:>8}" + "".join(f"{c:>{w + 2}}" for c in row))
    return "\n".join(lines)


def write_csv(path: str, result: dict, force: bool = False):
    """Write the per-label CSV atomically (see :func:`napari_segsuite.io.reports.write_csv`)."""
    from ..core.base.errors import InputError
    from ..io.reports import write_csv as _write

    try:
        return _write(path, result, force=force)
    except InputError as exc:
        raise InputError(f"--csv {exc}") from None
    except OSError as exc:  # a read-only disk, no permission, disk full
        raise InputError(f"--csv {path}: cannot write it ({exc})") from None


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ..core.base.image import parse_spacing
    import numpy as np

    from ..core.metrics import compare_job
    from ..io.reports import check_report_path, to_json
    from ._common import read_input, require_labels, require_same_grid, run_job

    if args.csv:  # fail fast, before reading or computing anything
        try:
            check_report_path(args.csv, force=args.force)
        except InputError as exc:
            raise InputError(f"--csv {exc}") from None
    # the flags' values, named as flags (the job checks them again, for every caller)
    if not np.isfinite(args.tolerance) or args.tolerance < 0:
        raise InputError(f"--tolerance must be a non-negative number in mm, got {args.tolerance}")
    if args.threshold is not None and not np.isfinite(args.threshold):
        raise InputError(f"--threshold must be a number, got {args.threshold}")
    labels = _parse_labels(args.labels) if args.labels else None
    pred = read_input(args.pred, "PRED")
    gt = read_input(args.gt, "GT")
    if pred.multichannel or gt.multichannel:
        which = "PRED" if pred.multichannel else "GT"
        raise InputError(f"{which} has several channels; a label image has one")
    if pred.shape != gt.shape:
        raise InputError(f"PRED has shape {pred.shape} but GT has shape {gt.shape}; they must be "
                         "on the same grid")
    spacing = parse_spacing(args.spacing, gt.ndim) if args.spacing is not None else None
    # the same rule as every command and widget: another grid is refused, not compared
    require_same_grid(pred, args.pred, gt, "PRED", "GT")
    require_labels(gt, "GT")
    require_labels(pred, "PRED")  # NaN counted as background would flatter or punish silently
    params = MetricsParams(spacing=spacing, labels=None if labels is None else tuple(labels),
                           threshold=args.threshold, background_label=args.background_label,
                           binary=args.binary,
                           distances=args.distances, tolerance=args.tolerance, hd95=args.hd95,
                           instances=args.instances)
    out = run_job(compare_job(pred, params, gt=gt), args)
    result, pr = out.result, out.pr
    written = None
    if args.csv:  # first: a failed write is exit 2 with nothing on stdout
        written = write_csv(args.csv, result, force=args.force)
    if args.json:
        sys.stdout.write(to_json(result) + "\n")
    else:
        sys.stdout.write(format_table(result) + "\n")
        if pr is not None:
            sys.stdout.write(f"\nprobability map: average precision {pr.average_precision:.4f}; "
                             f"best F1 {pr.best_f1:.4f} at threshold {pr.best_threshold:.6g} "
                             f"(precision {pr.best_precision:.4f}, recall "
                             f"{pr.best_recall:.4f})\n")
    if pr is not None and args.json and not args.quiet:  # the JSON stays the contract's
        print(f"average precision {pr.average_precision:.4f}; best F1 {pr.best_f1:.4f} at "
              f"threshold {pr.best_threshold:.6g}", file=sys.stderr)
    if written is not None and not args.quiet:
        print(f"wrote {written}", file=sys.stderr)
    return 0
