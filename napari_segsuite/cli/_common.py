"""Helpers every subcommand uses, so the contract's conventions hold everywhere.

- :func:`add_output_args`: ``-o/--output OUT``, ``--force``, ``--quiet``.
- :func:`add_device_arg`: ``--device auto|cpu|cuda``.
- :func:`add_connectivity_arg`: ``--connectivity face|edge|full`` (or 4/6/8/18/26).
- :func:`read_input`: read IMAGE/SEEDS/... with a one-line error naming the argument;
  :func:`require`: the arguments a listing flag (``--list``) leaves optional to argparse.
- :func:`require_finite`: NaN/infinite voxels in an image are an input error.
- :func:`check_output` before the work (so a bad OUT fails fast), :func:`write_output` after it
  (atomic: temporary file + rename; existing OUT only with ``--force``).
- :func:`run_job`: drive a core job generator with progress on stderr (silent with ``--quiet``).
- argparse converters (``finite_float``, ``nonneg_float``, ``positive_float``, ``fraction``,
  ``positive_int``, ``nonneg_int``, ``label_list``) and :func:`read_channels` (IMAGE as a
  comma-separated list of files), so that the commands check their values alike.
- :func:`add_param`: a flag whose default, help and choices come from a pipeline's parameter
  dataclass (``core.base.params``), so the CLI and the widgets show the same defaults and text.
- :func:`resolve_device` (``core.base.device``'s): ``auto`` -> ``cuda`` when torch sees a GPU,
  else ``cpu``; ``cuda`` without a GPU is an input error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..core.base.device import DEVICES, resolve_device  # noqa: F401  (re-exported)
from ..core.base.errors import InputError


def add_output_args(parser: argparse.ArgumentParser, required: bool = True,
                    help: str = "output file (.nii.gz, .nii, .nrrd, .mha, .mhd, .tif, .npy); "
                                "keeps the input's geometry") -> None:
    parser.add_argument("-o", "--output", required=required, metavar="OUT", help=help)
    parser.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    add_quiet_arg(parser)


def add_quiet_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto: CUDA when torch sees a GPU, else the CPU (default: auto)")


def connectivity_arg(text: str):
    """argparse type: a connectivity name (face, edge, full) or neighbour count (4, 6, 8, 18,
    26), as ``core.base.neighbours`` accepts them everywhere."""
    t = str(text).strip().lower()
    return int(t) if t.isdigit() else t


def add_connectivity_arg(parser: argparse.ArgumentParser, default,
                         what: str = "neighbourhood") -> None:
    """``--connectivity`` with the one convention of ``core.base.neighbours`` (its table in
    docs/development.md, "Conventions")."""
    from ..core.base.neighbours import CHOICES, HELP

    parser.add_argument("--connectivity", type=connectivity_arg, choices=CHOICES,
                        default=default, metavar="face|edge|full|4|6|8|18|26",
                        help=f"{what}: {HELP} (default: {default})")


def _integer(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    return _integer(text, 1)


# -- argparse converters (``type=``): one place for the checks every command's numbers need ----
def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
    return value


def finite_float(text: str) -> float:
    """argparse type: a finite number."""
    return _number(text)


def nonneg_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text}")
    return value


def fraction(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    value = _number(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value}")
    return value


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    return _integer(text, 0)


def int_list(text: str, minimum: int = 1) -> list:
    """Whole numbers >= ``minimum`` separated by commas (``1`` or ``1,3,4``); ValueError with
    the reason otherwise."""
    try:
        values = [int(v) for v in str(text).split(",") if v.strip() != ""]
    except ValueError:
        raise ValueError(f"expected labels like 1 or 1,3,4, got {text!r}") from None
    if not values or any(v < minimum for v in values):
        raise ValueError(f"expected labels >= {minimum} like 1 or 1,3,4, got {text!r}")
    return values


def label_list(text: str) -> list:
    """argparse type: labels >= 1 separated by commas (``1`` or ``1,3,4``)."""
    try:
        return int_list(text, 1)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def require(args: argparse.Namespace, **needs: str) -> None:
    """Arguments a listing flag (``--list``, ``--list-models``) makes optional for argparse:
    the first one missing is an InputError saying how to give it (``needs``: name -> how)."""
    for name, how in needs.items():
        if not getattr(args, name):
            raise InputError(f"give {how}")


def read_input(path: str, what: str = "IMAGE", lazy: bool = False):
    """Read an input file; errors name the argument (``IMAGE``, ``SEEDS``, ...). ``lazy``:
    zarr and TIFF as dask arrays (read block by block when used)."""
    from ..io import read_image

    try:
        img = read_image(path, lazy=lazy)
    except InputError as exc:
        raise InputError(f"{what}: {exc}") from None
    n = img.metadata.get("dicom_series_count", 1)
    if n > 1:
        print(f"warning: {what}: {path} holds {n} DICOM series; using the largest, "
              f"{img.metadata['dicom_series_uid']} ({img.metadata['dicom_series_files']} files)",
              file=sys.stderr)
    return img


def read_channels(text: str, what: str):
    """IMAGE as a comma-separated list of files on one grid (contrasts, bands): one SegImage,
    the files as its channels (float32); a single file as it is read."""
    import numpy as np

    from ..core.base.image import SegImage

    parts = [t for t in text.split(",") if t]
    imgs = [read_input(t, what) for t in parts]
    for im in imgs:
        require_finite(im, what)
    if len(imgs) == 1:
        return imgs[0]
    for t, im in zip(parts, imgs):
        if im.multichannel or im.shape != imgs[0].shape:
            raise InputError(f"{what}: {t} must be single-channel with shape {imgs[0].shape}")
        require_same_grid(im, t, imgs[0], f"{what}: {t}", parts[0])
    return SegImage(np.stack([im.array.astype(np.float32) for im in imgs], -1),
                    multichannel=True, name=imgs[0].name,
                    metadata={"channel_names": [im.name for im in imgs]}, **imgs[0].geometry())


def add_roi_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roi", metavar="Z0:Z1,Y0:Y1,X0:X1", default=None,
                        help="run on this box only (numpy order, half-open like slicing; an "
                             "empty bound is the edge); only the box is read from a zarr/TIFF "
                             "input, and OUT is the full image's grid with 0 outside the box")


def read_roi_input(path: str, roi_text, what: str = "IMAGE", ref=None, roi=None):
    """(full image, its box ``roi_text`` in memory, roi). Without ``roi_text``: (image, image,
    None). With ``ref`` (the full IMAGE) and its ``roi``: an input on IMAGE's grid (seeds,
    mask), its shape checked against IMAGE's before the same box is cut out of it."""
    from ..core.base.roi import crop, parse_roi

    if roi_text is None:
        img = read_input(path, what)
        return img, img, None
    full = read_input(path, what, lazy=True)
    if ref is None:
        roi = parse_roi(roi_text, full.shape)
    elif full.shape != ref.shape:
        raise InputError(f"{what} has shape {full.shape} but IMAGE has {ref.shape}; they must "
                         "be on the same grid")
    return full, crop(full, roi), roi


def read_label_input(path: str, roi_text, what: str, image, full=None, roi=None):
    """A label map on IMAGE's grid (seeds, markers, a mask), read as every command reads one:
    only IMAGE's ``--roi`` box (``full``: the whole IMAGE, ``roi``: its box), a single channel,
    IMAGE's shape and grid, finite values; one-line errors naming ``what``."""
    img = read_roi_input(path, roi_text, what, image if full is None else full, roi)[1]
    if img.multichannel or img.shape != image.shape:
        chans = " with channels" if img.multichannel else ""
        raise InputError(f"{what} has shape {img.shape}{chans} but IMAGE has {image.shape}; a "
                         "single-channel label image on IMAGE's grid is needed")
    require_same_grid(img, path, image, what)
    require_labels(img, what)
    return img


def require_finite(image, what: str = "IMAGE") -> None:
    """NaN or infinite voxels are bad input: the algorithms would silently return garbage."""
    import numpy as np

    arr = image.array
    if arr.dtype.kind == "f" and not all(np.isfinite(part).all() for part in arr):
        raise InputError(f"{what} holds NaN or infinite values; replace them first (e.g. with "
                         "0 or the background value)")


def require_same_grid(image, path: str, ref, what: str, ref_what: str = "IMAGE") -> None:
    """An input on another grid than the image (spacing, origin or direction) is refused, as in
    the widgets: used voxel by voxel it would be misaligned. Shapes are checked by the caller."""
    from ..io import grid_mismatch

    diff = grid_mismatch(image, ref, path)
    if diff:
        raise InputError(f"{what} is not on {ref_what}'s grid ({'; '.join(diff)}); resample it "
                         f"onto {ref_what} (or give it {ref_what}'s header) first")


def require_labels(image, what: str) -> None:
    """A label map (seeds, markers, mask, prediction, ground truth) with NaN or infinite values
    is bad input: NaN would silently count as background."""
    import numpy as np

    arr = image.array if hasattr(image, "array") else np.asarray(image)
    if arr.dtype.kind == "f" and not all(np.isfinite(part).all() for part in arr):
        raise InputError(f"{what} holds NaN or infinite values; a label map needs whole "
                         "numbers (0 = background), a probability map finite values")


def check_output(path: str, force: bool) -> Path:
    """Fail fast on a bad OUT before doing any work."""
    from ..io import check_writable

    return check_writable(path, force)


def write_output(path: str, image, force: bool, quiet: bool = False) -> Path:
    """Write the result atomically and say where (on stderr unless quiet)."""
    from ..io import lost_geometry, write_image

    out = write_image(path, image, force=force)
    if not quiet:
        print(f"wrote {out}", file=sys.stderr)
    lost = lost_geometry(out, image)
    if lost:  # said even with --quiet: data the user may count on is gone
        print(f"warning: {out.name} cannot store the image's {', '.join(lost)}; write .nii.gz, "
              ".nrrd or .mha to keep them", file=sys.stderr)
    return out


def run_job(job, args: Any):
    """Run a core job generator, progress on stderr unless ``args.quiet``."""
    from ..core.base.progress import report

    return report(job, quiet=bool(getattr(args, "quiet", False)))


def add_param(parser: argparse.ArgumentParser, params_cls, name: str, *,
              type: Any = None, **overrides: Any) -> argparse.Action:
    """Add the flag of one field of ``params_cls`` (declared with ``core.base.params.param``).

    Flag, default, help and choices come from the declaration; ``type`` (an argparse converter)
    defaults to the field's own type; ``overrides`` go to ``add_argument`` as they are. A bool
    field whose default is False becomes a ``store_true`` switch."""
    from ..core.base.params import info

    i = info(params_cls, name)
    kw: dict = dict(dest=name, default=i.default, help=i.help)
    base = i.base_type
    if base is bool and not i.default:
        kw["action"] = "store_true"
    else:
        if i.choices is not None:
            kw["choices"] = list(i.choices)
        conv = type or (base if base in (int, float, str) else None)
        if conv is not None:
            kw["type"] = conv
        if i.default is None:
            kw["help"] = f"{i.help} (default: {i.none_text})"
        else:
            kw["help"] = f"{i.help} (default: {i.default})"
    kw.update(overrides)
    return parser.add_argument(i.flag, **kw)
