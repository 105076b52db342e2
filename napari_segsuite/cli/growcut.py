"""``segsuite growcut IMAGE SEEDS -o OUT [--device auto|cpu|cuda] [--connectivity 6|26] ...``"""

from __future__ import annotations

import argparse
import sys

from ._common import (add_connectivity_arg, add_device_arg, add_output_args, add_param,
                      add_roi_arg, positive_int)


def register(sub) -> None:
    p = sub.add_parser(
        "growcut", help="grow labels from seed strokes (GrowCut, CPU or CUDA)",
        description="GrowCut: every seed label grows into the image until the labels meet where "
                    "the intensity changes most (the exact fixed point of the GrowCut automaton). "
                    "SEEDS is a label image of IMAGE's shape: 0 = no seed, 1..K = at least two "
                    "labels; OUT holds the seeds' label values and IMAGE's geometry. A "
                    "multichannel IMAGE (vector image) uses the distance over its channels.",
        epilog="On the CPU the exact priority-queue sweep runs (compiled with numba; the first "
               "run in a fresh environment compiles it, a few seconds); with CUDA the fused "
               "Triton engine runs on the GPU (the PyTorch automaton where triton is missing or "
               "its kernels fail to compile). All give the same labels.")
    p.add_argument("image", metavar="IMAGE",
                   help="image file or DICOM series folder (several contrasts/bands used "
                        "together: a comma-separated list of files on one grid)")
    p.add_argument("seeds", metavar="SEEDS", help="seed label image (0 = none), same grid")
    add_output_args(p)
    add_device_arg(p)
    add_roi_arg(p)
    from ..core.base.params import info
    from ..core.growcut.pipeline import GrowCutParams

    add_connectivity_arg(p, default=info(GrowCutParams, "connectivity").default)
    add_param(p, GrowCutParams, "max_iter", type=positive_int, metavar="N")
    p.add_argument("--mask", metavar="FILE", default=None,
                   help="optional region of interest (non-zero = grow here), same grid")
    add_param(p, GrowCutParams, "distance_penalty", metavar="X")
    auto = add_param(p, GrowCutParams, "auto_seeds", type=positive_int, metavar="K")
    auto.help = auto.help.replace(" (default:", "; pass '-' as SEEDS (default:")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ..core.base.roi import paste
    from ..core.growcut.pipeline import GrowCutParams, growcut_job
    from ._common import (check_output, read_label_input, read_roi_input, resolve_device,
                          run_job, write_output)

    check_output(args.output, args.force)
    device = resolve_device(args.device)
    if args.roi is None:
        from ._common import read_channels as _read_channels  # as train and predict do

        image = _read_channels(args.image, "IMAGE")
        grid, roi = image, None
    else:
        if "," in args.image:
            raise InputError("--roi takes one IMAGE file, not a comma-separated channel list")
        grid, image, roi = read_roi_input(args.image, args.roi, "IMAGE")  # roi: only the box
    params = GrowCutParams(connectivity=args.connectivity, distance_penalty=args.distance_penalty,
                           device=device, max_iter=args.max_iter, auto_seeds=args.auto_seeds)
    seeds = None
    if args.auto_seeds is None:
        if args.seeds == "-":
            raise InputError("SEEDS '-' is only allowed with --auto-seeds K")
        seeds = read_label_input(args.seeds, args.roi, "SEEDS", image, grid, roi).array
    mask = None
    if args.mask:
        mask = read_label_input(args.mask, args.roi, "--mask", image, grid, roi).array
    res = run_job(growcut_job(image, params, seeds=seeds, mask=mask, previews=False),
                  args)  # no one shows the previews
    if not res.converged and not args.quiet:
        print(f"warning: stopped after --max-iter {args.max_iter} iterations before "
              "convergence", file=sys.stderr)
    write_output(args.output, paste(grid, roi, res.labels, "growcut"), args.force, args.quiet)
    if not args.quiet:
        print(f"growcut: {res.engine} on {res.device}"
              + (f", {res.iterations} {'rounds' if res.engine == 'triton' else 'iterations'}"
                 if res.engine in ("automaton", "triton") else ""),
              file=sys.stderr)
    return 0

