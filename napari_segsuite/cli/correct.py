"""``segsuite correct LABELS -o OUT OPERATION [--label N[,N..]] [--lock N[,N..]] [--overwrite]``."""

from __future__ import annotations

import argparse

from ..core.base.labels import as_labels
from ._common import add_connectivity_arg, add_output_args
from ._common import finite_float as _number, label_list as _label_list, nonneg_int as _count

#: (flag, dest) of the operations, exactly one of which is given
OPERATIONS = ("fill_between_slices", "fill_holes", "remove_islands", "keep_largest",
              "split_islands", "margin", "hollow", "smooth")


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
    op = p.add_argument_group("OPERATION (exactly one)").add_mutually_exclusive_group(
        required=True)
    op.add_argument("--fill-between-slices", action="store_true",
                    help="fill the slices between annotated slices along --axis (shape "
                         "interpolation; with --image: grown along the image); annotated "
                         "slices never change")
    op.add_argument("--fill-holes", action="store_true",
                    help="fill each label's enclosed holes (in 3D, or per slice with "
                         "--per-slice)")
    op.add_argument("--remove-islands", type=_count, metavar="MIN_VOXELS", default=None,
                    help="islands (connected pieces of a label) smaller than MIN_VOXELS "
                         "become 0")
    op.add_argument("--keep-largest", action="store_true",
                    help="keep only each label's largest island")
    op.add_argument("--split-islands", action="store_true",
                    help="one label per island: the largest keeps the label, the others get "
                         "new labels above the largest present")
    op.add_argument("--margin", type=_number, metavar="MM", default=None,
                    help="grow each label by MM (every background voxel within MM, centre to "
                         "centre); a negative MM shrinks it")
    op.add_argument("--hollow", type=_number, metavar="MM", default=None,
                    help="keep a shell of thickness MM (> 0) inside each label's surface")
    op.add_argument("--smooth", choices=("median", "opening", "closing", "joint"),
                    default=None, help="smooth with a kernel of --radius MM (joint: all labels "
                                       "together, no gaps or overlaps)")
    o = p.add_argument_group("operation options")
    o.add_argument("--axis", type=int, default=None, metavar="A",
                   help="--fill-between-slices: the slice axis, 0, 1 or 2 in numpy order "
                        "(default 0: z of a volume)")
    o.add_argument("--image", metavar="IMAGE", default=None,
                   help="--fill-between-slices: grow the labels along this image (on LABELS' "
                        "grid) with GrowCut instead of interpolating their shape")
    o.add_argument("--per-slice", type=int, default=None, metavar="A",
                   help="--fill-holes: fill in 2D, slice by slice along axis A")
    o.add_argument("--radius", type=_number, default=None, metavar="MM",
                   help="--smooth: the kernel's radius in physical units")
    c = p.add_argument_group("which labels, protection")
    c.add_argument("--label", type=_label_list, default=None, metavar="N[,N..]",
                   help="act only on these labels (default: every label, each on its own)")
    c.add_argument("--lock", type=_label_list, default=None, metavar="N[,N..]",
                   help="labels that must not change at all")
    c.add_argument("--overwrite", action="store_true",
                   help="let the operation write into other (unlocked) labels' voxels, not "
                        "only into the background")
    add_connectivity_arg(c, default="face", what="islands and holes")
    p.set_defaults(func=run)


def _check_args(args) -> None:
    from ..core.base.errors import InputError

    fill = args.fill_between_slices
    for flag, value, needs, ok in (("--axis", args.axis, "--fill-between-slices", fill),
                                   ("--image", args.image, "--fill-between-slices", fill),
                                   ("--per-slice", args.per_slice, "--fill-holes",
                                    args.fill_holes),
                                   ("--radius", args.radius, "--smooth",
                                    args.smooth is not None)):
        if value is not None and not ok:
            raise InputError(f"{flag} only applies with {needs}")
    if args.smooth is not None and args.radius is None:
        raise InputError("--smooth needs --radius MM")
    if args.hollow is not None and args.hollow <= 0:
        raise InputError(f"--hollow must be > 0, got {args.hollow:g}")
    if args.radius is not None and args.radius <= 0:
        raise InputError(f"--radius must be > 0, got {args.radius:g}")


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
    from ..core import correct as C
    from ..core.base.errors import InputError
    from ._common import check_output, read_input, require_finite, run_job, write_output

    _check_args(args)
    check_output(args.output, args.force)
    lab_img = read_input(args.labels, "LABELS")
    arr = _as_label_array(lab_img)
    spacing = tuple(lab_img.spacing)
    protect = C.Protection(locked=frozenset(args.lock or ()), overwrite=args.overwrite)
    if args.lock and args.label and set(args.lock) & set(args.label):
        raise InputError(f"label {sorted(set(args.lock) & set(args.label))[0]} is both acted "
                         "on (--label) and locked (--lock)")
    kw = dict(labels=args.label, protect=protect)
    if args.fill_between_slices:
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
        axis = 0 if args.axis is None else args.axis
        out = run_job(C.fill_between_slices_steps(arr, axis=axis, image=image, spacing=spacing,
                                                  **kw), args)
    elif args.fill_holes:
        out = C.fill_holes(arr, per_slice_axis=args.per_slice, connectivity=args.connectivity,
                           **kw)
    elif args.remove_islands is not None:
        out = C.remove_islands(arr, args.remove_islands, connectivity=args.connectivity, **kw)
    elif args.keep_largest:
        out = C.keep_largest(arr, connectivity=args.connectivity, **kw)
    elif args.split_islands:
        out = C.split_islands(arr, connectivity=args.connectivity, **kw)
    elif args.margin is not None:
        out = C.margin(arr, args.margin, spacing=spacing, **kw)
    elif args.hollow is not None:
        out = C.hollow(arr, args.hollow, spacing=spacing, **kw)
    else:
        out = C.smooth(arr, args.smooth, args.radius, spacing=spacing, **kw)
    write_output(args.output, lab_img.like(as_labels(out), name="corrected"), args.force,
                 args.quiet)
    return 0
