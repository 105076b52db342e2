"""``segsuite train --images IMG --labels LAB -o MODEL [--dim 2|3] [--arch unet|segnet|fcn] ...``"""

from __future__ import annotations

import argparse
import sys

from ._common import add_device_arg, add_quiet_arg, positive_int
from ._common import fraction as _fraction, positive_float as _positive_float
from ._common import read_channels as _read_channels


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
    p.add_argument("--dim", type=int, choices=(2, 3), default=2,
                   help="2: train on 2D images/slices (default), 3: on volumes")
    p.add_argument("--arch", choices=("unet", "segnet", "fcn"), default="unet",
                   help="network (default unet)")
    p.add_argument("--epochs", type=positive_int, default=30, help="epochs (default 30)")
    add_device_arg(p)
    p.add_argument("--patch", type=positive_int, help="patch size (default 128 in 2D, 48 in 3D)")
    p.add_argument("--batch", type=positive_int, help="batch size (default 8 in 2D, 2 in 3D)")
    p.add_argument("--lr", type=_positive_float, default=2e-3, help="learning rate (2e-3)")
    p.add_argument("--loss", choices=("auto", "ce", "bce", "dice", "ce+dice", "bce+dice"),
                   default="auto", help="loss (auto: cross-entropy/BCE + soft Dice)")
    p.add_argument("--val-fraction", type=_fraction, default=0.2,
                   help="share of images/slices kept for validation (default 0.2)")
    p.add_argument("--patience", type=positive_int, default=15,
                   help="stop after this many epochs without improvement (default 15)")
    p.add_argument("--width", type=positive_int, help="channels of the first level (16)")
    p.add_argument("--depth", type=positive_int, help="number of poolings (unet 3, others 4)")
    p.add_argument("--upsample", choices=("transpose", "interp", "unpool", "bilinear",
                                           "bed_of_nails"),
                   help="decoder upsampling: unet transpose (default) | interp; segnet unpool "
                        "(max-location switches, default) | bilinear | bed_of_nails")
    p.add_argument("--valid", action="store_true",
                   help="unet: unpadded ('valid') convolutions with cropped skips, as in the "
                        "paper (default: padded)")
    p.add_argument("--steps", type=positive_int, help="batches per epoch (default: about one "
                                                      "pass over the data, 4..50)")
    p.add_argument("--keep-empty-slices", action="store_true",
                   help="with --dim 2, also train on slices whose labels are all 0")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..core.base.errors import InputError
    from ._common import (read_input, require_labels, require_same_grid, resolve_device,
                          run_job)

    if len(args.images) != len(args.labels):
        raise InputError(f"{len(args.images)} --images but {len(args.labels)} --labels; give "
                         "them in pairs, in the same order")
    from ..core.dl.checkpoint import check_model_path

    out = check_model_path(args.output, args.force)
    device = resolve_device(args.device)
    images = [_read_channels(t, f"--images {t}") for t in args.images]
    labels = [read_input(t, f"--labels {t}") for t in args.labels]
    for t, lab, im, ti in zip(args.labels, labels, images, args.images):
        require_labels(lab, f"--labels {t}")
        if lab.shape == im.shape:  # a shape mismatch is said by the training's own check
            require_same_grid(lab, t, im, f"--labels {t}", f"--images {ti}")

    from ..core.dl.checkpoint import save_checkpoint
    from ..core.dl.train import TrainConfig, train_steps

    settings = {}
    if args.upsample:
        ok = {"unet": ("transpose", "interp"), "segnet": ("unpool", "bilinear", "bed_of_nails"),
              "fcn": ()}[args.arch]
        if args.upsample not in ok:
            raise InputError(f"--upsample {args.upsample} does not apply to --arch {args.arch}"
                             + (f"; choose {' or '.join(ok)}" if ok else ""))
        settings["upsample"] = args.upsample
    if args.valid:
        if args.arch != "unet":
            raise InputError("--valid applies to --arch unet only")
        settings["padding"] = "valid"
    names = {}
    for lab in labels:
        names.update(lab.metadata.get("label_names") or {})
    cfg = TrainConfig(arch=args.arch, dim=args.dim, epochs=args.epochs, patch=args.patch,
                      batch=args.batch, lr=args.lr, loss=args.loss,
                      val_fraction=args.val_fraction, patience=args.patience,
                      width=args.width, depth=args.depth, steps_per_epoch=args.steps,
                      skip_empty_slices=not args.keep_empty_slices, device=device,
                      seed=args.seed, model_settings=settings)
    ckpt = run_job(train_steps(images, labels, cfg, label_names=names), args)
    save_checkpoint(ckpt, out, force=args.force)
    if not args.quiet:
        m = ckpt.metrics
        print(f"best epoch {m.get('epoch')} of {m.get('epochs_run')}: validation Dice "
              f"{m.get('val_dice', float('nan')):.3f}, loss {m.get('val_loss', float('nan')):.4f}"
              f" ({device})", file=sys.stderr)
        print(f"wrote {out}", file=sys.stderr)
    return 0
