"""``segsuite predict IMAGE --model MODEL -o OUT [--device auto|cpu|cuda] [--instances]``"""

from __future__ import annotations

import argparse
import sys

from ..core.dl.pipeline import PredictParams
from ._common import add_output_args, add_param, positive_int
from ._common import fraction as _overlap



def register(sub) -> None:
    p = sub.add_parser(
        "predict", help="segment an image with a trained model (tiled inference)",
        description="Segment IMAGE with a model from 'segsuite train' (or a TorchScript file, "
                    "or a bundled model name, see --list-models). Writes the label map (the "
                    "training label values) with IMAGE's geometry. A 2D model on a volume runs "
                    "slice by slice along the first array axis.",
        epilog="Example: segsuite predict t1.nii.gz,flair.nii.gz --model tumour.pt -o seg.nii.gz")
    p.add_argument("image", metavar="IMAGE", nargs="?",
                   help="image file (several contrasts/bands: a comma-separated list of files, "
                        "in the training order)")
    p.add_argument("--model", metavar="MODEL", help="model file (.pt) or bundled model name")
    add_output_args(p, required=False)
    add_param(p, PredictParams, "device")
    add_param(p, PredictParams, "instances")
    p.add_argument("--probabilities", metavar="FILE",
                   help="also write the class probabilities (one channel per label value) "
                        "to FILE")
    add_param(p, PredictParams, "tile", type=positive_int)
    add_param(p, PredictParams, "overlap", type=_overlap)
    add_param(p, PredictParams, "batch", type=positive_int)
    p.add_argument("--list-models", action="store_true", help="list the bundled models and exit")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ._common import check_output, require, resolve_device, run_job, write_output
    from ._common import read_channels as _read_channels

    if args.list_models:
        from ..core.dl.checkpoint import bundled_models, load_model

        for name, path in bundled_models().items():
            print(f"{name}  {load_model(path).describe()}")
        return 0
    require(args, image="an IMAGE to segment", model="the model with --model MODEL",
            output="the output file with -o OUT")
    out = check_output(args.output, args.force)
    prob_out = check_output(args.probabilities, args.force) if args.probabilities else None
    if prob_out is not None and prob_out.resolve() == out.resolve():
        raise InputError("--probabilities and -o must be different files")
    device = resolve_device(args.device)

    from ..core.dl.pipeline import find_model, predict_job

    params = PredictParams(device=device, instances=args.instances,
                           probabilities=prob_out is not None, tile=args.tile,
                           overlap=args.overlap, batch=args.batch)
    try:
        ckpt = find_model(args.model)
    except InputError as exc:
        raise InputError(f"--model: {exc}") from None
    image = _read_channels(args.image, "IMAGE")
    pred = run_job(predict_job(image, params, model=ckpt), args)
    write_output(str(out), pred.labels, args.force, args.quiet)
    if prob_out is not None:
        write_output(str(prob_out), pred.probabilities, args.force, args.quiet)
    if not args.quiet and args.instances:
        print(f"{int(pred.labels.array.max())} objects", file=sys.stderr)
    return 0
