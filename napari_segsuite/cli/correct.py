"""``segsuite correct LABELS -o OUT OPERATION [--label N[,N..]] [--lock N[,N..]] [--overwrite]``.

A zarr LABELS (read lazily), a TIFF larger than the memory available, or an OUT ending in
``.zarr`` runs margin, smoothing and the island operations block by block
(:mod:`..core.correct._dask`): the result equals the in-memory one, and a ``.zarr`` OUT is
written block by block (OME-Zarr, atomically). The other operations read LABELS into memory.
"""

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
               "--margin 2 --label 3 --lock 1;  segsuite correct big.zarr -o out.zarr "
               "--remove-islands 100 (a zarr LABELS or a .zarr OUT: margin, smoothing and "
               "islands run block by block in bounded memory)")
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
    op = check_params(params)  # before any reading: a bad combination fails fast
    if args.image is not None and not args.fill_between_slices:
        raise InputError("--image only applies with --fill-between-slices")
    zarr_out = _is_zarr_name(args.output)
    if zarr_out:
        _check_zarr_output(args.output, args.force)
    else:
        check_output(args.output, args.force)
    lab_img = read_input(args.labels, "LABELS", lazy=_read_lazily(args.labels))
    if hasattr(lab_img.array, "dask") or zarr_out:
        from ..core.base.memory import check_fits
        from ..core.correct._dask import BLOCKWISE

        blockwise = op in BLOCKWISE and (zarr_out or _is_zarr_name(args.labels) or
                                         _does_not_fit(op, lab_img))
        if blockwise:
            return _run_blockwise(args, params, lab_img, zarr_out)
        check_fits(f"correct.{op}", lab_img.shape, lab_img.array.dtype)  # before reading it all
        import numpy as np

        lab_img = lab_img.like(np.asarray(lab_img.array), name=lab_img.name)
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
    result = lab_img.like(as_labels(out), name="corrected")
    if zarr_out:
        _write_zarr_labels(args, result)
    else:
        write_output(args.output, result, args.force, args.quiet)
    return 0


# -- block by block ------------------------------------------------------------------------------
def _is_zarr_name(path) -> bool:
    return str(path).rstrip("/\\").lower().endswith(".zarr")


def _read_lazily(path) -> bool:
    """Zarr always; a TIFF when the file is larger than a quarter of the memory available (its
    in-memory correction would not fit); everything else is read into memory."""
    import os

    from ..core.base.memory import available
    from ..io.lazy import is_zarr

    if is_zarr(path):
        return True
    if str(path).lower().endswith((".tif", ".tiff")) and os.path.isfile(path):
        free = available()
        return free is not None and os.path.getsize(path) * 4 > free
    return False


def _does_not_fit(op: str, image) -> bool:
    from ..core.base.errors import InputError
    from ..core.base.memory import check_fits

    try:
        check_fits(f"correct.{op}", image.shape, image.array.dtype)
    except InputError:
        return True
    return False


def _check_zarr_output(path, force: bool) -> None:
    """A ``.zarr`` OUT, checked before any work as :func:`._common.check_output` checks a file."""
    import os
    from pathlib import Path

    from ..core.base.errors import InputError

    p = Path(path)
    if not p.parent.exists():
        raise InputError(f"{p.parent}: output folder does not exist")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise InputError(f"{p.parent}: output folder is not writable")
    if p.exists() and not force:
        raise InputError(f"{p}: already exists; use --force to overwrite it")
    if p.exists() and not p.is_dir():
        raise InputError(f"{p}: is a file, not a zarr folder")


def _lazy_labels(img):
    """LABELS as a dask array in the one label dtype, with the checks :func:`_as_label_array`
    makes (one pass over the blocks: minimum, maximum, whole numbers)."""
    import dask
    import dask.array as da
    import numpy as np

    from ..core.base.errors import InputError
    from ..core.base.labels import label_dtype

    if img.multichannel:
        raise InputError("LABELS must be a single-channel label image")
    if img.ndim not in (2, 3):
        raise InputError(f"LABELS must be 2D or 3D, got {img.ndim} axes")
    arr = img.array if hasattr(img.array, "dask") else da.from_array(img.array, chunks="auto")
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8)
    if arr.dtype.kind not in "iuf":
        raise InputError(f"LABELS must hold integer labels, got {arr.dtype}")
    whole = (da.isfinite(arr) & (arr == da.round(arr))).all() if arr.dtype.kind == "f" else True
    low, top, whole = dask.compute(arr.min(), arr.max(), whole)
    if not whole:
        raise InputError("LABELS holds non-integer values; it must be a label image")
    if arr.size and low < 0:
        raise InputError("LABELS holds negative values; labels are 0 (background) and 1..K")
    return arr.astype(label_dtype(int(top) if arr.size else 0))


def _run_blockwise(args, params, lab_img, zarr_out: bool) -> int:
    """The operation block by block: into a ``.zarr`` OUT block by block, or computed row of
    blocks by row of blocks into memory for a file OUT."""
    import numpy as np

    from ..core.correct._dask import correct_dask, store_steps
    from ._common import run_job, write_output

    lab = _lazy_labels(lab_img)
    out = correct_dask(lab, params, spacing=tuple(lab_img.spacing))
    if zarr_out:
        _write_zarr_labels(args, lab_img.like(out, name="corrected"))
        return 0
    target = np.empty(out.shape, out.dtype)
    run_job(store_steps(out, target), args)
    write_output(args.output, lab_img.like(as_labels(target), name="corrected"), args.force,
                 args.quiet)
    return 0


def _write_zarr_labels(args, result) -> None:
    """``result`` (lazy or not) into the ``.zarr`` OUT in the one label dtype, atomically: staged
    block by block into a hidden folder, its largest label read back, then renamed into place
    (or copied in a smaller dtype when the largest label allows one)."""
    import os
    import shutil
    import sys
    from pathlib import Path

    import dask.array as da

    from ..core.base.labels import label_dtype
    from ..io.lazy import write_zarr

    p = Path(args.output)
    stage = p.parent / f".{p.name}.stage-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    try:
        if not args.quiet:
            print("correct: computing block by block", file=sys.stderr)
        write_zarr(stage, result, force=True)
        staged = da.from_zarr(str(stage / "0"))
        top = int(staged.max().compute()) if staged.size else 0
        dtype = label_dtype(top)
        if dtype == staged.dtype:
            _check_zarr_output(p, args.force)  # it may have appeared during the work
            if p.exists():
                shutil.rmtree(p)
            os.replace(stage, p)
        else:
            write_zarr(p, result.like(staged.astype(dtype), name=result.name), force=args.force)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    if not args.quiet:
        print(f"wrote {p}", file=sys.stderr)
