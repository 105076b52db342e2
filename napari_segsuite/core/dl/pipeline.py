"""The deep-learning jobs, assembled once for the CLI (``segsuite predict``) and the widgets
("U-Net predict").

:class:`PredictParams` declares the parameters (default, help, limits); :func:`predict_job`
makes the decisions: which model a name means (a file, else a bundled model), what a
non-finite image means, the tiling, the label values. Importing this module does not import
torch (``segsuite --help`` stays fast); running a job does.

Examples
--------
>>> PredictParams().device, PredictParams(tile=64).tile
('auto', 64)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from ..base.errors import InputError
from ..base.params import ParamError, param

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class PredictParams:
    """Parameters of :func:`predict_job` (shared by ``segsuite predict`` and the widget).

    Each field is one CLI flag / widget control (see the ``param`` declarations below).

    Examples
    --------
    >>> p = PredictParams(tile=64, instances=True)
    >>> p.device, p.tile, p.overlap, p.instances
    ('auto', 64, 0.5, True)
    """

    device: str = param("auto", "auto: CUDA when torch sees a GPU, else the CPU",
                        choices=DEVICES)
    instances: bool = param(False, "split the foreground into one label per object (e.g. "
                                   "nuclei)", label="One label per object")
    probabilities: bool = param(False, "also give the class probabilities (one channel per "
                                       "label value)", label="Class probabilities")
    tile: Optional[int] = param(None, "tile size in voxels", minimum=1, maximum=2048,
                                none_text="auto: fits the memory")
    overlap: float = param(0.5, "tile overlap", minimum=0.0, maximum=0.95, step=0.05,
                           advanced=True)
    batch: Optional[int] = param(None, "tiles per batch", minimum=1, maximum=1024,
                                 advanced=True, none_text="auto")


def find_model(name):
    """The model a name means: a :class:`~.checkpoint.Checkpoint` as it is; a file path
    (.pt: from ``segsuite train``, or TorchScript); else the name of a bundled model
    (``segsuite predict --list-models``). InputError when it is none of these.

    Parameters
    ----------
    name : Checkpoint or str or pathlib.Path
        A model, a model file or a bundled model's name.

    Returns
    -------
    Checkpoint
        The model.

    Examples
    --------
    >>> find_model("no such model.pt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: ...
    """
    from pathlib import Path

    from .checkpoint import Checkpoint, bundled_models, load_model

    if isinstance(name, Checkpoint):
        return name
    text = str(name).strip()
    if not text:
        raise InputError("choose a model file (or a pretrained model)")
    path = Path(text)
    if not path.exists():
        bundled = bundled_models()
        if text in bundled:
            path = bundled[text]
    return load_model(path)


def predict_job(image, params: PredictParams = PredictParams(), *, model):
    """Segment ``image`` with a trained model (job generator).

    Parameters
    ----------
    image : SegImage
        2D or 3D; several channels (channels last) in the training order. A 2D model on a
        volume runs slice by slice along the first array axis.
    params : PredictParams
        Device, instances, probabilities, tile, overlap, batch.
    model : Checkpoint or str
        A checkpoint, a model file or a bundled model's name (:func:`find_model`).

    Returns
    -------
    Prediction
        ``labels`` (the training label values, or instance ids 1..N as uint32 with
        ``instances``) and, with ``probabilities``, the class probabilities (float32,
        channels last), both on the image's grid.

    Raises
    ------
    InputError
        An unknown model, NaN / infinite image values, the wrong number of channels.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> from napari_segsuite.core.base.progress import run
    >>> img = SegImage(np.ones((8, 8), np.float32)); img.array[0, 0] = np.nan
    >>> run(predict_job(img, model="nuclei_2d"))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: IMAGE holds NaN or infinite values; ...
    """
    import numpy as np

    from .infer import predict_steps

    arr = image.array
    if arr.dtype.kind == "f" and not all(np.isfinite(part).all() for part in arr):
        raise InputError("IMAGE holds NaN or infinite values; replace them first (e.g. with "
                         "0 or the background value)")
    ckpt = find_model(model)
    check_memory(image, ckpt, params)  # before any work: one line when it would not fit
    return (yield from predict_steps(image, ckpt, device=params.device, tile=params.tile,
                                     overlap=params.overlap, batch=params.batch,
                                     probabilities=params.probabilities,
                                     instances=params.instances))


#: torch and its CPU kernels, loaded on top of :data:`~..base.memory.BASE`
TORCH = 300 * 2 ** 20


def check_memory(image, ckpt, params: PredictParams = PredictParams()) -> dict:
    """Estimate the peak memory of :func:`predict_job` from the shapes, on the CPU and (where
    it runs on one) on the GPU, and refuse with one line when it would not fit.

    The CPU holds the image, its normalised copy, the blended class scores (and the
    probabilities when asked for), the argmax and, on the CPU, the tiles' activations
    (``batch`` tiles of ``12 * width`` floats per voxel, the model :mod:`.infer` sizes its
    tiles with); the GPU holds the weights and the activations.

    Parameters
    ----------
    image : SegImage
        The image to predict.
    ckpt : Checkpoint
        The model.
    params : PredictParams
        Device, tile, batch, probabilities.

    Returns
    -------
    dict
        ``{"cpu": bytes or None, "gpu": bytes or None, "device": str}`` (None: not checked).

    Raises
    ------
    InputError
        The job would not fit (the line says how much it needs, and suggests a zarr input
        predicted block by block, a region of interest or downsampling).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_segsuite.core.base.image import SegImage
    >>> need = check_memory(SegImage(np.zeros((64, 64), np.float32)), find_model("nuclei_2d"),
    ...                     PredictParams(device="cpu"))
    >>> need["device"], need["cpu"] > 0, need["gpu"]
    ('cpu', True, None)
    """
    import torch

    from ..base.device import resolve_device
    from ..base.memory import check_fits, check_gpu_fits
    from .infer import _memory_plan, _tile_shape

    dev = resolve_device(params.device)
    shape = tuple(int(v) for v in image.shape)
    vshape = shape[1:] if ckpt.dim == 2 and len(shape) == 3 else shape
    tshape = _tile_shape(ckpt, vshape, dev, params.tile)
    per_voxel, budget = _memory_plan(ckpt, dev)
    tile_voxels = float(np.prod(tshape))
    batch = params.batch or int(max(1, min(32, budget // (tile_voxels * per_voxel))))
    activations = batch * tile_voxels * per_voxel
    if ckpt.scripted is not None:
        weights = 4.0 * sum(int(p.numel()) for p in ckpt.scripted.parameters())
    else:
        weights = 4.0 * sum(int(np.prod(getattr(v, "shape", ()))) for v in
                            (ckpt.state_dict or {}).values())
    k = max(2, int(ckpt.n_out or 0), len(ckpt.label_values or ()))
    n = float(np.prod(shape))
    per_class = (8.0 + (8.0 if params.probabilities else 0.0)) * k  # scores (+ probabilities)
    gpu = dev.startswith("cuda")
    cpu = check_fits("predict", shape, image.array.dtype, image.n_channels,
                     extra=TORCH + weights + n * per_class + (0 if gpu else activations))
    need_gpu = None
    if gpu:
        need_gpu = weights + activations
        free = torch.cuda.mem_get_info(torch.device(dev))[0]
        check_gpu_fits("predict", need_gpu, free)
    return {"cpu": cpu, "gpu": need_gpu, "device": dev}


ARCHS = ("unet", "segnet", "fcn")
LOSSES = ("auto", "ce", "bce", "dice", "ce+dice", "bce+dice")
#: the decoder upsamplings each architecture takes (its default first)
UPSAMPLE = {"unet": ("transpose", "interp"), "segnet": ("unpool", "bilinear", "bed_of_nails"),
            "fcn": ()}


@dataclass(frozen=True)
class TrainParams:
    """Parameters of :func:`train_job` (shared by ``segsuite train`` and the widget).

    Each field is one CLI flag / widget control (see the ``param`` declarations below);
    :func:`train_config` turns them into a :class:`~.train.TrainConfig`.

    Examples
    --------
    >>> p = TrainParams(epochs=5, width=8)
    >>> p.arch, p.dim, p.epochs
    ('unet', 2, 5)
    >>> train_config(p).width
    8
    """

    arch: str = param("unet", "network", label="Architecture", choices=ARCHS)
    dim: int = param(2, "2: train on 2D images / slices of a volume (slices with no label "
                        "painted are skipped); 3: on whole volumes", label="Dimension",
                     choices=(2, 3))
    epochs: int = param(30, "epochs (default 30: a 2D U-Net on 70 slices of 200x230 trains in about "
                                 "5 min on 2 CPU cores; --patience stops earlier)", minimum=1, maximum=10000)
    width: int = param(16, "channels of the first level (doubled per level)", minimum=1,
                       maximum=128)
    patch: Optional[int] = param(None, "patch size", minimum=1, maximum=1024,
                                 none_text="auto: 128 in 2D, 48 in 3D")
    steps: Optional[int] = param(None, "batches per epoch", label="Batches/epoch", minimum=1,
                                 maximum=10000,
                                 none_text="auto: about one pass over the data, 4..50")
    device: str = param("auto", "auto: CUDA when torch sees a GPU, else the CPU",
                        choices=DEVICES)
    batch: Optional[int] = param(None, "batch size", minimum=1, maximum=1024, advanced=True,
                                 none_text="auto: 8 in 2D, 2 in 3D")
    lr: float = param(2e-3, "learning rate", label="Learning rate", minimum=1e-6,
                      maximum=1.0, step=1e-4, advanced=True)
    loss: str = param("auto", "loss (auto: cross-entropy/BCE + soft Dice)", choices=LOSSES,
                      advanced=True)
    val_fraction: float = param(0.2, "share of images/slices kept for validation",
                                label="Validation share", minimum=0.0, maximum=0.95,
                                step=0.05, advanced=True)
    patience: int = param(15, "stop after this many epochs without improvement", minimum=1,
                          maximum=10000, advanced=True)
    depth: Optional[int] = param(None, "number of poolings", minimum=1, maximum=8,
                                 advanced=True, none_text="auto: unet 3, others 4")
    upsample: Optional[str] = param(
        None, "decoder upsampling: unet transpose (default) | interp; segnet unpool "
        "(max-location switches, default) | bilinear | bed_of_nails",
        choices=tuple(sorted({u for v in UPSAMPLE.values() for u in v})), advanced=True,
        none_text="the architecture's")
    valid: bool = param(False, "unet: unpadded ('valid') convolutions with cropped skips, as "
                               "in the paper (default: padded)", label="Valid convolutions",
                        advanced=True)
    keep_empty_slices: bool = param(False, "with --dim 2, also train on slices whose labels "
                                           "are all 0", advanced=True)
    seed: int = param(0, "random seed", label="Random seed", minimum=0, maximum=2**31 - 1,
                      advanced=True)


def train_config(params: TrainParams):
    """The :class:`~.train.TrainConfig` of ``params``, after checking the combinations
    (``upsample`` and ``valid`` must suit ``arch``). Imports no torch.

    Parameters
    ----------
    params : TrainParams
        The training parameters.

    Returns
    -------
    TrainConfig
        The configuration :func:`~.train.train_steps` takes.

    Examples
    --------
    >>> train_config(TrainParams(arch="segnet", upsample="bilinear")).model_settings
    {'upsample': 'bilinear'}
    >>> train_config(TrainParams(arch="fcn", valid=True))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ParamError: --valid applies to --arch unet only
    """
    from .train import TrainConfig

    settings = {}
    if params.upsample:
        ok = UPSAMPLE[params.arch]
        if params.upsample not in ok:
            raise ParamError(TrainParams, "{upsample} {u} does not apply to {arch} {a}{choose}",
                             u=params.upsample, a=params.arch,
                             choose=f"; choose {' or '.join(ok)}" if ok else "")
        settings["upsample"] = params.upsample
    if params.valid:
        if params.arch != "unet":
            raise ParamError(TrainParams, "{valid} applies to {arch} unet only")
        settings["padding"] = "valid"
    return TrainConfig(arch=params.arch, dim=params.dim, epochs=params.epochs,
                       patch=params.patch, batch=params.batch, lr=params.lr, loss=params.loss,
                       val_fraction=params.val_fraction, patience=params.patience,
                       width=params.width, depth=params.depth, steps_per_epoch=params.steps,
                       skip_empty_slices=not params.keep_empty_slices, device=params.device,
                       seed=params.seed, model_settings=settings)


def train_job(images, labels, params: TrainParams = TrainParams(), *, state=None):
    """Train a segmentation network from image + label pairs (job generator).

    Parameters
    ----------
    images : list of SegImage
        Training images (several channels last, in the order prediction will use).
    labels : list of SegImage
        Their labels on the same grids: 0 = background / unlabelled, 1..K = classes; the
        label names in their metadata (``label_names``) go into the model.
    params : TrainParams
        Architecture, dimension, epochs and the rest (:func:`train_config`).
    state : TrainState, optional
        Filled in while training runs (the best model so far), so a caller that cancels keeps
        it.

    Returns
    -------
    Checkpoint
        The best model (by validation loss), to save with ``checkpoint.save_checkpoint``.

    Raises
    ------
    InputError
        Images and labels not in pairs, a combination of parameters that does not apply, or
        what the training's own checks find (shapes, no labelled voxel).

    Examples
    --------
    >>> from napari_segsuite.core.base.progress import run
    >>> run(train_job([], [object()]))  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    InputError: 0 --images but 1 --labels; give them in pairs, in the same order
    """
    images, labels = list(images), list(labels)
    if len(images) != len(labels):
        raise InputError(f"{len(images)} --images but {len(labels)} --labels; give them in "
                         "pairs, in the same order")
    cfg = train_config(params)
    from .train import train_steps

    names = {}
    for lab in labels:
        names.update(getattr(lab, "metadata", {}).get("label_names") or {})
    return (yield from train_steps(images, labels, cfg, state=state, label_names=names))
