"""``segsuite watershed IMAGE -o OUT [--markers SEEDS | --auto-markers | --instances]``.

Parses, reads, builds :class:`~napari_segsuite.core.watershed.pipeline.WatershedParams`, runs
:func:`~napari_segsuite.core.watershed.pipeline.watershed_job` (the same job the widget runs)
and writes; every decision about the algorithm is the job's.
"""

from __future__ import annotations

import argparse

from ..core.watershed.pipeline import APPLIES, WatershedParams as P
from ._common import add_output_args, add_param, add_roi_arg, positive_int

#: the flag that picks each marker source (h-minima: none of them)
SOURCE_FLAGS = {"given": "--markers", "entropy": "--auto-markers", "instances": "--instances",
                "h-minima": "the default h-minima markers"}


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
                      help="automatic markers, --n-labels classes")
    mode.add_argument("--instances", action="store_true",
                      help="one label per foreground object; touching objects split at the "
                           "peaks of the distance transform")
    g = p.add_argument_group("gradient")
    for name in ("gradient", "multiband", "sigma"):
        add_param(g, P, name)
    w = p.add_argument_group("flood")
    add_param(w, P, "compactness")
    w.add_argument("--mask", metavar="MASK", default=None,
                   help="flood only where MASK is non-zero (e.g. inside the brain); voxels "
                        "outside stay 0")
    add_param(w, P, "watershed_line")
    add_param(w, P, "h")
    # flags that apply to some sources only: None = not given (the Params default applies)
    add_param(w, P, "n_labels", type=positive_int, default=None, metavar="K")
    add_param(w, P, "merge", metavar="THRESHOLD")
    i = p.add_argument_group("--instances")
    add_param(i, P, "threshold")
    add_param(i, P, "threshold_method", default=None)
    add_param(i, P, "background", default=None, metavar="SIGMA")
    add_param(i, P, "dark_objects")
    add_param(i, P, "min_distance")
    add_param(i, P, "min_size")
    p.set_defaults(func=run)


def _source(args) -> str:
    return ("given" if args.markers else "entropy" if args.auto_markers
            else "instances" if args.instances else "h-minima")


def _params(args) -> P:
    """The job's parameters from the flags; usage errors (a flag for another source) first."""
    from ..core.base.errors import InputError

    source = _source(args)
    for name, sources in APPLIES.items():
        if getattr(args, name) in (None, False) or source in sources:
            continue
        flag = "--" + name.replace("_", "-")
        if len(sources) == 1:
            raise InputError(f"{flag} only applies with {SOURCE_FLAGS[sources[0]]}")
        raise InputError(f"{flag} does not apply with {SOURCE_FLAGS[source]}")
    if args.threshold is not None and args.threshold_method is not None:
        raise InputError("give either --threshold or --threshold-method, not both")
    given = {f: getattr(args, f) for f in P.__dataclass_fields__ if f != "source"}
    return P(source=source, **{f: v for f, v in given.items() if v is not None})


def run(args: argparse.Namespace) -> int:
    from ..core.base.roi import paste
    from ..core.watershed import check_markers, check_mask
    from ..core.watershed.pipeline import watershed_job
    from ._common import (check_output, read_label_input, read_roi_input, require_finite,
                          run_job, write_output)

    params = _params(args)
    full, image, roi = read_roi_input(args.image, args.roi, "IMAGE")  # roi: only the box
    require_finite(image, "IMAGE")
    markers = mask = None
    if args.markers:
        seeds = read_label_input(args.markers, args.roi, "SEEDS", image, full, roi)
        markers = check_markers(seeds.array, image.shape, "SEEDS")
    if args.mask:
        m = read_label_input(args.mask, args.roi, "MASK", image, full, roi)
        mask = check_mask(m.array, image.shape, "MASK")
    check_output(args.output, args.force)
    result = run_job(watershed_job(image, params, markers=markers, mask=mask), args)
    out = paste(full, roi, result.labels.array, "watershed")
    write_output(args.output, out, args.force, args.quiet)
    return 0
