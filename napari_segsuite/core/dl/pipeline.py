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

from ..base.errors import InputError
from ..base.params import param

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class PredictParams:
    """Parameters of :func:`predict_job` (shared by ``segsuite predict`` and the widget)."""

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
    return (yield from predict_steps(image, ckpt, device=params.device, tile=params.tile,
                                     overlap=params.overlap, batch=params.batch,
                                     probabilities=params.probabilities,
                                     instances=params.instances))
