"""``segsuite train --images IMG --labels LAB -o MODEL [--dim 2|3] [--arch unet|segnet|fcn] ...``"""

from __future__ import annotations

import argparse
import sys

from ..core.dl.pipeline import TrainParams
from ._common import add_param, add_quiet_arg, positive_int
from ._common import fraction as _fraction, positive_float as _positive_float
from ._common import read_channels as _read_channels



#: argparse converters of the flags whose values have limits
_TYPES = {"epochs": positive_int, "patch": positive_int, "batch": positive_int,
          "lr": _positive_float, "val_fraction": _fraction, "patience": positive_int,
          "width": positive_int, "depth": positive_int, "steps": positive_int}


def register(sub) -> None:
    p = sub.add_parser(
        "train", help="train a U-Net / SegNet / FCN from images and labels",
        description="Train a segmentation network from image + label pairs and save it as one "
                    "model file. Labels: 0 = background/unlabelled, 1..K = classes. With --dim 2 "
                    "a 3D file is a stack of 2D images along its first array axis, and slices "
                    "whose labels are all 0 are skipped as unlabelled (paint a few slices; "
                    "--keep-empty-slices when your labels are a full ground truth).",
        epilog="Example: segsuite train --images t1.nii.gz,flair.nii.gz --labels seg.nii.gz "
               "-o tumour.pt --epochs 30")
    p.add_argument("--images", action="append", required=True, metavar="IMG",
                   help="training image (repeat for several pairs; several contrasts/bands of "
                        "one image as a comma-separated list of files)")
    p.add_argument("--labels", action="append", required=True, metavar="LAB",
                   help="labels for the --images of the same position (repeat)")
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write (.pt)")
    p.add_argument("--force", action="store_true", help="overwrite MODEL if it exists")
    add_quiet_arg(p)
    for name in ("dim", "arch", "epochs", "device", "patch", "batch", "lr", "loss",
                 "val_fraction", "patience", "width", "depth", "upsample", "valid", "steps",
                 "keep_empty_slices", "seed"):
        add_param(p, TrainParams, name, type=_TYPES.get(name))
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.params import defaults
    from ._common import (read_input, require_labels, require_same_grid, resolve_device,
                          run_job)

    from ..core.dl.checkpoint import check_model_path

    out = check_model_path(args.output, args.force)
    device = resolve_device(args.device)
    values = {name: getattr(args, name) for name in defaults(TrainParams)}
    params = TrainParams(**{**values, "device": device})
    images = [_read_channels(t, f"--images {t}") for t in args.images]
    labels = [read_input(t, f"--labels {t}") for t in args.labels]
    for t, lab, im, ti in zip(args.labels, labels, images, args.images):
        require_labels(lab, f"--labels {t}")
        if lab.shape == im.shape:  # a shape mismatch is said by the training's own check
            require_same_grid(lab, t, im, f"--labels {t}", f"--images {ti}")

    from ..core.dl.checkpoint import save_checkpoint
    from ..core.dl.pipeline import train_job

    ckpt = run_job(train_job(images, labels, params), args)
    save_checkpoint(ckpt, out, force=args.force)
    if not args.quiet:
        m = ckpt.metrics
        print(f"best epoch {m.get('epoch')} of {m.get('epochs_run')}: validation Dice "
              f"{m.get('val_dice', float('nan')):.3f}, loss {m.get('val_loss', float('nan')):.4f}"
              f" ({device})", file=sys.stderr)
        print(f"wrote {out}", file=sys.stderr)
    return 0
