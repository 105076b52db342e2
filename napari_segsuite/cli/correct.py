"""``segsuite correct LABELS -o OUT OPERATION [--label N[,N..]] [--lock N[,N..]] [--overwrite]``."""

from __future__ import annotations

import argparse

from ..core.base.labels import as_labels
from ._common import add_connectivity_arg, add_output_args, add_param
from ._common import finite_float as _number, label_list as _label_list, nonneg_int as _count


def register(sub) -> None:
    p = sub.add_parser(
        "correct", help="correct a label map: fill between slices, holes, islands, margin, "
                        "hollow, smoothing",
        description="Correct a label map (0 = background) with exactly one OPERATION. Every "
                    "label is processed on its own unless --label limits the labels; --lock "
                    "protects labels from any change; filled holes, grown margins and filled "
                    "slices take only background voxels unless --overwrite. Distances are in "
                    "physical units (the file's spacing, e.g. mm). OUT keeps LABELS' geometry.",
        epilog="Examples: segsuite correct seg.nii.gz -o out.nii.gz --fill-between-slices "
               "--axis 0 --image t1.nii.gz;  segsuite correct seg.nii.gz -o out.nii.gz "
               "--margin 2 --label 3 --lock 1")
    p.add_argument("labels", metavar="LABELS", help="label image (2D or 3D; 0 = background)")
    add_output_args(p)
    from ..core.base.params import info
    from ..core.correct.pipeline import CorrectParams as P

    op = p.add_argument_group("OPERATION (exactly one)").add_mutually_exclusive_group(
        required=True)
    add_param(op, P, "fill_between_slices")
    add_param(op, P, "fill_holes")
    add_param(op, P, "remove_islands", type=_count, metavar="MIN_VOXELS",
              help=_help(P, "remove_islands"))
    add_param(op, P, "keep_largest")
    add_param(op, P, "split_islands")
    add_param(op, P, "margin", type=_number, metavar="MM", help=_help(P, "margin"))
    add_param(op, P, "hollow", type=_number, metavar="MM", help=_help(P, "hollow"))
    add_param(op, P, "smooth", help=_help(P, "smooth"))
    o = p.add_argument_group("operation options")
    add_param(o, P, "axis", type=int, metavar="A", help=_help(P, "axis"))
    o.add_argument("--image", metavar="IMAGE", default=None,
                   help="--fill-between-slices: grow the labels along this image (on LABELS' "
                        "grid) with GrowCut instead of interpolating their shape")
    add_param(o, P, "per_slice", type=int, metavar="A", help=_help(P, "per_slice"))
    add_param(o, P, "radius", type=_number, metavar="MM", help=_help(P, "radius"))
    c = p.add_argument_group("which labels, protection")
    add_param(c, P, "label", type=_label_list, metavar="N[,N..]", help=_help(P, "label"))
    add_param(c, P, "lock", type=_label_list, default=None, metavar="N[,N..]",
              help=_help(P, "lock"))
    add_param(c, P, "overwrite")
    add_connectivity_arg(c, default=info(P, "connectivity").default, what="islands and holes")
    p.set_defaults(func=run)


def _help(params_cls, name: str) -> str:
    """The declared help alone (the default of an operation or option is "not given")."""
    from ..core.base.params import info

    return info(params_cls, name).help


def _as_label_array(img):
    import numpy as np

    from ..core.base.errors import InputError

    if img.multichannel:
        raise InputError("LABELS must be a single-channel label image")
    if img.ndim not in (2, 3):
        raise InputError(f"LABELS must be 2D or 3D, got {img.ndim} axes")
    arr = img.array
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or not np.array_equal(arr, np.round(arr)):
            raise InputError("LABELS holds non-integer values; it must be a label image")
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise InputError(f"LABELS must hold integer labels, got {arr.dtype}")
    if arr.size and int(arr.min()) < 0:
        raise InputError("LABELS holds negative values; labels are 0 (background) and 1..K")
    return as_labels(arr)  # the one rule (core.base.labels)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ..core.correct.pipeline import OPERATIONS, CorrectParams, check_params, correct_job
    from ._common import check_output, read_input, require_finite, run_job, write_output

    params = CorrectParams(**{name: getattr(args, name) for name in OPERATIONS},
                           axis=args.axis, per_slice=args.per_slice, radius=args.radius,
                           label=None if args.label is None else tuple(args.label),
                           lock=tuple(args.lock or ()), overwrite=args.overwrite,
                           connectivity=args.connectivity)
    check_params(params)  # before any reading: a bad combination fails fast
    if args.image is not None and not args.fill_between_slices:
        raise InputError("--image only applies with --fill-between-slices")
    check_output(args.output, args.force)
    lab_img = read_input(args.labels, "LABELS")
    arr = _as_label_array(lab_img)
    image = None
    if args.image:
        image = read_input(args.image, "IMAGE")
        if image.shape != lab_img.shape:
            raise InputError(f"IMAGE has shape {image.shape} but LABELS has "
                             f"{lab_img.shape}; it must lie on the labels' grid")
        if not image.same_grid(lab_img):
            raise InputError("IMAGE is not on LABELS' grid (its spacing, origin or "
                             "direction differ); resample it onto the labels first")
        require_finite(image, "IMAGE")
    out = run_job(correct_job(arr, params, spacing=tuple(lab_img.spacing), image=image), args)
    write_output(args.output, lab_img.like(as_labels(out), name="corrected"), args.force,
                 args.quiet)
    return 0
