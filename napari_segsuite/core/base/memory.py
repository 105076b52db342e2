"""How much memory a job needs, and a one-line refusal before one that would not fit.

:func:`estimate` gives the peak working set of a job in bytes from the input's shape, dtype and
channels (a model per job: bytes per voxel, measured with ``/usr/bin/time -v`` on the CLI, see
``benchmarks/RESULTS.md``, plus the process's fixed part). :func:`check_fits` compares it with the
memory the machine has available now and raises :class:`~.errors.InputError` when it would not
fit, so a job that would be killed by the system (or swap for an hour) is refused at once, in
one line that names the estimate. The CLI and the widgets call it before starting a job; jobs
without a model here are not checked (``estimate`` returns None).

The models are deliberately a little generous: a refusal should only come where the job would
really not fit. ``SEGSUITE_MEMORY_CHECK=0`` turns the check off (e.g. on a machine with swap the
user wants to use).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import numpy as np

from .errors import InputError

#: the Python process with numpy, scipy, numba and SimpleITK loaded, before any data
BASE = 300 * 2 ** 20

#: per job: (bytes per voxel, bytes per voxel per channel) of the working set beyond the
#: input itself. Measured peaks (CLI, /usr/bin/time -v, float32 input, one channel), see
#: RESULTS.md: GrowCut 22.3 B/voxel above the interpreter at 256^3 (632 MB in all; 27.6 and 719
#: MB before the second round of memory work, 39.6 and 915 MB before issue 14's), 18.2 at 512^3,
#: the input's 4 included. The GrowCut sweep holds the padded int64 keys (kept as the result's
#: state), an int32 heap position per voxel and the heap (12 B an entry; the front of point
#: seeds in noise is a large part), and reads a one-channel float32 input and uint8/uint16 seeds
#: without copies (other inputs: a float32 copy; several channels: padded float32 features, 4 B
#: a channel): modelled at 28 for one float32 channel. The watershed (issue 14's memory work,
#: third round): 16.2 B/voxel with h-minima markers, 16.8 with given uint8 markers at 256^3
#: (18.7 and 17.1 at 512^3), the input's 4 included (the flood's setup: the gradient, int32
#: padded labels and uint32 padded value codes; then an int32 bucket store whose pages follow
#: the front; with markers of equal value whose order could change a label, a binary heap of
#: 12-byte entries until they are flooded; the h-minima sweep: the int32 forest and a sixteenth
#: of the sorted order): modelled at 24 for one float32 channel.
MODELS = {
    "growcut": (20.0, 4.0),
    "watershed": (16.0, 4.0),
    "instances": (72.0, 8.0),
    # clustering in memory (tracemalloc / ru_maxrss, 128^3 float32, K=3): K-means 116 B/voxel,
    # K-medoids 140, SLIC 261 (96^3); spectral clusters SLIC superpixels
    "kmeans": (128.0, 16.0),
    "kmedoids": (160.0, 16.0),
    "slic": (280.0, 16.0),
    "spectral": (300.0, 16.0),
    # U-Net prediction in memory, per voxel beyond the tiles' activations (see
    # :func:`predict_need`): the normalised copy, the blended class scores, the weights, the
    # argmax; 142 B/voxel measured at 128^3 with the bundled 2D model, activations included
    "predict": (48.0, 8.0),
    # the corrections (128^3 uint8 labels, two labels; measured 4-35 B/voxel), per label in
    # turn: distance maps and masks of one label at a time
    "correct.fill_between_slices": (24.0, 0.0),
    "correct.fill_holes": (24.0, 0.0),
    "correct.remove_islands": (32.0, 0.0),
    "correct.keep_largest": (32.0, 0.0),
    "correct.split_islands": (48.0, 0.0),
    "correct.margin": (32.0, 0.0),
    "correct.hollow": (32.0, 0.0),
    "correct.smooth": (64.0, 0.0),
}

#: what to suggest when a job does not fit, per job (default: :data:`HINT`)
HINT = "crop a region of interest (--roi), downsample, or free memory"
HINTS = {
    "kmeans": "read the image lazily (clustered block by block: a zarr in napari, --lazy for "
              "a scene), crop or downsample",
    "kmedoids": "read the image lazily (clustered block by block: a zarr in napari, --lazy for "
                "a scene), crop or downsample",
    "slic": "crop a region of interest, downsample, or use kmeans on a zarr input (block by "
            "block)",
    "spectral": "crop a region of interest, downsample, or use kmeans on a zarr input (block "
                "by block)",
    "predict": "crop a region of interest, downsample, or predict a zarr input block by block "
               "(core.dl.infer.predict_dask)",
    "correct": "give a zarr input or a .zarr OUT (margin, smoothing and islands run block by "
               "block), crop or downsample",
}


def estimate(job: str, shape: Sequence[int], dtype=np.float32, channels: int = 1,
             extra: float = 0) -> Optional[int]:
    """Peak bytes a job needs for an input of ``shape`` (spatial), ``dtype`` and ``channels``
    (plus ``extra`` fixed bytes, e.g. a network's activations); None for a job without a model.

    Parameters
    ----------
    job : str
        A key of :data:`MODELS` (``"growcut"``, ``"watershed"``, ``"instances"``).
    shape : sequence of int
        The spatial shape.
    dtype : dtype
        The input's data type.
    channels : int
        The number of channels.
    extra : float
        Bytes beyond the per-voxel model.

    Returns
    -------
    int or None

    Examples
    --------
    >>> estimate("watershed", (100, 100))  # BASE + 10^4 * (16 + 4 + 4)
    314812800
    >>> estimate("correct.margin", (100, 100), np.uint8)  # BASE + 10^4 * (32 + 1)
    314902800
    >>> estimate("cluster", (100, 100)) is None
    True
    """
    model = MODELS.get(job)
    if model is None:
        return None
    n = float(np.prod([int(s) for s in shape], dtype=np.float64))
    per_voxel, per_channel = model
    item = np.dtype(dtype).itemsize
    channels = max(int(channels), 1)
    return int(BASE + float(extra) + n * (per_voxel + channels * (per_channel + item)))


def available() -> Optional[int]:
    """Bytes of memory available now (Linux ``MemAvailable``, else psutil, else None).

    Returns
    -------
    int or None

    Examples
    --------
    >>> n = available()
    >>> n is None or n > 0
    True
    """
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import psutil
    except ImportError:
        return None
    return int(psutil.virtual_memory().available)


def _gb(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GB"


def check_fits(job: str, shape: Sequence[int], dtype=np.float32, channels: int = 1,
               free: Optional[int] = None, extra: float = 0) -> Optional[int]:
    """Raise a one-line InputError when ``job`` on this input needs more memory than is
    available (``free`` bytes, default: what the machine has available now). Returns the
    estimate (None: no model, or the check is off). The line says how much is needed and what
    to do instead (:data:`HINTS`: an ROI, downsampling, a zarr input read block by block).

    Parameters
    ----------
    job, shape, dtype, channels, extra
        As :func:`estimate`.
    free : int, optional
        The bytes available (default: :func:`available`).

    Returns
    -------
    int or None

    Raises
    ------
    InputError
        The estimate exceeds ``free``.

    Examples
    --------
    >>> check_fits("watershed", (100, 100), free=2 ** 40)
    314812800
    >>> check_fits("watershed", (100, 100), free=2 ** 20)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: watershed on a 100x100 image needs about 0.3 GB ...
    >>> check_fits("kmeans", (100, 100), free=2 ** 20)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: kmeans on ... read the image lazily ...
    """
    if os.environ.get("SEGSUITE_MEMORY_CHECK", "1") in ("0", "no", "off"):
        return None
    need = estimate(job, shape, dtype, channels, extra)
    if need is None:
        return None
    free = available() if free is None else int(free)
    if free is not None and need > free:
        size = "x".join(str(int(s)) for s in shape)
        name = job.replace("correct.", "correct --").replace("_", "-")
        hint = HINTS.get(job.split(".")[0], HINT)
        raise InputError(f"{name} on a {size} image needs about {_gb(need)} of memory; "
                         f"{_gb(free)} is available; {hint} (SEGSUITE_MEMORY_CHECK=0 skips "
                         "this check)")
    return need


def check_gpu_fits(job: str, need: float, free: Optional[float],
                   hint: str = "choose a smaller --tile or --batch, or --device cpu") -> None:
    """Raise a one-line InputError when ``job`` needs ``need`` bytes of GPU memory and the GPU
    has ``free`` (None: not known, no check). ``SEGSUITE_MEMORY_CHECK=0`` turns it off.

    Parameters
    ----------
    job : str
        The job's name, for the message.
    need : float
        Bytes of GPU memory the job needs.
    free : float or None
        Bytes free on the GPU (torch's ``cuda.mem_get_info``).
    hint : str
        What to suggest.

    Raises
    ------
    InputError
        ``need`` exceeds ``free``.

    Examples
    --------
    >>> check_gpu_fits("predict", 2 ** 30, 2 ** 32)
    >>> check_gpu_fits("predict", 2 ** 33, 2 ** 32)
    Traceback (most recent call last):
    ...
    napari_segsuite.core.base.errors.InputError: predict needs about 8.0 GB of GPU memory; 4.0 GB is free; ...
    """
    if os.environ.get("SEGSUITE_MEMORY_CHECK", "1") in ("0", "no", "off") or free is None:
        return
    if need > free:
        raise InputError(f"{job} needs about {_gb(need)} of GPU memory; {_gb(free)} is free; "
                         f"{hint} (SEGSUITE_MEMORY_CHECK=0 skips this check)")


__all__ = ["estimate", "check_fits", "check_gpu_fits", "available", "MODELS", "BASE",
           "HINT", "HINTS"]
