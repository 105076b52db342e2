"""``segsuite watershed IMAGE -o OUT [--markers SEEDS | --auto-markers | --instances]``."""

from __future__ import annotations

import argparse

from ..core.base.defaults import AUTO_MARKERS, HELP, INSTANCES
from ..core.base.labels import label_dtype
from ._common import add_output_args, add_roi_arg, positive_int
from ._common import nonneg_float as _nonneg_float  # noqa: F401
from ._common import positive_float as _pos_float  # noqa: F401


def register(sub) -> None:
    p = sub.add_parser(
        "watershed", help="marker-controlled watershed (painted, automatic or h-minima markers; "
                          "--instances splits touching objects)",
        description="Marker-controlled watershed of the image's gradient magnitude (our priority "
                    "flood, scikit-image's rules). Markers: a label image (--markers SEEDS; OUT keeps its label values), "
                    "automatic intensity classes from local-entropy minima (--auto-markers, "
                    "--n-labels K), or by default the h-minima of the gradient (--h). "
                    "--instances instead splits the foreground (Otsu or --threshold) into one "
                    "label per object at the peaks of its distance transform, touching objects "
                    "separated (e.g. nuclei). Distances, sigma and gradients are in physical "
                    "units (the image's spacing). Multichannel images use all channels.",
        epilog="Example (nuclei): segsuite watershed nuclei.tif -o inst.tif --instances "
               "(defaults: docs/defaults.md); with uneven illumination add --background of "
               "about 3 nucleus radii, e.g. --background 30 for 10-pixel nuclei")
    p.add_argument("image", metavar="IMAGE", help="input image (2D or 3D, any channels)")
    add_output_args(p)
    add_roi_arg(p)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--markers", metavar="SEEDS",
                      help="label image of markers on IMAGE's grid (0 = none, 1..K = labels)")
    mode.add_argument("--auto-markers", action="store_true",
                      help="automatic markers, --n-labels classes: " + HELP["auto_markers"])
    mode.add_argument("--instances", action="store_true",
                      help="one label per foreground object; touching objects split at the "
                           "peaks of the distance transform")
    g = p.add_argument_group("gradient")
    g.add_argument("--gradient", choices=("sobel", "morphological"), default="sobel",
                   help="gradient operator (default sobel)")
    g.add_argument("--multiband", choices=("rss", "dizenzo"), default="rss",
                   help="how channels combine: root-sum-of-squares or Di Zenzo (default rss)")
    g.add_argument("--sigma", type=float, default=None, help=HELP["sigma"])
    w = p.add_argument_group("flood")
    w.add_argument("--compactness", type=float, default=0.0,
                   help="compact watershed: the flood priority adds COMPACTNESS x the distance "
                        "to the marker in physical units; 0 = classic (default)")
    w.add_argument("--mask", metavar="MASK", default=None,
                   help="flood only where MASK is non-zero (e.g. inside the brain); voxels "
                        "outside stay 0")
    w.add_argument("--watershed-line", action="store_true",
                   help="leave 1-voxel lines of 0 between regions")
    w.add_argument("--h", type=float, default=None,
                   help="h-minima markers (default mode): minimum depth of a basin in gradient "
                        "units (default: 5%% of the gradient's 99th percentile)")
    w.add_argument("--n-labels", type=positive_int, default=None, metavar="K",
                   help="number of intensity classes for --auto-markers (default 3)")
    w.add_argument("--merge", type=float, default=None, metavar="THRESHOLD",
                   help="merge adjacent regions whose mean intensities differ by less than "
                        "THRESHOLD (image units; several channels: normalised 0..1)")
    i = p.add_argument_group("--instances")
    i.add_argument("--threshold", type=float, default=None,
                   help="foreground threshold (default: Otsu)")
    i.add_argument("--threshold-method", choices=("local", "otsu", "li", "triangle"),
                   default=None, help=HELP["threshold_method"])
    i.add_argument("--background", type=float, default=None, metavar="SIGMA",
                   help=HELP["background"])
    i.add_argument("--dark-objects", action="store_true",
                   help="objects are darker than the background")
    i.add_argument("--min-distance", type=float, default=None, help=HELP["min_distance"])
    i.add_argument("--min-size", type=int, default=None, help=HELP["min_size"])
    p.set_defaults(func=run)


def _check_args(args) -> None:
    from ..core.base.errors import InputError

    for name in ("sigma", "compactness"):
        v = getattr(args, name)
        if v is not None and (not (v >= 0) or v == float("inf")):
            raise InputError(f"--{name} must be >= 0, got {v}")
    if args.h is not None and not (0 < args.h < float("inf")):
        raise InputError(f"--h must be > 0, got {args.h}")
    if args.merge is not None and not (0 <= args.merge < float("inf")):
        raise InputError(f"--merge must be >= 0, got {args.merge}")
    if args.min_distance is not None and not (0 < args.min_distance < float("inf")):
        raise InputError(f"--min-distance must be > 0, got {args.min_distance}")
    if args.background is not None and not (0 <= args.background < float("inf")):
        raise InputError(f"--background must be >= 0, got {args.background}")
    if args.threshold is not None and args.threshold_method is not None:
        raise InputError("give either --threshold or --threshold-method, not both")
    if args.min_size is not None and args.min_size < 0:
        raise InputError(f"--min-size must be >= 0, got {args.min_size}")
    if args.n_labels is not None and not args.auto_markers:
        raise InputError("--n-labels only applies with --auto-markers")
    if args.instances:
        for flag, val in (("--h", args.h), ("--merge", args.merge), ("--mask", args.mask)):
            if val is not None:
                raise InputError(f"{flag} does not apply with --instances")
    else:
        for flag, val in (("--threshold", args.threshold), ("--min-distance", args.min_distance),
                          ("--threshold-method", args.threshold_method),
                          ("--background", args.background),
                          ("--dark-objects", args.dark_objects or None),
                          ("--min-size", args.min_size)):
            if val is not None:
                raise InputError(f"{flag} only applies with --instances")
    if args.h is not None and (args.markers or args.auto_markers):
        raise InputError("--h picks h-minima markers; it does not apply with --markers or "
                         "--auto-markers")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core import watershed as W
    from ..core.base.errors import InputError
    from ..core.base.image import SegImage
    from ._common import (check_output, read_label_input, read_roi_input, require_finite,
                          run_job, write_output)

    _check_args(args)
    full, image, roi = read_roi_input(args.image, args.roi, "IMAGE")  # roi: only the box
    if image.ndim not in (2, 3):
        raise InputError(f"IMAGE: watershed needs a 2D or 3D image, got {image.ndim} axes")
    require_finite(image, "IMAGE")
    from ..core.base.memory import check_fits

    check_fits("instances" if args.instances else "watershed", image.shape, image.array.dtype,
               image.n_channels)  # before any work
    markers = None
    if args.markers:
        seeds = read_label_input(args.markers, args.roi, "SEEDS", image, full, roi)
        markers = W.check_markers(seeds.array, image.shape, "SEEDS")
    mask = None
    if args.mask:
        mask = read_label_input(args.mask, args.roi, "MASK", image, full, roi).array != 0
        if not mask.any():
            raise InputError("MASK is empty: nothing to flood")
    check_output(args.output, args.force)
    # a 2D image stored as a volume of one slice (common for NIfTI): segment the slice in 2D
    # and write the result on the volume's grid
    grid = image
    flat = [ax for ax, n in enumerate(image.shape) if n == 1]
    if image.ndim == 3 and len(flat) == 1:
        ax = flat[0]
        image = SegImage(np.take(image.array, 0, axis=ax), multichannel=image.multichannel,
                         spacing=[v for i, v in enumerate(image.spacing) if i != ax],
                         name=image.name)
        markers = None if markers is None else np.take(markers, 0, axis=ax)
        mask = None if mask is None else np.take(mask, 0, axis=ax)

    if args.instances:
        pick = {k: getattr(args, k) for k in INSTANCES if k != "background"}
        pick["background"] = args.background
        kw = {k: INSTANCES[k] if v is None else v for k, v in pick.items()}
        job = W.instances_steps(image, threshold=args.threshold, compactness=args.compactness,
                                watershed_line=args.watershed_line,
                                dark_objects=args.dark_objects, **kw)
    else:
        if args.auto_markers:
            if mask is None:  # a skull-stripped / masked image: its constant background
                mask = W.constant_background(image)
            markers = W.auto_markers(image, args.n_labels or AUTO_MARKERS["n_labels"],
                                     mask=mask)
        job = W.watershed_steps(image, markers, gradient=args.gradient, sigma=args.sigma or 0.0,
                                multiband=args.multiband, h=args.h,
                                compactness=args.compactness,
                                watershed_line=args.watershed_line, merge=args.merge,
                                mask=mask)
    labels = run_job(job, args)
    if markers is None and not args.instances and args.merge is not None:
        from skimage.segmentation import relabel_sequential

        labels = relabel_sequential(labels)[0]
    top = int(labels.max()) if labels.size else 0
    dtype = label_dtype(top)  # the one rule (core.base.labels)
    labels = labels.astype(dtype).reshape(grid.shape)
    from ..core.base.roi import paste

    out = paste(full, roi, labels, "watershed")
    write_output(args.output, out, args.force, args.quiet)
    return 0
